"""REST authorization by role, and tokens made outside the API (the CLI, the configured token).

Everything runs against the real stack over real HTTP (``stack.http_url``) on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from api.auth import bootstrap_admin
from chargebay.stack import Stack
from common.db import create_engine
from tests.api.auth_helpers import (
    ADMIN,
    BUDGET,
    assert_error,
    bearer,
    cli_env,
    make_token,
    run_cli,
)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as client:
        yield client


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
        assert "database: " in err and ":chargebay@" not in err, err  # named, its password not shown
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


async def test_cli_token_create_will_not_make_a_database_of_its_own(tmp_path: Path) -> None:
    """Run from another directory without the server's settings, it would have made an empty
    database whose token no running server knows (issue #21): it names the database it would use
    and refuses, unless --create."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # no settings at all: the default data directory, under a state home of the test's own
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHARGEBAY_")},
           "XDG_STATE_HOME": str(tmp_path / "state")}
    async with asyncio.timeout(BUDGET + 30):
        code, out, err = await run_cli("token", "create", "--role", "viewer", "--name", "x", env=env, cwd=elsewhere)
        assert code == 1 and out == "", (out, err)
        assert "there is no database at" in err and "--create" in err, err
        assert not list(tmp_path.rglob("*.db")), list(tmp_path.rglob("*"))
        code, out, err = await run_cli("token", "create", "--role", "viewer", "--name", "x", "--create",
                                       env=env, cwd=elsewhere)
        assert code == 0 and out.strip().startswith("cb_"), (out, err)
        [made] = list(tmp_path.rglob("*.db"))
        assert made == tmp_path / "state" / "chargebay" / "chargebay.db"
        assert f"database: sqlite+aiosqlite:///{made}" in err, err
