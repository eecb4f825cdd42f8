"""REST authentication and authorization: bearer tokens, roles, the token API and the CLI.

Everything runs against the real stack over real HTTP (``stack.http_url``) on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.auth import bootstrap_admin
from chargebay.stack import Stack
from common.db import create_engine
from tests.conftest import ADMIN_TOKEN

BUDGET = 20.0  # hard bound on one test body
PUBLIC = {"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
          "/api/auth/admin-login", "/api/auth/kiosk-login",  # logins are how one gets a token
          "/admin"}  # the locker gateway's admin interface: a redirect to the dashboard's login
# The vendor-compatible integration (README: "integration key") answers its own 403 code.
VENDOR_INTEGRATION = {"/integration/charges/stop", "/integration/charges/start",
                      "/latest/integration/charges/stop", "/latest/integration/charges/start"}
DUMMY = {"charge_point_id": "NO-SUCH-CP", "id_tag": "NO-SUCH-TAG", "transaction_id": "1",
         "token_id": "1", "command_id": "no-such-command", "action": "Reset"}


# -- helpers ----------------------------------------------------------------------------------
def is_dashboard(path: str) -> bool:
    """The dashboard's pages, login and files: a login page or a redirect to it without a session
    (tests/ui/test_session.py); its scripts call the routes checked here."""
    return path == "/" or path.startswith("/ui/")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as client:
        yield client


def walk_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, looking inside included routers however FastAPI nests them."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from walk_routes(inner.routes)
        else:
            yield route


def app_operations(stack: Stack) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of the app, hidden ones (include_in_schema=False) included."""
    ops = set()
    for route in walk_routes(stack.app.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                ops.add((method, route.path))
    return ops


def fill(path: str) -> str:
    """Path parameters filled with dummies ("1" fits both string and integer parameters)."""
    return re.sub(r"\{(\w+)\}", lambda m: DUMMY.get(m.group(1), "1"), path)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


async def make_token(http: httpx.AsyncClient, role: str, name: str | None = None) -> dict[str, Any]:
    r = await http.post("/api/v1/tokens", json={"name": name or f"{role}-token", "role": role},
                        headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def cli_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEBAY_")}
    env["CHARGEBAY_DATABASE_URL"] = db_url
    return env


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    script = Path(sys.executable).parent / "chargebay"
    assert script.exists(), f"console script missing next to {sys.executable}"
    proc = await asyncio.create_subprocess_exec(
        str(script), *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


# -- every protected route needs a token ------------------------------------------------------
def test_route_walk_covers_the_openapi_document(stack: Stack) -> None:
    documented = {(m.upper(), p) for p, ops in stack.app.openapi()["paths"].items() for m in ops}
    walked = app_operations(stack)
    assert documented <= walked, documented - walked
    # The walk also sees the hidden routes, so they are checked too.
    assert ("POST", "/latest/integration/charges/stop") in walked
    assert ("POST", "/api/v1/charge-points/{charge_point_id}/commands/{action}") in walked


@pytest.mark.parametrize("credentials", [
    pytest.param({}, id="no-token"),
    pytest.param(bearer("cb_unknown-token-that-was-never-issued"), id="unknown-token"),
])
# every route with an unknown token is a guess each: lift the limit (test_token_guesses_are_limited)
@pytest.mark.parametrize("settings_overrides", [{"token_failures_per_ip": 100_000}])
async def test_every_protected_route_refuses_without_a_valid_token(
        stack: Stack, http: httpx.AsyncClient, credentials: dict[str, str]) -> None:
    ops = sorted(app_operations(stack))
    protected = [(m, p) for m, p in ops if p not in PUBLIC and not is_dashboard(p)]
    assert len(protected) > 40  # the walk really found the API
    async with asyncio.timeout(BUDGET):
        for method, path in protected:
            # Send a valid-looking body so that only the missing credentials can be the problem.
            r = await http.request(method, fill(path), headers=credentials,
                                   json={} if method in ("POST", "PUT", "PATCH") else None)
            if path in VENDOR_INTEGRATION:
                assert_error(r, 403, "APIKeyNotFound")
            else:
                assert_error(r, 401, "Unauthorized")


@pytest.mark.parametrize("credentials", [
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
    pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
    pytest.param({"Authorization": f"Token {ADMIN_TOKEN}"}, id="other-scheme"),
    pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, id="token-plus-one"),
    pytest.param({"X-API-Key": "cb_unknown"}, id="unknown-api-key"),
])
async def test_malformed_credentials_are_refused(http: httpx.AsyncClient, credentials: dict[str, str]) -> None:
    async with asyncio.timeout(BUDGET):
        for method, path in (("GET", "/api/v1/charge-points"), ("POST", "/api/v1/id-tags"),
                             ("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/charge-points/X"),
                             ("GET", "/api/v1/transactions/export.csv")):
            assert_error(await http.request(method, path, headers=credentials,
                                            json={"id_tag": "T"} if method == "POST" else None),
                         401, "Unauthorized")


async def test_public_routes_need_no_token(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        for path in ("/health", "/metrics", "/openapi.json", "/docs"):
            r = await http.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text)
        assert (await http.get("/health")).json()["status"] == "ok"


async def test_valid_token_is_accepted_as_bearer_or_api_key(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        assert (await http.get("/api/v1/charge-points", headers=ADMIN)).status_code == 200
        assert (await http.get("/api/v1/charge-points",
                               headers={"Authorization": f"bearer {ADMIN_TOKEN}"})).status_code == 200
        assert (await http.get("/api/v1/charge-points", headers={"X-API-Key": ADMIN_TOKEN})).status_code == 200


# -- tokens over REST -------------------------------------------------------------------------
async def test_create_token_returns_the_secret_once(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        created = await make_token(http, "viewer", "dashboard")
        assert set(created) >= {"id", "name", "role", "created_at", "revoked_at", "token"}
        assert "token_hash" not in created
        assert (created["name"], created["role"], created["revoked_at"]) == ("dashboard", "viewer", None)
        secret = created["token"]
        assert isinstance(secret, str) and len(secret) >= 32
        assert created["created_at"].endswith("Z")

        listed = await http.get("/api/v1/tokens", headers=ADMIN)
        assert listed.status_code == 200
        body = listed.json()
        assert set(body) == {"items", "total", "page", "page_size"}
        assert secret not in listed.text
        for item in body["items"]:
            assert "token" not in item and "token_hash" not in item
        mine = [t for t in body["items"] if t["id"] == created["id"]]
        assert mine == [{k: v for k, v in created.items() if k != "token"}]
        # The bootstrap CHARGEBAY_API_TOKEN is listed as an admin token, without its secret.
        assert any(t["name"] == "CHARGEBAY_API_TOKEN" and t["role"] == "admin" for t in body["items"])
        assert ADMIN_TOKEN not in listed.text

        # The secret works, with the role it was given.
        assert (await http.get("/api/v1/charge-points", headers=bearer(secret))).status_code == 200
        assert_error(await http.post("/api/v1/id-tags", json={"id_tag": "T"}, headers=bearer(secret)),
                     403, "Forbidden")


async def test_two_tokens_never_share_a_secret(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        a, b = await make_token(http, "viewer", "a"), await make_token(http, "viewer", "a")
        assert a["token"] != b["token"] and a["id"] != b["id"]


async def test_list_tokens_paginates(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        for i in range(4):
            await make_token(http, "viewer", f"t{i}")
        body = (await http.get("/api/v1/tokens", params={"page": 2, "page_size": 2}, headers=ADMIN)).json()
        assert (body["total"], body["page"], body["page_size"]) == (5, 2, 2)  # + the bootstrap admin
        assert [t["name"] for t in body["items"]] == ["t1", "t2"]
        ids = []
        for page in (1, 2, 3):
            ids += [t["id"] for t in (await http.get("/api/v1/tokens", params={"page": page, "page_size": 2},
                                                     headers=ADMIN)).json()["items"]]
        assert ids == sorted(ids) and len(set(ids)) == 5


async def test_revoked_token_is_refused_afterwards(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        created = await make_token(http, "operator", "to-revoke")
        secret = bearer(created["token"])
        assert (await http.get("/api/v1/charge-points", headers=secret)).status_code == 200

        r = await http.delete(f"/api/v1/tokens/{created['id']}", headers=ADMIN)
        assert r.status_code == 204 and r.content == b""
        assert_error(await http.get("/api/v1/charge-points", headers=secret), 401, "Unauthorized")
        assert_error(await http.post("/api/v1/charge-points", json={"id": "CP-X"}, headers=secret),
                     401, "Unauthorized")
        # Revoking twice, or an unknown id: 404.
        assert_error(await http.delete(f"/api/v1/tokens/{created['id']}", headers=ADMIN), 404, "TokenNotFound")
        assert_error(await http.delete("/api/v1/tokens/999999", headers=ADMIN), 404, "TokenNotFound")

        active = (await http.get("/api/v1/tokens", headers=ADMIN)).json()["items"]
        assert created["id"] not in [t["id"] for t in active]
        everything = (await http.get("/api/v1/tokens", params={"include_revoked": "true"},
                                     headers=ADMIN)).json()["items"]
        [revoked] = [t for t in everything if t["id"] == created["id"]]
        assert revoked["revoked_at"] is not None and revoked["revoked_at"].endswith("Z")


async def test_an_admin_can_revoke_its_own_token(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        created = await make_token(http, "admin", "second-admin")
        own = bearer(created["token"])
        assert (await http.get("/api/v1/tokens", headers=own)).status_code == 200
        assert (await http.delete(f"/api/v1/tokens/{created['id']}", headers=own)).status_code == 204
        assert_error(await http.get("/api/v1/tokens", headers=own), 401, "Unauthorized")
        assert (await http.get("/api/v1/tokens", headers=ADMIN)).status_code == 200


@pytest.mark.parametrize("role", ["operator", "integrator", "viewer"])
async def test_only_admins_manage_tokens(stack: Stack, http: httpx.AsyncClient, role: str) -> None:
    async with asyncio.timeout(BUDGET):
        created = await make_token(http, role)
        h = bearer(created["token"])
        assert_error(await http.get("/api/v1/tokens", headers=h), 403, "Forbidden")
        assert_error(await http.post("/api/v1/tokens", json={"name": "escalate", "role": "admin"}, headers=h),
                     403, "Forbidden")
        assert_error(await http.delete(f"/api/v1/tokens/{created['id']}", headers=h), 403, "Forbidden")
        # Nothing changed: no new token, and the token is still active.
        names = [t["name"] for t in (await http.get("/api/v1/tokens", headers=ADMIN)).json()["items"]]
        assert "escalate" not in names and f"{role}-token" in names
        assert_error(await http.get("/api/v1/integration", headers=h), 403, "Forbidden")


@pytest.mark.parametrize("body, fields", [
    ({"name": "x", "role": "root"}, {"body.role"}),
    ({"name": "", "role": "viewer"}, {"body.name"}),
    ({"name": "x" * 101, "role": "viewer"}, {"body.name"}),
    ({"role": "viewer"}, {"body.name"}),
    ({}, {"body.name", "body.role"}),
])
async def test_token_create_validation(stack: Stack, http: httpx.AsyncClient, body: dict[str, Any],
                                       fields: set[str]) -> None:
    async with asyncio.timeout(BUDGET):
        r = await http.post("/api/v1/tokens", json=body, headers=ADMIN)
        err = assert_error(r, 422, "ValidationError")
        assert isinstance(err["fields"], list) and err["fields"]
        for f in err["fields"]:
            assert set(f) == {"field", "error"} and isinstance(f["error"], str)
        assert {f["field"] for f in err["fields"]} == fields


async def test_error_bodies_are_code_and_message(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        assert_error(await http.get("/api/v1/no-such-thing", headers=ADMIN), 404, "NotFound")
        assert_error(await http.put("/api/v1/tokens", headers=ADMIN), 405, "MethodNotAllowed")
        assert_error(await http.post("/api/v1/tokens", content=b"{not json", headers={
            **ADMIN, "Content-Type": "application/json"}), 422, "ValidationError")
        assert_error(await http.get("/api/v1/tokens", params={"page": 0}, headers=ADMIN), 422, "ValidationError")
        assert_error(await http.get("/api/v1/tokens", params={"page_size": 1001}, headers=ADMIN),
                     422, "ValidationError")


# -- the role matrix --------------------------------------------------------------------------
async def test_viewer_reads_but_never_writes(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        assert (await http.post("/api/v1/charge-points", json={"id": "CP-V"}, headers=ADMIN)).status_code == 201
        assert (await http.post("/api/v1/id-tags", json={"id_tag": "TAG-V"}, headers=ADMIN)).status_code == 201
        h = bearer((await make_token(http, "viewer"))["token"])
        for path in ("/api/v1/charge-points", "/api/v1/charge-points/CP-V", "/api/v1/transactions",
                     "/api/v1/transactions/export.csv", "/api/v1/id-tags", "/api/v1/id-tags/TAG-V",
                     "/api/v1/charge-points/CP-V/status-history", "/api/v1/charge-points/CP-V/messages",
                     "/api/v1/commands"):
            r = await http.get(path, headers=h)
            assert r.status_code == 200, (path, r.status_code, r.text)
        forbidden = [
            ("POST", "/api/v1/charge-points", {"id": "CP-NEW"}),
            ("PATCH", "/api/v1/charge-points/CP-V", {"registration_status": "Rejected"}),
            ("DELETE", "/api/v1/charge-points/CP-V", None),
            ("POST", "/api/v1/charge-points/CP-V/accept", None),
            ("POST", "/api/v1/id-tags", {"id_tag": "TAG-NEW"}),
            ("PATCH", "/api/v1/id-tags/TAG-V", {"status": "Blocked"}),
            ("DELETE", "/api/v1/id-tags/TAG-V", None),
            ("POST", "/api/v1/charge-points/CP-V/commands/Reset", {"type": "Soft"}),
        ]
        for method, path, body in forbidden:
            assert_error(await http.request(method, path, json=body, headers=h), 403, "Forbidden")
        # Nothing was written.
        cp = (await http.get("/api/v1/charge-points/CP-V", headers=ADMIN)).json()
        assert cp["registration_status"] == "Accepted"
        assert (await http.get("/api/v1/id-tags/TAG-V", headers=ADMIN)).json()["status"] == "Accepted"
        assert_error(await http.get("/api/v1/charge-points/CP-NEW", headers=ADMIN), 404, "ChargePointNotFound")
        assert_error(await http.get("/api/v1/id-tags/TAG-NEW", headers=ADMIN), 404, "IdTagNotFound")


async def test_operator_writes_charge_points_and_id_tags(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        h = bearer((await make_token(http, "operator"))["token"])
        assert (await http.post("/api/v1/charge-points", json={"id": "CP-O"}, headers=h)).status_code == 201
        r = await http.patch("/api/v1/charge-points/CP-O", json={"registration_status": "Rejected"}, headers=h)
        assert r.status_code == 200 and r.json()["registration_status"] == "Rejected"
        assert (await http.post("/api/v1/charge-points/CP-O/accept", headers=h)).status_code == 200
        assert (await http.delete("/api/v1/charge-points/CP-O", headers=h)).status_code == 204
        assert (await http.post("/api/v1/id-tags", json={"id_tag": "TAG-O"}, headers=h)).status_code == 201
        r = await http.patch("/api/v1/id-tags/TAG-O", json={"status": "Blocked"}, headers=h)
        assert r.status_code == 200 and r.json()["status"] == "Blocked"
        assert (await http.delete("/api/v1/id-tags/TAG-O", headers=h)).status_code == 204
        for path in ("/api/v1/charge-points", "/api/v1/transactions", "/api/v1/id-tags"):
            assert (await http.get(path, headers=h)).status_code == 200


async def test_integrator_reads_but_cannot_manage_id_tags_or_charge_points(
        stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        assert (await http.post("/api/v1/id-tags", json={"id_tag": "TAG-I"}, headers=ADMIN)).status_code == 201
        h = bearer((await make_token(http, "integrator"))["token"])
        for path in ("/api/v1/charge-points", "/api/v1/transactions", "/api/v1/id-tags"):
            assert (await http.get(path, headers=h)).status_code == 200
        assert_error(await http.post("/api/v1/id-tags", json={"id_tag": "TAG-J"}, headers=h), 403, "Forbidden")
        assert_error(await http.patch("/api/v1/id-tags/TAG-I", json={"status": "Blocked"}, headers=h),
                     403, "Forbidden")
        assert_error(await http.delete("/api/v1/id-tags/TAG-I", headers=h), 403, "Forbidden")
        assert_error(await http.post("/api/v1/charge-points", json={"id": "CP-I"}, headers=h), 403, "Forbidden")


# -- tokens made outside the API --------------------------------------------------------------
async def test_cli_token_create_works_against_a_stack_on_the_same_database(
        stack: Stack, http: httpx.AsyncClient, db_url: str, tmp_path: Path) -> None:
    async with asyncio.timeout(BUDGET + 30):
        code, out, err = await run_cli("token", "create", "--role", "viewer", "--name", "x",
                                       env=cli_env(db_url), cwd=tmp_path)
        assert code == 0, err
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        assert lines, (out, err)
        secret = lines[-1]
        assert " " not in secret and len(secret) >= 32, out
        h = bearer(secret)
        assert (await http.get("/api/v1/charge-points", headers=h)).status_code == 200
        assert_error(await http.post("/api/v1/charge-points", json={"id": "CP-CLI"}, headers=h), 403, "Forbidden")
        listed = (await http.get("/api/v1/tokens", headers=ADMIN)).json()["items"]
        assert [(t["name"], t["role"]) for t in listed if t["name"] == "x"] == [("x", "viewer")]
        assert secret not in str(listed)


@pytest.mark.parametrize("args", [
    ["--role", "superuser", "--name", "x"],
    ["--role", "viewer"],
    ["--name", "x"],
])
async def test_cli_token_create_refuses_bad_arguments(
        stack: Stack, http: httpx.AsyncClient, db_url: str, tmp_path: Path, args: list[str]) -> None:
    async with asyncio.timeout(BUDGET + 30):
        before = (await http.get("/api/v1/tokens", headers=ADMIN)).json()["total"]
        code, out, err = await run_cli("token", "create", *args, env=cli_env(db_url), cwd=tmp_path)
        assert code != 0, (out, err)
        assert (await http.get("/api/v1/tokens", headers=ADMIN)).json()["total"] == before


@pytest.mark.parametrize("settings_overrides", [{"api_token": "configured-admin-secret-0123456789"}])
async def test_configured_api_token_is_an_admin_token(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        h = bearer("configured-admin-secret-0123456789")
        r = await http.get("/api/v1/tokens", headers=h)
        assert r.status_code == 200
        [boot] = [t for t in r.json()["items"] if t["name"] == "CHARGEBAY_API_TOKEN"]
        assert boot["role"] == "admin"
        assert (await http.post("/api/v1/tokens", json={"name": "n", "role": "viewer"}, headers=h)).status_code == 201
        assert (await http.get("/api/v1/integration", headers=h)).status_code == 200
        assert stack.generated_token is None
        # The conftest default token was not configured for this stack.
        assert_error(await http.get("/api/v1/tokens", headers=ADMIN), 401, "Unauthorized")


@pytest.mark.parametrize("settings_overrides", [{"api_token": None}])
async def test_without_a_configured_token_an_admin_token_is_generated(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        assert stack.generated_token
        r = await http.get("/api/v1/tokens", headers=bearer(stack.generated_token))
        assert r.status_code == 200
        assert [(t["name"], t["role"]) for t in r.json()["items"]] == [("bootstrap", "admin")]


async def test_nodes_starting_together_register_the_configured_token_once(db_url: str) -> None:
    """Every node of a cluster registers CHARGEBAY_API_TOKEN at start, at the same moment."""
    engine = create_engine(db_url)
    try:
        for _ in range(3):
            assert await asyncio.gather(*(bootstrap_admin(engine, "shared-secret")
                                          for _ in range(4))) == [None] * 4
        async with engine.connect() as conn:
            names = (await conn.execute(text(
                "SELECT name FROM api_tokens WHERE name = 'CHARGEBAY_API_TOKEN'"))).all()
        assert len(names) == 1
    finally:
        await engine.dispose()
