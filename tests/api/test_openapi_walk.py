"""The OpenAPI document tells the truth (issue #20): a walk over every documented operation that
provokes each status it documents and checks every answer against the document — the status is
one the operation lists, the body validates against the schema declared for it
(tests/api/conformance.py).

The walk runs against the whole app with a locker site behind it (the embedded bridge, an
emulated board on a pty) and builds its requests from the document (tests/api/openapi_walk.py):
no credential (401); each role's token (403); ids that name nothing, in the path or in the body
(404); input the schema refuses (422, or the vendor's 400); the documented examples with ids that
exist (2xx); the locker domain's calls of the permission table, as admin (their 2xx and 409s);
every command to charge points of both versions that answer, answer a CALLERROR, answer nothing
or are offline (200, 202, 502, 504, 409); the logins' refusals; and, from another address past
its limit of token guesses, an unknown token (429). A documented status nothing provokes fails
the test unless :data:`ELSEWHERE` names the test that provokes it and why the walk cannot.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from csms.services.tokens import create_token
from locker_bridge.emulator import Emulator
from tests.api.conformance import Conformance, Operation
from tests.api.openapi_walk import Request, invalid, unreferenced, valid
from tests.api.walk_elsewhere import ELSEWHERE
from tests.api.walk_recipes import (
    alert_conflicts,
    board_faults,
    csms_gone,
    database_gone,
    integration,
    open_alert,
    raw_frames,
    unconfigured,
)
from tests.api.walk_station import walk_station
from tests.conftest import ADMIN_TOKEN
from tests.csms.test_certificates import ca_init
from tests.locker_bridge.conftest import bridge_yaml, bridged, emu
from tests.locker_sites.gateway_helpers import add_device
from tests.locker_sites.permission_rules import TABLE
from tests.locker_sites.permission_world import build_world

__all__ = ["emu"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GUESS_LIMIT = 3
MAX_BODY = 16_384  # the walk's bodies are small: one past this is refused before any route
BUDGET = 240.0
STREAMS = ("/api/v1/events",)  # read up to their first event, then let go: they do not end


@pytest.fixture
async def site(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    """The bridged site, with a certificate authority (certificates can be renewed)."""
    assert ca_init(tmp_path).returncode == 0
    async with bridged(db_url, bridge_yaml(tmp_path), data_dir=tmp_path, token_failures_per_ip=GUESS_LIMIT,
                       max_body_bytes=MAX_BODY) as s:
        yield s


class Walk:
    def __init__(self, site: Stack, http: httpx.AsyncClient, document: dict[str, Any]) -> None:
        self.site, self.http, self.document = site, http, document
        self.conformance = Conformance(document)
        self.known: dict[str, str] = {}

    async def send(self, request: Request, headers: dict[str, str] | None,
                   client: httpx.AsyncClient | None = None) -> httpx.Response:
        client = client or self.http
        client.cookies.clear()
        async with client.stream(request.method, request.url, params=request.params or None,
                                 headers=headers or {}, json=request.json if request.has_body else None) as r:
            if request.url.startswith(STREAMS) and r.status_code == 200:
                body = await anext(r.aiter_bytes())  # the stream's opening comment
            else:
                body = await r.aread()
        self.conformance.check(request.method, r.request.url.path, r.status_code,
                               r.headers.get("content-type"), body)
        return r

    def operations(self) -> list[Operation]:
        order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 2, "DELETE": 3}
        return sorted(self.conformance.operations(), key=lambda op: (order[op.method], op.path))

    def valid(self, op: Operation) -> Request:
        return valid(self.document, op, self.known)


async def role_headers(site: Stack) -> dict[str, dict[str, str]]:
    device = await add_device(site, "KIOSK-WALK")
    made = {}
    for role in ("viewer", "integrator", "operator", "kiosk"):
        _, token = await create_token(site.central.engine, f"walk-{role}", role,
                                      device_id=device if role == "kiosk" else None)
        made[role] = {"Authorization": f"Bearer {token}"}
    return made


async def generic(walk: Walk) -> None:
    """401, 403, 404 and 422 of every operation, from its document alone."""
    roles = await role_headers(walk.site)
    doc = walk.document
    for op in walk.operations():
        await walk.send(valid(doc, op, {}), None)
        probe = invalid(doc, op, {}) or valid(doc, op, {})
        for headers in roles.values():
            await walk.send(probe, headers)
        request = valid(doc, op, {})
        await walk.send(request, ADMIN)
        if request.has_body and op.method == "POST":
            request.json = unreferenced(request.json)
            await walk.send(request, ADMIN)
        bad = invalid(doc, op, {})
        if bad is not None:
            await walk.send(bad, ADMIN)
        request.json, request.has_body = "x" * MAX_BODY, True  # any request may carry one
        await walk.send(request, ADMIN)


async def locker_domain(walk: Walk) -> None:
    """The permission table's call of each locker-domain operation, as admin."""
    world = await build_world(walk.http)
    for (method, _path), rule in sorted(TABLE.items(), key=lambda item: item[0][0] == "DELETE"):
        call = rule.call(world)
        await walk.send(Request(method, call.path, dict(call.params or {}), call.json, call.json is not None),
                        ADMIN)


def commands(walk: Walk) -> list[Operation]:
    return [op for op in walk.operations() if "charge_point_id" in op.path and "502" in op.spec["responses"]]


def command_examples(walk: Walk, op: Operation) -> list[tuple[str, Any]]:
    """(version, body) per documented example; one without a version is 1.6's."""
    media = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
    named = media.get("examples") or {}
    if named:
        return [("2.0.1" if "2.0.1" in name else "1.6", example["value"]) for name, example in named.items()]
    if op.path.endswith("/security-profile"):
        return [("1.6", {"profile": 1})]  # the example's 3 needs TLS; 1 needs the password they have
    return [("1.6", walk.valid(op).json)]


def station_id(version: str, mode: str) -> str:
    return f"WALK-{version.replace('.', '')}-{mode}"  # one per mode: an answered command may change it


PASSWORD = "walk-password-0123456789"
_reservation_ids = itertools.count(100)


def fresh(body: Any) -> Any:
    """A ReserveNow's reservation id is new each time (a second one would be in use)."""
    if isinstance(body, dict):
        for key in ("reservationId", "id"):
            if key in body and ("idTag" in body or "idToken" in body):
                return {**body, key: next(_reservation_ids)}
    return body


async def command_answers(walk: Walk) -> None:
    """Each command to a charge point that answers, errs, stays silent or is gone. They have
    passwords, as a raise of their security profile needs."""
    modes = (("answer", 5.0), ("error", 5.0), ("silent", 1.0))
    for version in ("1.6", "2.0.1"):
        for mode, _ in modes:
            r = await walk.http.post("/api/v1/charge-points", json={"id": station_id(version, mode),
                                                                   "password": PASSWORD}, headers=ADMIN)
            assert r.status_code == 201, r.text
    for mode, wait in modes:
        async with (walk_station(walk.site.ws_url, station_id("1.6", mode), "1.6", mode, PASSWORD),
                    walk_station(walk.site.ws_url, station_id("2.0.1", mode), "2.0.1", mode, PASSWORD)):
            sends = []
            for op in commands(walk):
                for version, body in command_examples(walk, op):
                    request = valid(walk.document, op, {**walk.known, "charge_point_id": station_id(version, mode)})
                    request.json, request.params["wait"] = fresh(body), wait
                    sends.append(walk.send(request, ADMIN))
                    if mode == "answer":
                        sends.append(walk.send(Request(request.method, request.url, {**request.params, "wait": 0},
                                                       fresh(request.json), request.has_body), ADMIN))
            await asyncio.gather(*sends)  # the silent ones time out together
    for op in commands(walk):  # all gone now
        for version, body in command_examples(walk, op):
            request = valid(walk.document, op, {**walk.known, "charge_point_id": station_id(version, "error")})
            request.json = fresh(body)
            await walk.send(request, ADMIN)


async def created(walk: Walk, path: str, key: str, **fields: Any) -> str:
    """Make one of what ``path`` holds from its documented example (ids in it made known)."""
    op = walk.conformance.operation("POST", path)
    assert op is not None, path
    request = walk.valid(op)
    request.json = {**known_in(request.json, walk.known), **fields}
    r = await walk.send(request, ADMIN)
    assert r.status_code == 201, (path, r.text)
    found: Any = r.json()
    for part in key.split("."):
        found = found[part]
    return str(found)


def known_in(body: Any, known: dict[str, str]) -> Any:
    """``body`` with each field named as a known id set to it."""
    if isinstance(body, dict):
        return {k: known[k] if k in known and not isinstance(v, (dict, list)) else known_in(v, known)
                for k, v in body.items()}
    return [known_in(v, known) for v in body] if isinstance(body, list) else body


async def with_known_ids(walk: Walk) -> None:
    """Every operation of our own API on things that exist: reads, changes, then deletions."""
    walk.known["charge_point_id"] = station_id("1.6", "answer")
    walk.known["id_tag"] = await created(walk, "/api/v1/id-tags", "id_tag", id_tag="WALK-TAG")
    async with walk_station(walk.site.ws_url, "WALK-TX", "1.6", "answer") as station:
        walk.known["charge_point_id"] = "WALK-TX"
        started = await station.call("StartTransaction", {
            "connectorId": 1, "idTag": "WALK-TAG", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"})
        walk.known["transaction_id"] = str(started["transactionId"])
        walk.known["token_id"] = await created(walk, "/api/v1/tokens", "id", name="walk-made")
        walk.known["group_id"] = await created(walk, "/api/v1/load-groups", "id", name="WALK-GROUP", members=[])
        walk.known["member_id"] = await created(walk, "/api/v1/load-groups/{group_id}/members".replace(
            "{group_id}", walk.known["group_id"]), "id")
        walk.known["webhook_id"] = await created(walk, "/api/v1/webhooks", "id")
        walk.known["alert_id"] = await open_alert(walk, ADMIN)
        walk.known["rule_id"] = await created(walk, "/api/v1/alert-rules", "id")
        walk.known["command_id"] = (await walk.http.get("/api/v1/commands", headers=ADMIN)).json()["items"][0]["id"]
        walk.known["action"] = "ClearCache"
        walk.known["ocpp_version"] = "2.0.1"
        fleet = walk.conformance.operation("POST", "/api/v1/commands/fleet/ClearCache")
        assert fleet is not None
        request = walk.valid(fleet)
        request.params["wait"] = 0
        await walk.send(request, ADMIN)
        sent = commands(walk)
        ours = [op for op in walk.operations() if op.path.startswith("/api/v1/") and op not in sent
                and all(name in walk.known for name in path_names(op.path))]
        for op in ours:
            request = walk.valid(op)
            if request.has_body:
                request.json = known_in(request.json, walk.known)
            await walk.send(request, ADMIN)
        await walk.send(Request("POST", f"/api/v1/transactions/{walk.known['transaction_id']}/close"),
                        ADMIN)  # again: not active
        await alert_conflicts(walk, ADMIN)
    for _ in range(101):  # to the most a central system keeps
        made = walk.valid(walk.conformance.operation("POST", "/api/v1/webhooks"))  # type: ignore[arg-type]
        if (await walk.send(made, ADMIN)).status_code == 409:
            break
    bulk = walk.conformance.operation("POST", "/ocpp/chargers/bulk/start-charger")
    assert bulk is not None
    await walk.send(valid(walk.document, bulk, {"operation": "start-charger"}), ADMIN)


async def reservations(walk: Walk) -> None:
    """A reservation made, read and cancelled at a charge point that answers, errs, stays
    silent or is gone; cancelled twice."""
    made: dict[str, str] = {}
    for mode, wait in (("answer", 5.0), ("error", 5.0), ("silent", 1.0)):
        cp_id = f"WALK-RES-{mode}"
        async with walk_station(walk.site.ws_url, cp_id, "1.6", "answer") as station:
            made[mode] = await created(walk, "/api/v1/reservations", "reservation.id", charge_point_id=cp_id,
                                       id_tag=walk.known["id_tag"], expiry_date="2099-01-01T00:00:00Z")
            if mode == "answer":  # not waited for: 202
                await walk.send(Request("POST", "/api/v1/reservations", {"wait": 0}, {
                    "charge_point_id": cp_id, "connector_id": 2, "id_tag": walk.known["id_tag"],
                    "expiry_date": "2099-01-01T00:00:00Z"}, True), ADMIN)
            station.mode = mode
            await walk.send(Request("GET", f"/api/v1/reservations/{made[mode]}"), ADMIN)
            await walk.send(Request("POST", f"/api/v1/reservations/{made[mode]}/cancel", {"wait": wait}), ADMIN)
    await walk.send(Request("POST", f"/api/v1/reservations/{made['answer']}/cancel"), ADMIN)  # not active
    await walk.send(Request("POST", f"/api/v1/reservations/{made['error']}/cancel"), ADMIN)  # offline


def path_names(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


async def logins(walk: Walk) -> None:
    """The logins' refusals: a wrong password, then too many of them."""
    for path in ("/api/auth/admin-login", "/api/auth/kiosk-login"):
        op = walk.conformance.operation("POST", path)
        assert op is not None
        request = walk.valid(op)
        request.json = {**request.json, **{k: "walk-wrong" for k in request.json if "pass" in k.lower()}}
        for _ in range(12):
            if (await walk.send(request, None)).status_code == 429:
                break


async def guesses(walk: Walk, guesser: httpx.AsyncClient) -> None:
    """Past its limit of token guesses an address gets 429 for any token it does not hold."""
    for _ in range(GUESS_LIMIT + 1):
        await guesser.get("/api/v1/charge-points", headers={"Authorization": "Bearer cb_walk-guess"})
    for op in walk.operations():
        await walk.send(walk.valid(op), {"Authorization": "Bearer cb_walk-guess"}, guesser)


async def test_every_documented_status_is_provoked_and_conforms(site: Stack, emu: Emulator, db_url: str) -> None:
    async with (httpx.AsyncClient(base_url=site.http_url, timeout=20) as http,
                httpx.AsyncClient(base_url=site.http_url, timeout=20,
                                  transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")) as guesser,
                asyncio.timeout(BUDGET)):
        walk = Walk(site, http, (await http.get("/openapi.json")).json())
        await generic(walk)
        await locker_domain(walk)
        await command_answers(walk)
        await with_known_ids(walk)
        await reservations(walk)
        await unconfigured(walk, ADMIN)
        await board_faults(walk, emu, ADMIN)
        await logins(walk)
        await guesses(walk, guesser)
        await raw_frames(walk, ADMIN)
        await database_gone(walk, emu, db_url, ADMIN)
        await integration(walk, ADMIN)  # ends with the event bus closed, as a shutdown begins
        await csms_gone(walk, emu, ADMIN)

    documented = {(op.label, status) for op in walk.operations() for status in op.spec["responses"]}
    unprovoked = sorted(documented - walk.conformance.seen - ELSEWHERE.keys())
    seen: dict[str, set[str]] = {}
    for label, status in walk.conformance.seen:
        seen.setdefault(label, set()).add(status)
    by_status: dict[str, list[str]] = {}
    for label, status in unprovoked:
        by_status.setdefault(status, []).append(label)
    report = "\n".join(f"{status}: {len(labels)}: {[(label, sorted(seen.get(label, ()))) for label in labels]}"
                       for status, labels in sorted(by_status.items()))
    assert not walk.conformance.problems, "\n".join(walk.conformance.problems[:60])
    assert not unprovoked, f"{len(unprovoked)} documented statuses never provoked:\n{report}"
    stale = sorted(ELSEWHERE.keys() - documented)
    assert not stale, f"ELSEWHERE names statuses the document no longer has: {stale}"


def test_elsewhere_names_tests_that_exist() -> None:
    """Each status the walk leaves to another test names a test function that is there."""
    root = Path(__file__).parents[2]
    for key, node in ELSEWHERE.items():
        path, name = node.split("::")
        assert f"def {name}(" in (root / path).read_text(), (key, node)
