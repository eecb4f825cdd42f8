"""REST authentication: every protected route needs a token; the token API.

Everything runs against the real stack over real HTTP (``stack.http_url``) on a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.auth_helpers import (
    ADMIN,
    BUDGET,
    PUBLIC,
    VENDOR_INTEGRATION,
    app_operations,
    assert_error,
    bearer,
    fill,
    is_dashboard,
    make_token,
)
from tests.conftest import ADMIN_TOKEN


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as client:
        yield client


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
