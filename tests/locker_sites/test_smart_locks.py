"""The smart-lock API of seed 003 against the running stack, its bridge driving an emulated board
on a pty (LOCKER-A-01..04): the documented list shape, paging, unlock that really opens the door,
door events in the history, grants with time windows, lock groups, and who may do what."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.auth import create_token
from chargebay.stack import Stack
from csms.timeutil import now_utc
from locker_bridge.emulator import Emulator, Fault
from lockers.models import Device, LockerType, User
from tests.helpers import rows
from tests.locker_sites.conftest import audit_actions, locker_id, until

LOCK_FIELDS = ["lockuserid", "lockid", "lockname", "lock_open_status", "lock_online_status",
               "battery_level", "lock_ssid", "lock_password", "mac_address", "temperature",
               "lock_model", "online_updated_date", "lock_pic"]
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
PAGE = {"pagenumber": 1, "limit": 10}


async def add_user(stack: Stack, username: str, *, active: bool = True) -> int:
    """No user API here: a user row, as the back office would store it."""
    async with stack.central.engine.begin() as conn:
        result = await conn.execute(User.__table__.insert().values(
            username=username, name=username.title(), active=active, created_at=now_utc()))
    return int(result.inserted_primary_key[0])


async def execute(stack: Stack, sql: str, **params: Any) -> None:
    async with stack.central.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def token_for(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    r = await client.post("/api/v1/tokens", json={"name": f"{role}-token", "role": role})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def events(client: httpx.AsyncClient, lockid: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/locks/{lockid}/events", params={"pagenumber": 1, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["eventslist"]  # type: ignore[no-any-return]


def failed(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The vendor's failure envelope, whatever went wrong."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == 0 and isinstance(body["msg"], str) and body["msg"], body
    if code is not None:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


# -- the documented list ----------------------------------------------------------------------
async def test_locks_list_has_exactly_the_documented_shape(site: Stack, client: httpx.AsyncClient) -> None:
    user = await add_user(site, "alice")
    async with site.central.engine.begin() as conn:
        made = await conn.execute(LockerType.__table__.insert().values(name="Phone M", size="M"))
    await execute(site, "UPDATE lockers SET locker_type_id = :t, assigned_user_id = :u "
                        "WHERE identity = 'LOCKER-A-02'", t=int(made.inserted_primary_key[0]), u=user)
    await site.central.writer.flush()  # the CSMS's batched "last seen" of each bay
    r = await client.get("/api/locks", params=PAGE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["status", "msg", "totalCount", "totalPage", "currentPage", "lockslist"]
    assert (body["status"], body["msg"], body["totalCount"], body["totalPage"], body["currentPage"]) \
        == (1, "", 4, 1, 1)
    locks = body["lockslist"]
    assert [lock["lockid"] for lock in locks] == [f"LOCKER-A-0{n}" for n in range(1, 5)]
    for lock in locks:
        assert list(lock) == LOCK_FIELDS
        assert lock["lock_ssid"] == lock["lockid"] and lock["lockname"].startswith("LOCKER-A bay ")
        for flag in ("lock_open_status", "lock_online_status"):
            assert type(lock[flag]) is int and lock[flag] in (0, 1)
        assert lock["lock_open_status"] == 0 and lock["lock_online_status"] == 1  # booted, shut
        assert DATE.fullmatch(lock["online_updated_date"]), lock
        assert all(lock[k] is None for k in ("battery_level", "lock_password", "mac_address",
                                             "temperature", "lock_pic"))
    first, second = locks[0], locks[1]
    assert (first["lockuserid"], first["lock_model"]) == (None, "locker-bay")
    assert (second["lockuserid"], second["lock_model"], second["lockname"]) \
        == (user, "Phone M", "LOCKER-A bay 2")


async def test_paging_search_and_the_limit_cap(site: Stack, client: httpx.AsyncClient) -> None:
    async def page(**params: Any) -> dict[str, Any]:
        r = await client.get("/api/locks", params=params)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    one = await page(pagenumber=1, limit=3)
    assert (one["totalCount"], one["totalPage"], one["currentPage"], len(one["lockslist"])) == (4, 2, 1, 3)
    two = await page(pagenumber=2, limit=3)
    assert (two["currentPage"], [x["lockid"] for x in two["lockslist"]]) == (2, ["LOCKER-A-04"])
    beyond = await page(pagenumber=9, limit=3)
    assert (beyond["totalPage"], beyond["currentPage"], beyond["lockslist"]) == (2, 9, [])
    capped = await page(pagenumber=1, limit=100000)
    assert (capped["totalPage"], len(capped["lockslist"])) == (1, 4)
    assert [x["lockid"] for x in (await page(pagenumber=1, limit=10, searchkey="a-02"))["lockslist"]] \
        == ["LOCKER-A-02"]
    assert [x["lockid"] for x in (await page(pagenumber=1, limit=10, searchkey="Bay 3"))["lockslist"]] \
        == ["LOCKER-A-03"]
    for nothing in ("%", "_", "LOCKER-B"):  # wildcards are taken literally
        empty = await page(pagenumber=1, limit=10, searchkey=nothing)
        assert (empty["totalCount"], empty["totalPage"], empty["lockslist"]) == (0, 0, [])


@pytest.mark.parametrize("params, says", [
    ({}, "pagenumber is required"),
    ({"pagenumber": 1}, "limit is required"),
    ({"limit": 10}, "pagenumber is required"),
    ({"pagenumber": "one", "limit": 10}, "pagenumber must be a whole number"),
    ({"pagenumber": "", "limit": 10}, "pagenumber must be a whole number"),
    ({"pagenumber": 1.5, "limit": 10}, "pagenumber must be a whole number"),
    ({"pagenumber": 0, "limit": 10}, "pagenumber must be at least 1"),
    ({"pagenumber": 1, "limit": -5}, "limit must be at least 1"),
    ({"pagenumber": 10**30, "limit": 10}, None),  # far beyond the last page: an empty page
])
async def test_missing_or_bad_paging_is_a_vendor_style_400(site: Stack, client: httpx.AsyncClient,
                                                           params: dict[str, Any], says: str | None) -> None:
    for path in ("/api/locks", "/api/locks/LOCKER-A-01/events"):
        r = await client.get(path, params=params)
        if says is None:
            assert r.status_code == 200 and r.json()["status"] == 1, r.text
            continue
        body = failed(r, 400, "BadRequest")
        assert says in body["msg"], body


# -- unlock, lock, status and the history -----------------------------------------------------
async def test_unlock_opens_the_emulated_door_and_the_door_event_is_in_the_history(
        site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    r = await client.post("/api/locks/LOCKER-A-02/lock")  # shut: already locked
    assert r.status_code == 200 and r.json()["status"] == 1, r.text
    assert "nothing was sent to the board" in r.json()["msg"]

    r = await client.post("/api/locks/LOCKER-A-02/unlock")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 1 and r.json()["lock_open_status"] == 1 and r.json()["door"] == "open"
    assert bay.door_open
    lid = await locker_id(site, "LOCKER-A-02")
    await until(lambda: logged(site, lid, "door.opened"))
    status = (await client.get("/api/locks/LOCKER-A-02/status")).json()
    assert (status["status"], status["lock_open_status"], status["lock_online_status"], status["door"]) \
        == (1, 1, 1, "open")
    listed = (await client.get("/api/locks", params={**PAGE, "searchkey": "A-02"})).json()
    assert listed["lockslist"][0]["lock_open_status"] == 1

    r = await client.post("/api/locks/LOCKER-A-02/lock")  # open: it cannot be locked from here
    body = failed(r, 409, "DoorOpen")
    assert body["lock_open_status"] == 1 and "nothing was sent to the board" in body["msg"]
    bay.close_door()
    await until(lambda: logged(site, lid, "door.closed"))
    r = await client.post("/api/locks/LOCKER-A-02/lock")
    assert r.status_code == 200 and r.json()["lock_open_status"] == 0

    history = await events(client, "LOCKER-A-02")
    names = [e["event"] for e in history]  # newest first; the board's event may beat the open's entry
    assert names[:3] == ["lock.lock", "door.closed", "lock.lock"] and names[-1] == "lock.lock"
    assert sorted(names[3:5]) == ["door.opened", "locker.open"]
    by_name = {e["event"]: e for e in history}
    assert by_name["locker.open"]["actor"] == "CHARGEBAY_API_TOKEN"
    assert by_name["locker.open"]["details"]["success"] is True
    assert by_name["door.opened"]["actor"] == "board" and DATE.fullmatch(by_name["door.opened"]["date"])
    r = await client.get("/api/locks/LOCKER-A-02/events", params={"pagenumber": 2, "limit": 4})
    paged = r.json()
    assert (paged["totalCount"], paged["totalPage"], paged["currentPage"]) == (6, 2, 2)
    assert [e["event"] for e in paged["eventslist"]] == names[4:]
    assert (await events(client, "LOCKER-A-01")) == []  # the other locks saw nothing


async def logged(stack: Stack, lid: int, action: str) -> bool:
    """Door events reach the audit log asynchronously, from the bridge's door listener."""
    return action in await audit_actions(stack, lid)


async def test_a_door_that_stays_shut_is_a_failed_unlock(site: Stack, client: httpx.AsyncClient,
                                                         emu: Emulator) -> None:
    emu.inject(Fault.STUCK_DOOR, times=1)
    body = failed(await client.post("/api/locks/LOCKER-A-03/unlock"), 409, "UnlockFailed")
    assert "did not open" in body["msg"] and body["lock_open_status"] == 0
    assert not emu.boards[1].bays[3].door_open
    [entry] = await events(client, "LOCKER-A-03")
    assert (entry["event"], entry["details"]["success"]) == ("locker.open", False)
    failed(await client.post("/api/locks/NOPE/unlock"), 404, "LockNotFound")
    failed(await client.get("/api/locks/NOPE/status"), 404, "LockNotFound")
    failed(await client.post("/api/locks/LOCKER-A-03/unlock", content=b"{nope",
                             headers={"Content-Type": "application/json"}), 400, "BadRequest")


# -- grants -----------------------------------------------------------------------------------
async def test_grants_open_inside_their_window_only(site: Stack, client: httpx.AsyncClient,
                                                    emu: Emulator) -> None:
    inside, later, expired, stranger = [await add_user(site, n) for n in ("in", "later", "old", "who")]
    disabled = await add_user(site, "off", active=False)
    now = now_utc()
    iso = lambda d: d.isoformat()  # noqa: E731
    windows = {inside: {"from": iso(now - timedelta(hours=1)), "until": iso(now + timedelta(hours=1))},
               later: {"from": iso(now + timedelta(days=1))},
               expired: {"until": iso(now - timedelta(minutes=1))},
               disabled: {}}
    grants = {}
    for user, window in windows.items():
        r = await client.post("/api/locks/LOCKER-A-01/access", json={"userid": user, **window})
        assert r.status_code == 201 and r.json()["status"] == 1, r.text
        grants[user] = r.json()["grant"]
    assert grants[inside]["active"] is True and grants[later]["active"] is False
    assert DATE.fullmatch(grants[inside]["from"]) and grants[later]["until"] is None

    listed = (await client.get("/api/locks/LOCKER-A-01/access")).json()
    assert [g["userid"] for g in listed["accesslist"]] == [inside, later, expired, disabled]
    assert listed["accesslist"][0]["username"] == "in"

    # Outside the window, no grant, disabled: refused with the reason, the door untouched.
    for user, says in ((later, "outside its time window"), (expired, "outside its time window"),
                       (stranger, "has no access"), (disabled, "is disabled")):
        body = failed(await client.post("/api/locks/LOCKER-A-01/unlock", json={"userid": user}),
                      403, "AccessDenied")
        assert says in body["msg"], body
    failed(await client.post("/api/locks/LOCKER-A-01/unlock", json={"userid": 999}), 404, "UserNotFound")
    assert not emu.boards[1].bays[1].door_open
    # A grant for one lock opens no other.
    failed(await client.post("/api/locks/LOCKER-A-04/unlock", json={"userid": inside}), 403, "AccessDenied")

    r = await client.post("/api/locks/LOCKER-A-01/unlock", json={"userid": inside})
    assert r.status_code == 200 and r.json()["status"] == 1 and r.json()["userid"] == inside, r.text
    assert emu.boards[1].bays[1].door_open
    checks = [e for e in await events(client, "LOCKER-A-01") if e["event"] == "lock.access"]
    assert [(e["userid"], e["details"]["allowed"]) for e in checks][:1] == [(inside, True)]
    assert sorted(e["userid"] for e in checks if not e["details"]["allowed"]) \
        == sorted([later, expired, stranger, disabled])
    assert checks[0]["details"]["grantid"] == grants[inside]["grantid"]

    # Revoked: refused again.
    r = await client.delete(f"/api/locks/LOCKER-A-01/access/{grants[inside]['grantid']}")
    assert r.status_code == 200 and r.json()["status"] == 1
    failed(await client.post("/api/locks/LOCKER-A-01/unlock", json={"userid": inside}), 403, "AccessDenied")
    failed(await client.delete(f"/api/locks/LOCKER-A-01/access/{grants[inside]['grantid']}"),
           404, "GrantNotFound")
    failed(await client.delete(f"/api/locks/LOCKER-A-02/access/{grants[later]['grantid']}"),
           404, "GrantNotFound")  # not that lock's grant

    # Bad grants.
    failed(await client.post("/api/locks/LOCKER-A-01/access", json={
        "userid": inside, "from": iso(now), "until": iso(now)}), 400, "BadWindow")
    failed(await client.post("/api/locks/LOCKER-A-01/access", json={"userid": 999}), 404, "UserNotFound")
    failed(await client.post("/api/locks/LOCKER-A-01/access", json={"from": iso(now)}), 400, "BadRequest")
    actions = await audit_actions(site, await locker_id(site, "LOCKER-A-01"))
    assert actions.count("lock.grant") == 4 and actions.count("lock.revoke") == 1


# -- groups -----------------------------------------------------------------------------------
async def test_lock_groups(site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    r = await client.post("/api/lock-groups", json={"groupname": " Ground floor ",
                                                     "lockids": ["LOCKER-A-01", "LOCKER-A-02"]})
    assert r.status_code == 201, r.text
    group = r.json()["group"]
    gid = group["groupid"]
    assert (group["groupname"], group["lockids"]) == ("Ground floor", ["LOCKER-A-01", "LOCKER-A-02"])
    assert [list(lock) for lock in group["lockslist"]] == [LOCK_FIELDS, LOCK_FIELDS]
    failed(await client.post("/api/lock-groups", json={"groupname": "Ground floor"}), 409, "GroupExists")
    body = failed(await client.post("/api/lock-groups", json={"groupname": "Upstairs",
                                                               "lockids": ["LOCKER-A-03", "NOPE"]}),
                  404, "LockNotFound")
    assert body["unknown"] == ["NOPE"]
    empty = (await client.post("/api/lock-groups", json={"groupname": "Empty"})).json()["group"]["groupid"]

    r = await client.post(f"/api/lock-groups/{gid}/locks", json={"lockids": ["LOCKER-A-04", "LOCKER-A-01"]})
    assert r.status_code == 200 and r.json()["added"] == ["LOCKER-A-04"], r.text
    r = await client.delete(f"/api/lock-groups/{gid}/locks/LOCKER-A-02")
    assert r.status_code == 200 and r.json()["status"] == 1
    failed(await client.delete(f"/api/lock-groups/{gid}/locks/LOCKER-A-02"), 404, "LockNotInGroup")
    listed = (await client.get("/api/lock-groups")).json()
    assert [(g["groupname"], g["lockids"]) for g in listed["groupslist"]] == [
        ("Empty", []), ("Ground floor", ["LOCKER-A-01", "LOCKER-A-04"])]
    assert (listed["totalCount"], listed["totalPage"]) == (2, 1)

    emu.inject(Fault.STUCK_DOOR, times=1, bay=4)
    r = await client.post(f"/api/lock-groups/{gid}/unlock")
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["status"], result["msg"]) == (0, "1 of 2 locks opened")
    assert [(x["lockid"], x["status"]) for x in result["results"]] == [("LOCKER-A-01", 1), ("LOCKER-A-04", 0)]
    assert emu.boards[1].bays[1].door_open and not emu.boards[1].bays[4].door_open
    r = await client.post(f"/api/lock-groups/{gid}/unlock")
    assert r.json()["status"] == 1 and emu.boards[1].bays[4].door_open
    failed(await client.post(f"/api/lock-groups/{empty}/unlock"), 409, "NothingToOpen")

    assert (await client.delete(f"/api/lock-groups/{gid}")).json()["status"] == 1
    failed(await client.get(f"/api/lock-groups/{gid}"), 404, "GroupNotFound")
    failed(await client.get("/api/lock-groups/99999999999999999999"), 400, "BadRequest")
    logged = [r["action"] for r in await rows(site, "SELECT action FROM audit_log WHERE action LIKE 'lockgroup.%'")]
    assert logged.count("lockgroup.create") == 2 and logged.count("lockgroup.unlock") == 2
    assert {"lockgroup.add", "lockgroup.remove", "lockgroup.delete"} <= set(logged)
    [unlocked, _] = [json.loads(r["details"]) for r in await rows(
        site, "SELECT details FROM audit_log WHERE action = 'lockgroup.unlock' ORDER BY id")]
    assert (unlocked["opened"], unlocked["failed"]) == (["LOCKER-A-01"], ["LOCKER-A-04"])


# -- who may do what --------------------------------------------------------------------------
async def test_permissions_per_role(site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    viewer, operator, integrator = [await token_for(client, role)
                                    for role in ("viewer", "operator", "integrator")]
    async with site.central.engine.begin() as conn:
        made = await conn.execute(Device.__table__.insert().values(
            code="KIOSK-1", name="Kiosk 1", kind="kiosk", ports="[]", created_at=now_utc()))
        device = int(made.inserted_primary_key[0])
    await execute(site, "UPDATE lockers SET device_id = :d WHERE identity IN ('LOCKER-A-01', 'LOCKER-A-02')",
                  d=device)
    _, secret = await create_token(site.central.engine, "kiosk-1", "kiosk", device_id=device)
    kiosk = {"Authorization": f"Bearer {secret}"}
    user = await add_user(site, "bob")
    gid = (await client.post("/api/lock-groups", json={"groupname": "G", "lockids": ["LOCKER-A-03"]})
           ).json()["group"]["groupid"]

    async def call(headers: dict[str, str], method: str, path: str, **kw: Any) -> httpx.Response:
        return await client.request(method, path, headers=headers, **kw)

    reads = [("GET", "/api/locks", {"params": PAGE}), ("GET", "/api/locks/LOCKER-A-01/status", {}),
             ("GET", "/api/locks/LOCKER-A-01/events", {"params": PAGE})]
    admin_reads = [("GET", "/api/locks/LOCKER-A-01/access", {}), ("GET", "/api/lock-groups", {}),
                   ("GET", f"/api/lock-groups/{gid}", {})]
    acts = [("POST", "/api/locks/LOCKER-A-01/unlock", {}), ("POST", "/api/locks/LOCKER-A-01/lock", {})]
    manages = [("POST", "/api/locks/LOCKER-A-01/access", {"json": {"userid": user}}),
               ("POST", "/api/lock-groups", {"json": {"groupname": "G2"}}),
               ("POST", f"/api/lock-groups/{gid}/locks", {"json": {"lockids": ["LOCKER-A-04"]}}),
               ("POST", f"/api/lock-groups/{gid}/unlock", {})]
    allowed = {"viewer": reads + admin_reads, "kiosk": reads + acts,
               "operator": reads + admin_reads + acts + manages, "integrator": []}
    everything = reads + admin_reads + acts + manages
    for role, headers in (("viewer", viewer), ("kiosk", kiosk), ("integrator", integrator),
                          ("operator", operator)):
        for method, path, kw in everything:
            r = await call(headers, method, path, **kw)
            if (method, path, kw) in allowed[role]:
                assert r.status_code in (200, 201, 409), (role, method, path, r.text)  # 409: door open
            else:
                failed(r, 403, "Forbidden")
    failed(await client.get("/api/locks", params=PAGE, headers={"Authorization": "Bearer nope"}),
           401, "Unauthorized")

    # A kiosk sees only its device's lockers; the others do not exist for it.
    listed = (await call(kiosk, "GET", "/api/locks", params=PAGE)).json()
    assert [x["lockid"] for x in listed["lockslist"]] == ["LOCKER-A-01", "LOCKER-A-02"]
    assert listed["totalCount"] == 2
    for method, path in (("POST", "/api/locks/LOCKER-A-03/unlock"), ("GET", "/api/locks/LOCKER-A-03/status"),
                         ("GET", "/api/locks/LOCKER-A-03/events")):
        failed(await call(kiosk, method, path, params=PAGE), 404, "LockNotFound")
    r = await call(kiosk, "POST", "/api/locks/LOCKER-A-02/unlock")
    assert r.status_code == 200 and emu.boards[1].bays[2].door_open
    opens = await rows(site, "SELECT actor FROM audit_log WHERE action = 'locker.open' AND locker_id = :l",
                       l=await locker_id(site, "LOCKER-A-02"))
    assert [o["actor"] for o in opens] == ["kiosk-1"]
