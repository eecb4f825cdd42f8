"""The locker site the permission checks (and the OpenAPI walk) name: devices, banks, lockers,
rentals, types, locations, shifts, roles, users, groups and a lock group, made by the admin over
the API, and a token of each caller (tests/locker_sites/permission_rules.py, :class:`World`)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.locker_sites.conftest import ADMIN
from tests.locker_sites.permission_rules import KIOSK_PASSWORD, OTHER_KIOSK_PASSWORD, USER_PASSWORD, World


async def _made(client: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None,
                status: int = 201, **params: Any) -> Any:
    r = await client.post(path, json=body, params=params or None, headers=ADMIN)
    assert r.status_code == status, (path, r.status_code, r.text)
    return r.json()


async def _find(client: httpx.AsyncClient, path: str, q: str) -> int:
    r = await client.get(path, params={"q": q}, headers=ADMIN)
    [item] = r.json()["items"]
    return int(item["id"])


async def build_world(http: httpx.AsyncClient) -> World:
    """Everything the checks name, set up by the admin through the API."""
    w = World()
    w.headers = {"admin": ADMIN, "no-token": {}}
    for role in ("operator", "viewer", "integrator"):
        token = (await _made(http, "/api/v1/tokens", {"name": f"perm-{role}", "role": role}))["token"]
        w.headers[role] = {"Authorization": f"Bearer {token}"}

    w.loc1 = (await _made(http, "/api/locations", {"name": "Perm Station"}))["id"]
    w.loc2 = (await _made(http, "/api/locations", {"name": "Perm Airport"}))["id"]
    await _made(http, f"/api/locations/{w.loc1}/areas", {"name": "Hall"})
    w.mine = (await _made(http, "/api/devices", {"code": "KIOSK-P", "name": "Kiosk P",
                                                 "password": KIOSK_PASSWORD}))["id"]
    w.other = (await _made(http, "/api/devices", {"code": "KIOSK-Q", "name": "Kiosk Q",
                                                  "password": OTHER_KIOSK_PASSWORD}))["id"]
    login = await _made(http, "/api/auth/kiosk-login", {"deviceCode": "KIOSK-P", "password": KIOSK_PASSWORD},
                        status=200)
    w.headers["kiosk"] = {"Authorization": f"Bearer {login['token']}"}
    w.headers["device"] = {"X-API-Key": (await _made(http, f"/api/devices/{w.mine}/key"))["key"]}

    w.type1 = (await _made(http, "/api/admin/locker-types", {"name": "Perm small", "size": "S"}))["id"]
    w.type2 = (await _made(http, "/api/admin/locker-types", {"name": "Perm large", "size": "L"}))["id"]
    w.bank_type = (await _made(http, "/bank-types", {"name": "Perm column", "associations": [
        {"lockerTypeId": w.type1, "count": 2}]}))["id"]
    w.bank_a = await _find(http, "/api/admin/banks", "LOCKER-A")
    w.l_free = await _find(http, "/api/admin/lockers", "LOCKER-A-04")
    w.bank_r = (await _made(http, "/api/admin/banks", {"name": "PERM-R", "port": "COM9", "address": 1}))["id"]
    w.l_mine = (await _made(http, "/api/admin/lockers", {"bankId": w.bank_r, "bay": 1, "deviceId": w.mine}))["id"]
    w.l_other = (await _made(http, "/api/admin/lockers", {"bankId": w.bank_r, "bay": 2,
                                                          "deviceId": w.other}))["id"]
    w.r_released = (await _made(http, "/transactions", {"lockerId": w.l_mine}))["id"]
    await _made(http, f"/transactions/{w.r_released}/release", status=200)
    w.r_mine = (await _made(http, "/transactions", {"lockerId": w.l_mine}))["id"]
    w.r_other = (await _made(http, "/transactions", {"lockerId": w.l_other}))["id"]

    w.role_view = (await _made(http, "/api/roles", {"name": "Perm viewer", "permissions": ["view"]}))["id"]
    w.role_operate = (await _made(http, "/api/roles", {"name": "Perm operator", "permissions": ["operate"]}))["id"]
    w.user1 = (await _made(http, "/api/users", {"username": "perm-alice", "name": "Alice", "roleId": w.role_view,
                                                "password": USER_PASSWORD}))["id"]
    w.user2 = (await _made(http, "/api/users", {"username": "perm-bob", "name": "Bob"}))["id"]
    w.group1 = (await _made(http, "/api/groups", {"name": "Perm staff", "userIds": [w.user1]}))["id"]
    w.group2 = (await _made(http, "/api/groups", {"name": "Perm night"}))["id"]

    w.shift1 = (await _made(http, "/api/shifts", {"name": "Perm Morning", "starts": "06:00", "ends": "14:00"}))["id"]
    w.shift2 = (await _made(http, "/api/shifts", {"name": "Perm Night", "starts": "22:00", "ends": "06:00"}))["id"]
    w.sd1 = (await _made(http, "/api/shift-devices", {"shiftId": w.shift1, "deviceId": w.mine}))["id"]
    w.sd2 = (await _made(http, "/api/shift-devices", {"shiftId": w.shift2, "deviceId": w.mine}))["id"]

    w.lock_group = (await _made(http, "/api/lock-groups", {"groupname": "Perm floor",
                                                           "lockids": ["PERM-R-01"]}))["group"]["groupid"]
    return w
