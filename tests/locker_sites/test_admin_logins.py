"""Back-office and kiosk logins (and their rate limits), and who may call what."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from api.vendor.web.auth import MAX_FAILURES_PER_IP, MAX_FAILURES_PER_NAME
from chargebay.stack import Stack
from tests.helpers import rows
from tests.locker_sites.admin_helpers import MISSING, err, logs, ok, role_headers
from tests.locker_sites.conftest import ADMIN, locker_id


# -- logins -----------------------------------------------------------------------------------------
async def _user_with_role(client: httpx.AsyncClient, username: str, permissions: list[str] | None,
                          password: str = "correct horse battery") -> dict[str, Any]:
    role_id = None
    if permissions is not None:
        role_id = ok(await client.post("/api/roles", json={"name": f"role-{username}",
                                                           "permissions": permissions}), 201)["id"]
    user = ok(await client.post("/api/users", json={"username": username, "name": username.title(),
                                                    "roleId": role_id, "password": password}), 201)
    return user  # type: ignore[no-any-return]


async def login(client: httpx.AsyncClient, username: str, password: str = "correct horse battery") -> httpx.Response:
    return await client.post("/api/auth/admin-login", json={"username": username, "password": password},
                             headers={"Authorization": ""})


async def test_admin_login(site: Stack, client: httpx.AsyncClient) -> None:
    op = await _user_with_role(client, "olga", ["operate", "view"])
    await _user_with_role(client, "ada", ["admin"])
    await _user_with_role(client, "vic", ["view"])
    await _user_with_role(client, "nobody", None)
    answer = ok(await login(client, "OLGA"))
    assert answer["user"] == {"id": op["id"], "username": "olga", "name": "Olga", "role": "role-olga",
                              "permissions": ["operate", "view"], "apiRole": "operator"}
    assert answer["expiresAt"].endswith("Z") and answer["token"].startswith("cb_")
    as_olga = {"Authorization": f"Bearer {answer['token']}"}
    ok(await client.post("/api/shifts", json={"name": "S", "starts": "06:00", "ends": "07:00"}, headers=as_olga), 201)
    err(await client.post("/api/users", json={"username": "x", "name": "X"}, headers=as_olga), 403, "Forbidden")
    assert (await logs(client, action="shift.add"))[0]["actor"] == "olga"  # the user, not "a token"
    assert ok(await login(client, "ada"))["user"]["apiRole"] == "admin"
    vic = ok(await login(client, "vic"))
    assert vic["user"]["apiRole"] == "viewer"
    err(await client.post("/api/shifts", json={"name": "T", "starts": "06:00", "ends": "07:00"},
                          headers={"Authorization": f"Bearer {vic['token']}"}), 403, "Forbidden")

    err(await login(client, "olga", "wrong password!"), 401, "InvalidCredentials")
    err(await login(client, "nobody-at-all"), 401, "InvalidCredentials")
    err(await login(client, "nobody"), 403, "NoPermissions")
    err(await client.post("/api/auth/admin-login", json={"username": "olga"}), 422, "ValidationError")
    ok(await client.patch(f"/api/users/{op['id']}", json={"active": False}))
    err(await client.get("/api/shifts", headers=as_olga), 401, "Unauthorized")  # logged out at once
    err(await login(client, "olga"), 403, "UserInactive")
    ok(await client.patch(f"/api/users/{op['id']}", json={"active": True}))
    again = {"Authorization": f"Bearer {ok(await login(client, 'olga'))['token']}"}
    ok(await client.get("/api/shifts", headers=again))
    ok(await client.patch(f"/api/roles/{op['roleId']}", json={"permissions": ["view"]}))
    err(await client.get("/api/shifts", headers=again), 401, "Unauthorized")  # the role changed
    [token] = await rows(site, "SELECT role, user_id, expires_at FROM api_tokens WHERE name = 'olga' "
                               "ORDER BY id DESC LIMIT 1")
    assert (token["role"], token["user_id"]) == ("operator", op["id"]) and token["expires_at"] is not None
    # a logged-in admin cannot delete themselves
    ada = {"Authorization": f"Bearer {ok(await login(client, 'ada'))['token']}"}
    me = ok(await client.get("/api/users", params={"q": "ada"}))["items"][0]
    err(await client.delete(f"/api/users/{me['id']}", headers=ada), 409, "CannotDeleteSelf")
    actions = [e["action"] for e in await logs(client, action="auth.")]
    assert actions.count("auth.login_failed") == 2 and "auth.admin_login" in actions


async def test_kiosk_login_reaches_only_its_own_lockers(site: Stack, client: httpx.AsyncClient) -> None:
    kiosk = ok(await client.post("/api/devices", json={"code": "KIOSK-1", "name": "Lobby",
                                                       "password": "kiosk secret 1"}), 201)
    ok(await client.post("/api/devices", json={"code": "KIOSK-2", "name": "No password"}), 201)
    mine = [await locker_id(site, f"LOCKER-A-0{n}") for n in (1, 2)]
    other = await locker_id(site, "LOCKER-A-03")
    for lid in mine:
        ok(await client.post(f"/api/bays/{lid}/assign-device", json={"deviceId": kiosk["id"]}))

    answer = ok(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-1",
                                                                 "password": "kiosk secret 1"}))
    assert answer["device"] == {"id": kiosk["id"], "code": "KIOSK-1", "name": "Lobby"}
    as_kiosk = {"Authorization": f"Bearer {answer['token']}"}
    listed = ok(await client.get("/api/admin/lockers", headers=as_kiosk))
    assert listed["total"] == 2 and [x["id"] for x in listed["items"]] == mine
    assert ok(await client.get(f"/api/admin/lockers/{mine[0]}", headers=as_kiosk))["identity"] == "LOCKER-A-01"
    err(await client.get(f"/api/admin/lockers/{other}", headers=as_kiosk), 404, "LockerNotFound")
    # a filter cannot widen the scope
    wider = ok(await client.get("/api/admin/lockers", headers=as_kiosk, params={"deviceId": kiosk["id"] + 1}))
    assert wider["total"] == 0
    for method, path in (("GET", "/api/bays"), ("GET", "/api/devices"), ("GET", "/api/admin/lockers/maintenance"),
                         ("GET", "/api/locker/cabins"), ("POST", "/api/locker/cabins/LOCKER-A-01/open"),
                         ("GET", "/api/v1/charge-points"), ("GET", "/api/logs")):
        err(await client.request(method, path, headers=as_kiosk), 403, "Forbidden")

    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-1", "password": "nope"}),
        401, "InvalidCredentials")
    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-2", "password": "anything"}),
        401, "InvalidCredentials")
    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "NONE", "password": "anything"}),
        401, "InvalidCredentials")
    ok(await client.patch(f"/api/devices/{kiosk['id']}", json={"password": "a new kiosk secret"}))
    err(await client.get("/api/admin/lockers", headers=as_kiosk), 401, "Unauthorized")  # a new password logs out
    again = ok(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-1",
                                                                "password": "a new kiosk secret"}))
    as_kiosk = {"Authorization": f"Bearer {again['token']}"}
    ok(await client.get("/api/admin/lockers", headers=as_kiosk))
    ok(await client.delete(f"/api/devices/{kiosk['id']}"), 204)
    err(await client.get("/api/admin/lockers", headers=as_kiosk), 401, "Unauthorized")
    entries = await logs(client, action="auth.kiosk_login")
    assert [(e["actor"], e["deviceId"]) for e in entries] == [("kiosk:KIOSK-1", kiosk["id"])] * 2


async def test_logins_are_rate_limited(client: httpx.AsyncClient) -> None:
    await _user_with_role(client, "mia", ["view"])
    await _user_with_role(client, "max", ["view"])
    # a success starts the name afresh
    for _ in range(MAX_FAILURES_PER_NAME - 1):
        err(await login(client, "mia", "wrong password!"), 401, "InvalidCredentials")
    ok(await login(client, "mia"))
    for _ in range(MAX_FAILURES_PER_NAME):
        err(await login(client, "mia", "wrong password!"), 401, "InvalidCredentials")
    r = await login(client, "mia")  # the right password, too late
    body = err(r, 429, "TooManyAttempts")
    assert 240 <= int(r.headers["Retry-After"]) <= 300 and body["retryAfter"] == int(r.headers["Retry-After"])
    ok(await login(client, "max"))  # another name from the same address is not blocked
    # the address: failures on many names
    used = 2 * MAX_FAILURES_PER_NAME - 1
    names = [f"ghost{i}" for i in range(MAX_FAILURES_PER_IP - used)]
    await asyncio.gather(*(login(client, name, "wrong password!") for name in names))
    err(await login(client, "max"), 429, "TooManyAttempts")
    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "ANY", "password": "x"}),
        429, "TooManyAttempts")


# -- permissions ------------------------------------------------------------------------------------
READERS = {"operator", "viewer"}
OPERATORS = {"operator"}
ADMINS: set[str] = set()
# (method, path, body, roles besides admin that may call it); the ids do not exist, so an allowed
# call answers 404 or 422 and a refused one 403, and nothing changes either way
MATRIX: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/api/shifts", None, READERS),
    ("PATCH", f"/api/shifts/{MISSING}", {"name": "x"}, OPERATORS),
    ("DELETE", f"/api/shifts/{MISSING}", None, OPERATORS),
    ("GET", "/api/shift-devices", None, READERS),
    ("POST", "/api/shift-devices", {}, OPERATORS),
    ("GET", "/api/devices", None, READERS),
    ("GET", "/api/devices/status", None, READERS),
    ("POST", "/api/devices", {}, OPERATORS),
    ("DELETE", f"/api/devices/{MISSING}", None, OPERATORS),
    ("GET", "/api/bays", None, READERS),
    ("POST", f"/api/bays/{MISSING}/assign-device", {"deviceId": 1}, OPERATORS),
    ("POST", f"/api/bays/{MISSING}/assign-user", {"userId": 1}, OPERATORS),
    ("POST", f"/api/bays/{MISSING}/unassign-device", None, OPERATORS),
    ("GET", "/api/admin/lockers", None, READERS | {"kiosk"}),
    ("GET", f"/api/admin/lockers/{MISSING}", None, READERS | {"kiosk"}),
    ("GET", "/api/admin/lockers/maintenance", None, READERS),
    ("POST", "/api/admin/lockers", {}, OPERATORS),
    ("PATCH", f"/api/admin/lockers/{MISSING}", {}, OPERATORS),
    ("DELETE", f"/api/admin/lockers/{MISSING}", None, OPERATORS),
    ("GET", "/api/admin/locker-types", None, READERS),
    ("POST", "/api/admin/locker-types", {}, OPERATORS),
    ("PATCH", f"/api/admin/locker-types/{MISSING}", {}, OPERATORS),
    ("GET", "/api/admin/banks", None, READERS),
    ("POST", "/api/admin/banks", {}, OPERATORS),
    ("DELETE", f"/api/admin/banks/{MISSING}", None, OPERATORS),
    ("GET", "/api/users", None, READERS),
    ("GET", f"/api/users/{MISSING}", None, READERS),
    ("POST", "/api/users", {}, ADMINS),
    ("PATCH", f"/api/users/{MISSING}", {"name": "x"}, ADMINS),
    ("DELETE", f"/api/users/{MISSING}", None, ADMINS),
    ("GET", "/api/groups", None, READERS),
    ("POST", "/api/groups", {}, OPERATORS),
    ("POST", f"/api/groups/{MISSING}/members", {"userIds": [1]}, OPERATORS),
    ("DELETE", f"/api/groups/{MISSING}", None, OPERATORS),
    ("GET", "/api/locations", None, READERS),
    ("POST", "/api/locations", {}, OPERATORS),
    ("PATCH", f"/api/locations/{MISSING}", {}, OPERATORS),
    ("POST", f"/api/locations/{MISSING}/areas", {"name": "x"}, OPERATORS),
    ("GET", "/api/roles", None, READERS),
    ("POST", "/api/roles", {}, ADMINS),
    ("PATCH", f"/api/roles/{MISSING}", {}, ADMINS),
    ("DELETE", f"/api/roles/{MISSING}", None, ADMINS),
    ("GET", "/api/countries", None, READERS),
    ("GET", "/api/logs", None, READERS),
]


async def test_permission_matrix(client: httpx.AsyncClient) -> None:
    ok(await client.post("/api/devices", json={"code": "KIOSK-1", "name": "K", "password": "kiosk secret 1"}), 201)
    login_answer = ok(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-1",
                                                                       "password": "kiosk secret 1"}))
    headers = {role: await role_headers(client, role) for role in ("operator", "viewer", "integrator")}
    headers["kiosk"] = {"Authorization": f"Bearer {login_answer['token']}"}
    headers["admin"] = ADMIN
    wrong: list[str] = []
    for method, path, body, allowed in MATRIX:
        r = await client.request(method, path, json=body, headers={"Authorization": ""})
        if r.status_code != 401:
            wrong.append(f"no token: {method} {path} -> {r.status_code}")
        for role, h in headers.items():
            r = await client.request(method, path, json=body, headers=h)
            may = role == "admin" or role in allowed
            if may and (r.status_code in (401, 403) or r.status_code >= 500):
                wrong.append(f"{role}: {method} {path} -> {r.status_code} {r.text}")
            if not may and r.status_code != 403:
                wrong.append(f"{role} should be refused: {method} {path} -> {r.status_code}")
    assert not wrong, "\n".join(wrong)
    # the logins need no token
    for path, body in (("/api/auth/admin-login", {"username": "u", "password": "p"}),
                       ("/api/auth/kiosk-login", {"deviceCode": "d", "password": "p"})):
        err(await client.post(path, json=body, headers={"Authorization": ""}), 401, "InvalidCredentials")
