"""Device keys (issue #20): a field device heartbeats (``POST /system/heartbeat``) with a key of
its own, bound to it, instead of a kiosk login; the key does nothing else anywhere in the API.

Against the real stack over HTTP, the keys issued through the back office's API and the CLI.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.auth_helpers import cli_env, run_cli
from tests.conftest import ADMIN_TOKEN
from tests.helpers import rows
from tests.locker_sites.gateway_helpers import audit, err

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KIOSK_PASSWORD = "kiosk secret 1"
HEARTBEAT = "/system/heartbeat"


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as c:
        yield c


async def _device(client: httpx.AsyncClient, code: str) -> int:
    r = await client.post("/api/devices", json={"code": code, "name": f"Kiosk {code}",
                                                "password": KIOSK_PASSWORD})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _key(client: httpx.AsyncClient, device_id: int) -> dict[str, Any]:
    r = await client.post(f"/api/devices/{device_id}/key")
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _beat(stack: Stack, headers: dict[str, str], code: str) -> httpx.Response:
    """A heartbeat with only ``headers`` as credentials (not the admin client's)."""
    async with httpx.AsyncClient(base_url=stack.http_url, headers=headers, timeout=20) as device:
        return await device.post(HEARTBEAT, json={"deviceId": code, "status": "ok"})


async def _last_beat(stack: Stack, device_id: int) -> Any:
    [row] = await rows(stack, "SELECT last_heartbeat_at FROM devices WHERE id = :d", d=device_id)
    return row["last_heartbeat_at"]


async def test_a_device_key_heartbeats_for_its_own_device_only(stack: Stack, client: httpx.AsyncClient) -> None:
    mine, other = await _device(client, "KIOSK-01"), await _device(client, "KIOSK-02")
    issued = await _key(client, mine)
    assert issued | {"key": "", "tokenId": 0, "createdAt": ""} == {
        "deviceId": mine, "deviceCode": "KIOSK-01", "tokenId": 0, "key": "", "header": "X-API-Key",
        "createdAt": "", "replaced": False}
    key = issued["key"]
    assert [(await client.get(f"/api/devices/{d}")).json()["hasKey"] for d in (mine, other)] == [True, False]
    assert {d["code"]: d["hasKey"] for d in (await client.get("/api/devices")).json()["items"]} == {
        "KIOSK-01": True, "KIOSK-02": False}

    # the header the docs name, and a Bearer as any token
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        r = await _beat(stack, headers, "KIOSK-01")
        assert r.status_code == 200 and r.json()["deviceId"] == "KIOSK-01", r.text
    # another device's code is answered as an unknown one: nothing to tell which codes exist
    foreign = err(await _beat(stack, {"X-API-Key": key}, "KIOSK-02"), 404, "DeviceNotFound")
    unknown = err(await _beat(stack, {"X-API-Key": key}, "NOPE"), 404, "DeviceNotFound")
    assert foreign.keys() == unknown.keys()
    assert await _last_beat(stack, other) is None
    [beat] = await audit(stack, "device.heartbeat")  # the first one only: the status did not change
    assert (beat["actor"], beat["device_id"]) == ("device:KIOSK-01", mine)
    [issue] = await audit(stack, "device.key_issued")
    assert issue["device_id"] == mine and issue["details"] == {"tokenId": issued["tokenId"], "replaced": False}

    # the key is listed among the tokens (role device, its device), its secret never
    tokens = (await client.get("/api/v1/tokens")).json()["items"]
    assert [(t["role"], t["device_id"], t["name"]) for t in tokens if t["role"] == "device"] == [
        ("device", mine, "device:KIOSK-01")]
    assert key not in str(tokens)
    # and /api/v1/tokens makes none (a key is bound to a device: the device's own route)
    err(await client.post("/api/v1/tokens", json={"name": "k", "role": "device"}), 422, "ValidationError")


async def test_keys_rotate_and_are_revoked(stack: Stack, client: httpx.AsyncClient) -> None:
    mine = await _device(client, "KIOSK-01")
    old = (await _key(client, mine))["key"]
    new = await _key(client, mine)
    assert new["replaced"] is True
    err(await _beat(stack, {"X-API-Key": old}, "KIOSK-01"), 401, "Unauthorized")
    assert (await _beat(stack, {"X-API-Key": new["key"]}, "KIOSK-01")).status_code == 200

    # a new kiosk password logs the kiosks out, not the device's heartbeats
    login = await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-01", "password": KIOSK_PASSWORD})
    kiosk = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await _beat(stack, kiosk, "KIOSK-01")).status_code == 200  # a kiosk login still may
    r = await client.patch(f"/api/devices/{mine}", json={"password": "another kiosk secret"})
    assert r.status_code == 200, r.text
    err(await _beat(stack, kiosk, "KIOSK-01"), 401, "Unauthorized")
    assert (await _beat(stack, {"X-API-Key": new["key"]}, "KIOSK-01")).status_code == 200

    assert (await client.delete(f"/api/devices/{mine}/key")).status_code == 204
    err(await _beat(stack, {"X-API-Key": new["key"]}, "KIOSK-01"), 401, "Unauthorized")
    err(await client.delete(f"/api/devices/{mine}/key"), 404, "DeviceKeyNotFound")
    assert (await client.get(f"/api/devices/{mine}")).json()["hasKey"] is False
    err(await client.post("/api/devices/999999/key"), 404, "DeviceNotFound")

    # deleting the device revokes its key
    last = (await _key(client, mine))["key"]
    assert (await client.delete(f"/api/devices/{mine}")).status_code == 204
    err(await _beat(stack, {"X-API-Key": last}, "KIOSK-01"), 401, "Unauthorized")
    assert [a["details"] for a in await audit(stack, "device.key_revoked")] == [{}]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_a_device_key_does_nothing_else(stack: Stack, client: httpx.AsyncClient) -> None:
    """Every operation of the OpenAPI document that wants a credential refuses a device key with
    403 (the integration in its own words, naming the role), before looking at anything else."""
    key = (await _key(client, await _device(client, "KIOSK-01")))["key"]
    spec = (await client.get("/openapi.json")).json()
    checked = 0
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as anyone:
        for path, item in spec["paths"].items():
            for method in item:
                if method not in {"get", "post", "put", "patch", "delete"} or path == HEARTBEAT:
                    continue
                url = _concrete(path)
                kwargs: dict[str, Any] = {"json": {}} if method in {"post", "put", "patch"} else {}
                if (await anyone.request(method, url, **kwargs)).status_code not in (401, 403):
                    continue  # public: /health, the logins, …
                r = await anyone.request(method, url, headers={"X-API-Key": key}, **kwargs)
                assert r.status_code == 403, f"{method.upper()} {path}: {r.status_code} {r.text[:200]}"
                body = r.json()
                assert body.get("code") in {"Forbidden", "APIKeyNotFound"}, (method, path, body)
                if body["code"] == "APIKeyNotFound":
                    assert body["role"] == "device", body
                checked += 1
    assert checked > 100, checked  # the whole API, not a corner of it


async def test_the_dashboard_takes_no_device_key(stack: Stack, client: httpx.AsyncClient) -> None:
    key = (await _key(client, await _device(client, "KIOSK-01")))["key"]
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as browser:
        r = await browser.post("/ui/login", data={"kind": "token", "token": key})
        assert r.status_code == 403 and "heartbeat" in r.text
        assert "cb_session" not in r.cookies
        browser.cookies.set("cb_session", key)  # set by hand: still no session, the login page
        page = await browser.get("/", follow_redirects=False)
        assert page.status_code == 200 and "login" in page.text.lower()
        await browser.post("/ui/logout")  # a logout with it does not revoke it
    assert (await _beat(stack, {"X-API-Key": key}, "KIOSK-01")).status_code == 200


async def test_the_cli_issues_a_device_key(stack: Stack, client: httpx.AsyncClient, db_url: str,
                                           tmp_path: Path) -> None:
    mine = await _device(client, "KIOSK-01")
    async with asyncio.timeout(90):
        code, out, error = await run_cli("token", "create", "--role", "device", "--device", "KIOSK-01",
                                         env=cli_env(db_url), cwd=tmp_path)
        assert code == 0, error
        key = out.strip().splitlines()[-1]
        assert (await _beat(stack, {"X-API-Key": key}, "KIOSK-01")).status_code == 200
        [issue] = await audit(stack, "device.key_issued")
        assert (issue["actor"], issue["device_id"]) == ("cli", mine)
        for args in (["--role", "device", "--device", "NOPE"], ["--role", "device", "--name", "x"],
                     ["--role", "viewer", "--name", "x", "--device", "KIOSK-01"]):
            code, out, error = await run_cli("token", "create", *args, env=cli_env(db_url), cwd=tmp_path)
            assert code != 0, (args, out, error)
    assert len(await audit(stack, "device.key_issued")) == 1
