"""Who may call what, for every operation of the locker domain, derived from the OpenAPI document.

The operations come from the app's own OpenAPI document (every path and method of the back office,
the locker gateway, the smart locks, the bridge's ``/api/locker/…`` routes, the logins and
``/health``); each must have a row in :data:`TABLE`, the declared decision of which callers may
call it: admin, operator, viewer, integrator and kiosk tokens, a device key (KIOSK-P's), and no
token at all. A route added without a row fails here, as does a row whose route is gone.

For each (operation, caller) one request: a refused caller gets 401 ``Unauthorized`` (no token) or
403 ``Forbidden``; an allowed one anything but 401/403 (a 404 or 409 from the handler is fine);
nobody ever a 5xx. The requests are built so that even an allowed call changes nothing another
check depends on: ids that exist where a read is cheap, and for changes a body that the handler
refuses (a name that is taken, a locker that is rented, an unknown id) or that changes nothing.
Lockers the checks open sit on a bank whose port the bridge does not have (``PERM-R`` on COM9), so
no door moves. Kiosk tokens come from the real kiosk login; every kiosk-allowed locker route also
gets a check that a locker of another device does not exist for the kiosk (:data:`SCOPES`).

Decisions follow README.md's API map and the routes' dependencies; where they disagree the code's
(deliberate, documented in the route modules) decision is the table's, see the notes at
:data:`TABLE`. One stack per test module and xdist worker (module-scoped event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.api.conformance import Conformance
from tests.conftest import fresh_database
from tests.locker_bridge.conftest import bridge_yaml, bridged
from tests.locker_sites.permission_rules import (
    CALLERS,
    KIOSK_UNSCOPED,
    LOCKER_PREFIXES,
    MODULE_LOOP,
    OTHER_PREFIXES,
    SCOPES,
    SPEC,
    SPEC_OPERATIONS,
    TABLE,
    Call,
    World,
    _under,
    locker_operations,
    operations,
)
from tests.locker_sites.permission_world import build_world


# -- the module's site ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path | str) -> Iterator[str]:
    """As tests/conftest.py's ``db_url``, once for the module."""
    yield from fresh_database(tmp_path_factory.mktemp("permissions"), migrated_template)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_site(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """tests/locker_sites/conftest.py's ``site`` (LOCKER-A, 4 bays on an emulated board), once."""
    tmp = tmp_path_factory.mktemp("permissions-site")
    async with Emulator.on_pty(boards=1, bays=4, link=tmp / "ttyCOM2", door_close_after=None), \
            bridged(module_db_url, bridge_yaml(tmp)) as stack:
        yield stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(module_site: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=module_site.http_url, timeout=20) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(http: httpx.AsyncClient) -> World:
    return await build_world(http)


CONFORMANCE = Conformance(SPEC)


async def send(client: httpx.AsyncClient, method: str, call: Call, headers: dict[str, str]) -> httpx.Response:
    """The call; its answer must be one the OpenAPI document describes (status and body)."""
    client.cookies.clear()  # only the headers given may authenticate
    kwargs: dict[str, Any] = {"params": call.params, "headers": headers}
    if call.json is not None:
        kwargs["json"] = call.json
    r = await client.request(method, call.path, **kwargs)
    problems = CONFORMANCE.check(method, r.request.url.path, r.status_code, r.headers.get("content-type"),
                                 r.content)
    assert not problems, problems
    return r


def _code(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _seen(method: str, call: Call, r: httpx.Response) -> str:
    return f"{method} {call.path} params={call.params} -> {r.status_code} {r.text[:300]}"


# -- the checks ------------------------------------------------------------------------------------
def test_every_operation_is_classified() -> None:
    """A new area of the API must be placed: locker domain (this table) or the charging side."""
    unplaced = sorted((m, p) for m, p in operations(SPEC)
                      if not _under(p, LOCKER_PREFIXES) and not _under(p, OTHER_PREFIXES))
    assert not unplaced, ("operations in no known area (add the prefix to LOCKER_PREFIXES or "
                          f"OTHER_PREFIXES): {unplaced}")


@MODULE_LOOP
async def test_the_table_and_the_served_document_name_the_same_operations(
        http: httpx.AsyncClient) -> None:
    served = locker_operations((await http.get("/openapi.json")).json())
    assert served == SPEC_OPERATIONS, "the collected and the served documents differ"
    undecided = sorted(served - TABLE.keys())
    stale = sorted(TABLE.keys() - served)
    assert not undecided, f"locker-domain operations without a permission decision in TABLE: {undecided}"
    assert not stale, f"TABLE names operations the OpenAPI document lacks: {stale}"


def test_every_kiosk_locker_route_has_a_scope_check() -> None:
    kiosk_ops = {op for op, rule in TABLE.items() if "kiosk" in rule.allowed}
    unchecked = sorted(kiosk_ops - SCOPES.keys() - KIOSK_UNSCOPED)
    assert not unchecked, f"kiosk-allowed operations without a foreign-locker check in SCOPES: {unchecked}"
    assert not SCOPES.keys() - kiosk_ops, "SCOPES names operations a kiosk may not call"


@MODULE_LOOP
@pytest.mark.parametrize(("method", "path", "caller"), [
    pytest.param(method, path, caller, id=f"{method} {path} as {caller}")
    for method, path in sorted(SPEC_OPERATIONS | TABLE.keys(), key=lambda op: (op[1], op[0]))
    for caller in CALLERS])
async def test_permission(http: httpx.AsyncClient, world: World, method: str, path: str, caller: str) -> None:
    rule = TABLE.get((method, path))
    if rule is None:
        pytest.fail(f"{method} {path} is in the OpenAPI document but has no permission decision in TABLE")
    if (method, path) not in SPEC_OPERATIONS:
        pytest.fail(f"TABLE names {method} {path}, which the OpenAPI document lacks")
    call = rule.call(world)
    r = await send(http, method, call, world.headers[caller])
    assert r.status_code < 500, f"{caller}: server error: {_seen(method, call, r)}"
    if caller in rule.allowed:
        assert r.status_code not in (401, 403), f"{caller} should be allowed: {_seen(method, call, r)}"
    elif caller == "no-token":
        assert (r.status_code, _code(r)) == (401, "Unauthorized"), \
            f"no token should be 401 Unauthorized: {_seen(method, call, r)}"
    else:
        assert (r.status_code, _code(r)) == (403, "Forbidden"), \
            f"{caller} should be 403 Forbidden: {_seen(method, call, r)}"


@MODULE_LOOP
@pytest.mark.parametrize(("method", "path"), [
    pytest.param(method, path, id=f"{method} {path}") for method, path in SCOPES])
async def test_a_kiosk_reaches_only_its_own_lockers(http: httpx.AsyncClient, world: World,
                                                    method: str, path: str) -> None:
    scope = SCOPES[(method, path)]
    kiosk = world.headers["kiosk"]
    own_call, foreign_call = TABLE[(method, path)].call(world), scope.foreign(world)
    own = await send(http, method, own_call, kiosk)
    foreign = await send(http, method, foreign_call, kiosk)
    assert own.status_code < 500 and foreign.status_code < 500, (_seen(method, own_call, own),
                                                                 _seen(method, foreign_call, foreign))
    if scope.shown is None:
        assert own.status_code not in (401, 403, 404), f"its own: {_seen(method, own_call, own)}"
        assert foreign.status_code in (403, 404), f"another device's: {_seen(method, foreign_call, foreign)}"
        code = _code(foreign)
        assert code == "Forbidden" or (code or "").endswith("NotFound"), _seen(method, foreign_call, foreign)
        return
    assert scope.own is not None and scope.other is not None
    assert own.status_code in (200, 207), _seen(method, own_call, own)
    assert scope.own(world) in scope.shown(own.json()), f"its own is missing: {_seen(method, own_call, own)}"
    assert foreign.status_code in (200, 207), _seen(method, foreign_call, foreign)
    assert scope.other(world) not in scope.shown(foreign.json()), \
        f"another device's is listed: {_seen(method, foreign_call, foreign)}"
