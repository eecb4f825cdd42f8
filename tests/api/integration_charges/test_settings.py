"""The integration's admin settings: defaults, round trip, who may change them, the allow-list."""

from __future__ import annotations

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, bearer, make_token
from tests.api.integration_charges.conftest import assert_error, set_integration


# -- the integration's settings ------------------------------------------------------------------
async def test_settings_defaults_and_round_trip(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/integration", headers=ADMIN)
    assert r.status_code == 200 and r.json() == {"enabled": True, "allowed_ips": []}
    saved = await set_integration(client, enabled=False, allowed_ips=["127.0.0.1", "10.1.2.3/8", "::1"])
    assert saved == {"enabled": False, "allowed_ips": ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]}
    r = await client.get("/api/v1/integration", headers=ADMIN)
    assert r.json() == saved
    await set_integration(client)
    assert (await client.get("/api/v1/integration", headers=ADMIN)).json() == {"enabled": True,
                                                                                "allowed_ips": []}


@pytest.mark.parametrize("role", ["operator", "integrator", "viewer"])
async def test_settings_need_an_admin(stack: Stack, client: httpx.AsyncClient, role: str) -> None:
    token = bearer(await make_token(client, role))
    assert_error(await client.get("/api/v1/integration", headers=token), 403, "Forbidden")
    r = await client.put("/api/v1/integration", json={"enabled": False, "allowed_ips": []}, headers=token)
    assert_error(r, 403, "Forbidden")
    assert (await client.get("/api/v1/integration", headers=ADMIN)).json()["enabled"] is True


async def test_settings_without_token_is_401(stack: Stack, client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/integration"), 401, "Unauthorized")
    assert_error(await client.put("/api/v1/integration", json={"enabled": False}), 401, "Unauthorized")


@pytest.mark.parametrize("bad", ["not-an-ip", "300.1.1.1", "10.0.0.0/33", ""])
async def test_settings_validate_allowed_ips(stack: Stack, client: httpx.AsyncClient, bad: str) -> None:
    r = await client.put("/api/v1/integration", json={"enabled": True, "allowed_ips": ["127.0.0.1", bad]},
                         headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["code"] and r.json()["message"]
    assert (await client.get("/api/v1/integration", headers=ADMIN)).json()["allowed_ips"] == []


