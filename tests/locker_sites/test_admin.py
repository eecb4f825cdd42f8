"""The locker back office (seed 000 "Web") against a running stack: the bridge embedded in front of
an emulated board on a real pty, the database real. Every endpoint group is driven through its
CRUD, search, paging and error codes; a locker added over REST is driven by the bridge and really
opens the emulated door; logins, kiosk scoping, rate limiting and a permission matrix per role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from api.vendor.web.auth import MAX_FAILURES_PER_IP, MAX_FAILURES_PER_NAME
from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from lockers.models import Device, Locker, Rental
from lockers.audit import now_utc
from tests.helpers import rows
from tests.locker_bridge.conftest import bridge_yaml, bridged
from tests.locker_sites.conftest import ADMIN, audit_actions, locker_id, until

ADMIN_NAME = "CHARGEBAY_API_TOKEN"  # the configured admin token's name: the audit log's actor
MISSING = 999_999


# -- helpers --------------------------------------------------------------------------------------
def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), (r.request.url, r.text)
    return r.json()  # type: ignore[no-any-return]


async def logs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = ok(await client.get("/api/logs", params={"page_size": 1000, **params}))
    return answer["items"]  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Any]:
    """One field of every item of a list answer."""
    return [item[key] for item in ok(await client.get(path, params=params))["items"]]


async def role_headers(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    token = ok(await client.post("/api/v1/tokens", json={"name": f"t-{role}", "role": role}), 201)["token"]
    return {"Authorization": f"Bearer {token}"}


async def bank_id(client: httpx.AsyncClient, name: str = "LOCKER-A") -> int:
    [bank] = ok(await client.get("/api/admin/banks", params={"q": name}))["items"]
    return int(bank["id"])


async def set_locker(site: Stack, lid: int, **values: Any) -> None:
    async with site.central.engine.begin() as conn:
        await conn.execute(update(Locker.__table__).where(Locker.__table__.c.id == lid).values(**values))


# -- shifts and shift devices ---------------------------------------------------------------------
async def test_shifts_crud_search_paging_and_audit(client: httpx.AsyncClient) -> None:
    morning = ok(await client.post("/api/shifts", json={
        "name": "Morning", "starts": "06:00", "ends": "14:00", "days": [5, 1, 1, 3]}), 201)
    assert morning["days"] == [1, 3, 5]  # a set: sorted, no repeats
    ok(await client.post("/api/shifts", json={"name": "Late", "starts": "14:00", "ends": "22:00"}), 201)
    night = ok(await client.post("/api/shifts", json={"name": "Night", "starts": "22:00", "ends": "06:00"}), 201)
    assert night["days"] == [1, 2, 3, 4, 5, 6, 7]
    err(await client.post("/api/shifts", json={"name": "Morning", "starts": "07:00", "ends": "08:00"}),
        409, "ShiftExists")
    for bad in ({"name": "X", "starts": "24:00", "ends": "08:00"}, {"name": "X", "starts": "7:00", "ends": "08:00"},
                {"name": "X", "starts": "07:00", "ends": "08:00", "days": [0]},
                {"name": "X", "starts": "07:00", "ends": "08:00", "days": []},
                {"name": " ", "starts": "07:00", "ends": "08:00"},
                {"name": "X", "starts": "07:00", "ends": "08:00", "colour": "red"}):
        body = err(await client.post("/api/shifts", json=bad), 422, "ValidationError")
        assert body["fields"]

    page = ok(await client.get("/api/shifts", params={"page_size": 2}))
    assert page["total"] == 3 and [s["name"] for s in page["items"]] == ["Morning", "Late"]
    page2 = ok(await client.get("/api/shifts", params={"page_size": 2, "page": 2}))
    assert [s["name"] for s in page2["items"]] == ["Night"]
    assert await listed(client, "/api/shifts", "name", q="IGH") == ["Night"]
    assert ok(await client.get("/api/shifts", params={"q": "%"}))["total"] == 0  # no wildcards

    assert ok(await client.get(f"/api/shifts/{night['id']}")) == night
    err(await client.get(f"/api/shifts/{MISSING}"), 404, "ShiftNotFound")
    err(await client.get("/api/shifts/0"), 422, "ValidationError")
    edited = ok(await client.patch(f"/api/shifts/{night['id']}", json={"ends": "05:30", "days": [7, 6]}))
    assert (edited["name"], edited["ends"], edited["days"]) == ("Night", "05:30", [6, 7])
    err(await client.patch(f"/api/shifts/{night['id']}", json={"name": "Late"}), 409, "ShiftExists")
    err(await client.patch(f"/api/shifts/{night['id']}", json={"name": None}), 422, "ValidationError")
    err(await client.patch(f"/api/shifts/{MISSING}", json={"ends": "05:00"}), 404, "ShiftNotFound")
    ok(await client.delete(f"/api/shifts/{night['id']}"), 204)
    err(await client.delete(f"/api/shifts/{night['id']}"), 404, "ShiftNotFound")

    entries = await logs(client, action="shift.")
    assert [e["action"] for e in entries] == ["shift.delete", "shift.edit", "shift.add", "shift.add", "shift.add"]
    assert {e["actor"] for e in entries} == {ADMIN_NAME}
    assert entries[1]["details"] == {"shift_id": night["id"], "ends": "05:30", "days": [6, 7]}


async def test_shift_devices(client: httpx.AsyncClient) -> None:
    shift = ok(await client.post("/api/shifts", json={"name": "Early", "starts": "05:00", "ends": "13:00"}), 201)
    other = ok(await client.post("/api/shifts", json={"name": "Day", "starts": "09:00", "ends": "17:00"}), 201)
    k1 = ok(await client.post("/api/devices", json={"code": "K1", "name": "Kiosk one"}), 201)
    k2 = ok(await client.post("/api/devices", json={"code": "K2", "name": "Kiosk two"}), 201)
    entry = ok(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": k1["id"]}), 201)
    assert entry == {"id": entry["id"], "shiftId": shift["id"], "shiftName": "Early", "deviceId": k1["id"],
                     "deviceCode": "K1", "deviceName": "Kiosk one"}
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": k1["id"]}),
        409, "ShiftDeviceExists")
    err(await client.post("/api/shift-devices", json={"shiftId": MISSING, "deviceId": k1["id"]}),
        404, "ShiftNotFound")
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": MISSING}),
        404, "DeviceNotFound")
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"]}), 422, "ValidationError")
    second = ok(await client.post("/api/shift-devices", json={"shiftId": other["id"], "deviceId": k1["id"]}), 201)
    ok(await client.post("/api/shift-devices", json={"shiftId": other["id"], "deviceId": k2["id"]}), 201)

    assert ok(await client.get("/api/shift-devices"))["total"] == 3
    assert ok(await client.get("/api/shift-devices", params={"shiftId": other["id"]}))["total"] == 2
    assert ok(await client.get("/api/shift-devices", params={"deviceId": k1["id"]}))["total"] == 2
    assert await listed(client, "/api/shift-devices", "deviceCode", q="two") == ["K2"]
    assert len(ok(await client.get("/api/shift-devices", params={"page_size": 1, "page": 3}))["items"]) == 1

    err(await client.patch(f"/api/shift-devices/{second['id']}", json={"deviceId": k2["id"]}),
        409, "ShiftDeviceExists")
    moved = ok(await client.patch(f"/api/shift-devices/{entry['id']}", json={"deviceId": k2["id"]}))
    assert (moved["shiftName"], moved["deviceCode"]) == ("Early", "K2")
    err(await client.patch(f"/api/shift-devices/{MISSING}", json={"deviceId": k2["id"]}), 404, "ShiftDeviceNotFound")
    ok(await client.delete(f"/api/shift-devices/{entry['id']}"), 204)
    err(await client.get(f"/api/shift-devices/{entry['id']}"), 404, "ShiftDeviceNotFound")
    ok(await client.delete(f"/api/shifts/{other['id']}"), 204)  # its devices go with it
    assert ok(await client.get("/api/shift-devices"))["total"] == 0
    assert [e["action"] for e in await logs(client, action="shift_device.")] == [
        "shift_device.delete", "shift_device.edit", "shift_device.add", "shift_device.add", "shift_device.add"]


# -- devices ----------------------------------------------------------------------------------------
async def test_devices_crud(site: Stack, client: httpx.AsyncClient) -> None:
    loc = ok(await client.post("/api/locations", json={"name": "Station"}), 201)
    other = ok(await client.post("/api/locations", json={"name": "Airport"}), 201)
    area = ok(await client.post(f"/api/locations/{loc['id']}/areas", json={"name": "Hall"}), 201)
    kiosk = ok(await client.post("/api/devices", json={
        "code": "KIOSK-1", "name": "Lobby kiosk", "ports": ["COM2", "COM1", "COM2"],
        "areaId": area["id"], "password": "kiosk secret 1"}), 201)
    assert kiosk["ports"] == ["COM1", "COM2"] and kiosk["kind"] == "kiosk"
    assert (kiosk["locationId"], kiosk["areaId"]) == (loc["id"], area["id"])  # the area's location
    assert kiosk["hasPassword"] is True and kiosk["online"] is False and kiosk["lastHeartbeatAt"] is None
    assert "password" not in kiosk and "password_hash" not in kiosk
    [stored] = await rows(site, "SELECT password_hash FROM devices WHERE id = :i", i=kiosk["id"])
    assert stored["password_hash"].startswith("scrypt$") and "kiosk secret 1" not in stored["password_hash"]
    ok(await client.post("/api/devices", json={"code": "CTRL-1", "name": "Controller", "kind": "controller"}), 201)

    err(await client.post("/api/devices", json={"code": "KIOSK-1", "name": "Again"}), 409, "DeviceExists")
    err(await client.post("/api/devices", json={"code": "has space", "name": "X"}), 422, "ValidationError")
    err(await client.post("/api/devices", json={"code": "K9", "name": "X", "kind": "toaster"}),
        422, "ValidationError")
    err(await client.post("/api/devices", json={"code": "K9", "name": "X", "password": "short"}),
        422, "ValidationError")
    err(await client.post("/api/devices", json={"code": "K9", "name": "X", "locationId": MISSING}),
        404, "LocationNotFound")
    err(await client.post("/api/devices", json={"code": "K9", "name": "X", "areaId": MISSING}), 404, "AreaNotFound")
    err(await client.post("/api/devices", json={"code": "K9", "name": "X", "locationId": other["id"],
                                                "areaId": area["id"]}), 422, "AreaNotInLocation")

    assert ok(await client.get("/api/devices"))["total"] == 2
    assert await listed(client, "/api/devices", "code", q="lobby") == ["KIOSK-1"]
    assert await listed(client, "/api/devices", "code", kind="controller") == ["CTRL-1"]
    assert ok(await client.get("/api/devices", params={"locationId": loc["id"]}))["total"] == 1
    assert await listed(client, "/api/devices", "code", page_size=1, page=2) == ["KIOSK-1"]
    assert ok(await client.get(f"/api/devices/{kiosk['id']}"))["code"] == "KIOSK-1"
    err(await client.get(f"/api/devices/{MISSING}"), 404, "DeviceNotFound")

    moved = ok(
        await client.patch(f"/api/devices/{kiosk['id']}", json={"name": "East kiosk", "locationId": other["id"]}))
    assert (moved["name"], moved["locationId"], moved["areaId"]) == ("East kiosk", other["id"], None)
    err(await client.patch(f"/api/devices/{kiosk['id']}", json={"areaId": area["id"]}), 422, "AreaNotInLocation")
    cleared = ok(await client.patch(f"/api/devices/{kiosk['id']}", json={"password": None, "ports": []}))
    assert cleared["hasPassword"] is False and cleared["ports"] == []
    err(await client.patch(f"/api/devices/{kiosk['id']}", json={"code": "CTRL-1"}), 409, "DeviceExists")
    err(await client.patch(f"/api/devices/{kiosk['id']}", json={"code": None}), 422, "ValidationError")
    err(await client.patch(f"/api/devices/{MISSING}", json={"name": "X"}), 404, "DeviceNotFound")
    ok(await client.delete(f"/api/devices/{kiosk['id']}"), 204)
    err(await client.delete(f"/api/devices/{kiosk['id']}"), 404, "DeviceNotFound")

    entries = await logs(client, deviceId=kiosk["id"])
    assert [e["action"] for e in entries] == ["device.delete", "device.edit", "device.edit", "device.add"]
    assert entries[1]["details"]["password"] == "changed" and "kiosk secret 1" not in str(entries)


async def test_devices_status_from_heartbeats(site: Stack, client: httpx.AsyncClient) -> None:
    ids = {code: ok(await client.post("/api/devices", json={"code": code, "name": code}), 201)["id"]
           for code in ("FRESH", "STALE", "NEVER")}
    table = Device.__table__
    async with site.central.engine.begin() as conn:
        await conn.execute(update(table).where(table.c.id == ids["FRESH"]).values(
            last_heartbeat_at=now_utc() - timedelta(seconds=30), heartbeat='{"uptime": 5}'))
        await conn.execute(update(table).where(table.c.id == ids["STALE"]).values(
            last_heartbeat_at=now_utc() - timedelta(minutes=3)))
    status = ok(await client.get("/api/devices/status"))
    assert status["onlineWindowSeconds"] == 120 and status["online"] == 1 and status["total"] == 3
    by_code = {d["code"]: d for d in status["items"]}
    assert by_code["FRESH"]["online"] is True and 29 <= by_code["FRESH"]["secondsSinceHeartbeat"] <= 40
    assert by_code["STALE"]["online"] is False and by_code["STALE"]["lastHeartbeatAt"].endswith("Z")
    assert by_code["NEVER"] == {"id": ids["NEVER"], "code": "NEVER", "name": "NEVER", "kind": "kiosk",
                                "online": False, "lastHeartbeatAt": None, "secondsSinceHeartbeat": None}
    assert await listed(client, "/api/devices/status", "code", online=True) == ["FRESH"]
    assert await listed(client, "/api/devices/status", "code", online=False) == [
        "NEVER", "STALE"]
    fresh = ok(await client.get(f"/api/devices/{ids['FRESH']}"))
    assert fresh["online"] is True and fresh["heartbeat"] == {"uptime": 5}


# -- bays -------------------------------------------------------------------------------------------
async def test_bays_assign_device_and_user(site: Stack, client: httpx.AsyncClient) -> None:
    lid = await locker_id(site, "LOCKER-A-02")
    device = ok(await client.post("/api/devices", json={"code": "K1", "name": "Kiosk"}), 201)
    alice = ok(await client.post("/api/users", json={"username": "alice", "name": "Alice"}), 201)
    bob = ok(await client.post("/api/users", json={"username": "bob", "name": "Bob"}), 201)
    gone = ok(await client.post("/api/users", json={"username": "gone", "name": "Gone", "active": False}), 201)

    bays = ok(await client.get("/api/bays"))
    assert bays["total"] == 4 and [b["identity"] for b in bays["items"]] == [f"LOCKER-A-0{n}" for n in range(1, 5)]
    assert bays["items"][1] == {"lockerId": lid, "identity": "LOCKER-A-02", "bankId": await bank_id(client),
                                "bank": "LOCKER-A", "bay": 2, "deviceId": None, "deviceCode": None,
                                "assignedUserId": None, "assignedUsername": None}
    bay = ok(await client.post(f"/api/bays/{lid}/assign-device", json={"deviceId": device["id"]}))
    assert (bay["deviceId"], bay["deviceCode"]) == (device["id"], "K1")
    err(await client.post(f"/api/bays/{lid}/assign-device", json={"deviceId": MISSING}), 404, "DeviceNotFound")
    err(await client.post(f"/api/bays/{MISSING}/assign-device", json={"deviceId": device["id"]}),
        404, "LockerNotFound")
    err(await client.post(f"/api/bays/{lid}/assign-device", json={}), 422, "ValidationError")

    bay = ok(await client.post(f"/api/bays/{lid}/assign-user", json={"userId": alice["id"]}))
    assert (bay["assignedUserId"], bay["assignedUsername"]) == (alice["id"], "alice")
    ok(await client.post(f"/api/bays/{lid}/assign-user", json={"userId": alice["id"]}))  # again: no change
    err(await client.post(f"/api/bays/{lid}/assign-user", json={"userId": bob["id"]}), 409, "BayAssigned")
    other = await locker_id(site, "LOCKER-A-03")
    err(await client.post(f"/api/bays/{other}/assign-user", json={"userId": gone["id"]}), 409, "UserInactive")
    err(await client.post(f"/api/bays/{other}/assign-user", json={"userId": MISSING}), 404, "UserNotFound")
    assert await listed(client, "/api/bays", "identity", assigned=True) == ["LOCKER-A-02"]
    assert ok(await client.get("/api/bays", params={"assigned": False}))["total"] == 3
    assert ok(await client.get("/api/bays", params={"deviceId": device["id"]}))["total"] == 1
    assert await listed(client, "/api/bays", "bay", q="a-04") == [4]
    assert ok(await client.get("/api/bays", params={"page_size": 3, "page": 2}))["items"][0]["bay"] == 4

    bay = ok(await client.post(f"/api/bays/{lid}/assign-user", json={"userId": None}))
    assert bay["assignedUserId"] is None
    ok(await client.post(f"/api/bays/{lid}/assign-user", json={"userId": bob["id"]}))
    bay = ok(await client.post(f"/api/bays/{lid}/unassign-device"))
    assert bay["deviceId"] is None and bay["assignedUsername"] == "bob"
    err(await client.post(f"/api/bays/{MISSING}/unassign-device"), 404, "LockerNotFound")
    assert [a for a in await audit_actions(site, lid) if a.startswith("bay.")] == [
        "bay.assign_device", "bay.assign_user", "bay.assign_user", "bay.unassign_user", "bay.assign_user",
        "bay.unassign_device"]


# -- lockers, locker types, banks -------------------------------------------------------------------
async def test_locker_types_and_banks(site: Stack, client: httpx.AsyncClient) -> None:
    medium = ok(await client.post("/api/admin/locker-types", json={"name": "Medium", "hasCharging": True}), 201)
    assert medium == {"id": medium["id"], "name": "Medium", "size": "M", "hasCharging": True,
                      "alwaysOos": False, "description": None}
    screen = ok(await client.post("/api/admin/locker-types", json={
        "name": "Screen", "size": "L", "alwaysOos": True, "description": "the kiosk screen"}), 201)
    err(await client.post("/api/admin/locker-types", json={"name": "Medium"}), 409, "LockerTypeExists")
    err(await client.post("/api/admin/locker-types", json={"name": "Huge", "size": "XXL"}), 422, "ValidationError")
    assert ok(await client.get("/api/admin/locker-types"))["total"] == 2
    assert await listed(client, "/api/admin/locker-types", "name", q="kiosk") == ["Screen"]
    assert ok(await client.get("/api/admin/locker-types", params={"page_size": 1}))["items"][0]["name"] == "Medium"
    edited = ok(
        await client.patch(f"/api/admin/locker-types/{screen['id']}", json={"size": "XL", "description": None}))
    assert (edited["size"], edited["description"], edited["alwaysOos"]) == ("XL", None, True)
    err(await client.patch(f"/api/admin/locker-types/{screen['id']}", json={"name": "Medium"}),
        409, "LockerTypeExists")
    err(await client.get(f"/api/admin/locker-types/{MISSING}"), 404, "LockerTypeNotFound")

    # The bridge's board was registered as bank LOCKER-A with its 4 bays.
    [locker_a] = ok(await client.get("/api/admin/banks"))["items"]
    assert {k: locker_a[k] for k in ("name", "port", "address", "lockers", "portKnown")} == {
        "name": "LOCKER-A", "port": "COM2", "address": 1, "lockers": 4, "portKnown": True}
    err(await client.post("/api/admin/banks", json={"name": "LOCKER-X", "port": "COM2", "address": 1}),
        409, "BankExists")
    err(await client.post("/api/admin/banks", json={"name": "LOCKER-A", "port": "COM2", "address": 2}),
        409, "BankNameTaken")
    err(await client.post("/api/admin/banks", json={"name": "LOCKER-X", "port": "COM2", "address": 32}),
        422, "ValidationError")
    err(await client.post("/api/admin/banks", json={"name": "LOCKER X", "port": "COM2", "address": 2}),
        422, "ValidationError")
    err(await client.post("/api/admin/banks", json={"name": "LOCKER-X", "port": "COM2", "address": 2,
                                                    "deviceId": MISSING}), 404, "DeviceNotFound")
    bank_b = ok(await client.post("/api/admin/banks", json={"name": "LOCKER-B", "port": "COM9", "address": 2}), 201)
    assert (bank_b["lockers"], bank_b["portKnown"]) == (0, False)
    assert await listed(client, "/api/admin/banks", "name", port="COM9") == ["LOCKER-B"]
    assert await listed(client, "/api/admin/banks", "name", q="locker", page_size=1, page=2) == ["LOCKER-B"]
    err(await client.patch(f"/api/admin/banks/{locker_a['id']}", json={"address": 3}), 409, "BankDriven")
    err(await client.patch(f"/api/admin/banks/{bank_b['id']}", json={"port": "COM2", "address": 1}),
        409, "BankExists")
    assert (ok(await client.patch(f"/api/admin/banks/{locker_a['id']}", json={"bankTypeId": None}))["name"]
            == "LOCKER-A")
    assert ok(await client.patch(f"/api/admin/banks/{bank_b['id']}", json={"address": 3}))["address"] == 3
    err(await client.delete(f"/api/admin/banks/{locker_a['id']}"), 409, "BankInUse")
    err(await client.get(f"/api/admin/banks/{MISSING}"), 404, "BankNotFound")
    ok(await client.delete(f"/api/admin/banks/{bank_b['id']}"), 204)
    err(await client.delete(f"/api/admin/banks/{bank_b['id']}"), 404, "BankNotFound")
    assert [e["action"] for e in await logs(client, action="bank.")] == [
        "bank.delete", "bank.edit", "bank.edit", "bank.add"]
    assert [e["action"] for e in await logs(client, action="locker_type.")] == [
        "locker_type.edit", "locker_type.add", "locker_type.add"]


async def test_lockers_list_get_add_maintenance_delete(site: Stack, client: httpx.AsyncClient,
                                                       emu: Emulator) -> None:
    first = await locker_id(site, "LOCKER-A-01")
    lockers = ok(await client.get("/api/admin/lockers"))
    assert lockers["total"] == 4 and all(item["driven"] for item in lockers["items"])
    one = ok(await client.get(f"/api/admin/lockers/{first}"))
    assert {k: one[k] for k in ("identity", "bank", "port", "address", "bay", "outOfService", "door")} == {
        "identity": "LOCKER-A-01", "bank": "LOCKER-A", "port": "COM2", "address": 1, "bay": 1,
        "outOfService": False, "door": None}
    assert one["live"]["identity"] == "LOCKER-A-01" and one["live"]["door"] == "closed"
    err(await client.get(f"/api/admin/lockers/{MISSING}"), 404, "LockerNotFound")
    assert await listed(client, "/api/admin/lockers", "bay", q="-03") == [3]
    assert await listed(client, "/api/admin/lockers", "bay", page_size=3, page=2) == [4]

    # maintenance: out of service (set by the gateway) or a broken lock
    assert ok(await client.get("/api/admin/lockers/maintenance"))["total"] == 0
    await set_locker(site, first, out_of_service=True, reason_code="LOCK_MALFUNCTION", reason="solenoid")
    await set_locker(site, await locker_id(site, "LOCKER-A-02"), broken_lock=True)
    maintenance = ok(await client.get("/api/admin/lockers/maintenance"))
    assert [x["identity"] for x in maintenance["items"]] == ["LOCKER-A-01", "LOCKER-A-02"]
    assert maintenance["items"][0]["reasonCode"] == "LOCK_MALFUNCTION"
    assert await listed(client, "/api/admin/lockers/maintenance", "bay", q="solenoid") == [1]
    assert ok(await client.get("/api/admin/lockers", params={"outOfService": True}))["total"] == 1

    # add: bay taken, identity taken, unknown port, a type
    locker_a = await bank_id(client)
    kind = ok(await client.post("/api/admin/locker-types", json={"name": "Small", "size": "S"}), 201)
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 3}), 409, "BayTaken")
    err(await client.post("/api/admin/lockers", json={"bankId": MISSING, "bay": 5}), 404, "BankNotFound")
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 5, "lockerTypeId": MISSING}),
        404, "LockerTypeNotFound")
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 49}), 422, "ValidationError")
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 5, "identity": "LOCKER-A-01"}),
        409, "LockerExists")
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 5, "identity": "a/b"}),
        422, "ValidationError")
    far = ok(await client.post("/api/admin/banks", json={"name": "FAR", "port": "COM7", "address": 1}), 201)
    added = ok(await client.post("/api/admin/lockers", json={"bankId": far["id"], "bay": 2,
                                                             "lockerTypeId": kind["id"]}), 201)
    assert (added["identity"], added["lockerType"], added["driven"]) == ("FAR-02", "Small", False)
    assert "no port 'COM7'" in added["message"]
    assert ok(await client.get("/api/admin/lockers", params={"bankId": far["id"]}))["total"] == 1
    assert ok(await client.get("/api/admin/lockers", params={"lockerTypeId": kind["id"]}))["total"] == 1
    retyped = ok(await client.patch(f"/api/admin/lockers/{first}", json={"lockerTypeId": kind["id"]}))
    assert retyped["lockerType"] == "Small"
    err(await client.patch(f"/api/admin/lockers/{first}", json={"lockerTypeId": MISSING}), 404, "LockerTypeNotFound")

    # delete: an undriven locker goes; a driven one is still driven until the bridge restarts
    deleted = ok(await client.delete(f"/api/admin/lockers/{added['id']}"))
    assert (deleted["deleted"], deleted["stillDriven"]) == (True, False)
    err(await client.delete(f"/api/admin/lockers/{added['id']}"), 404, "LockerNotFound")
    async with site.central.engine.begin() as conn:
        await conn.execute(Rental.__table__.insert().values(locker_id=first, created_at=now_utc()))
    err(await client.delete(f"/api/admin/lockers/{first}"), 409, "LockerInUse")
    fourth = await locker_id(site, "LOCKER-A-04")
    deleted = ok(await client.delete(f"/api/admin/lockers/{fourth}"))
    assert deleted["stillDriven"] is True and "restarts" in deleted["message"]
    # ...so its bay cannot become another locker, but it can come back as itself
    err(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 4, "identity": "OTHER"}),
        409, "BayDrivenByBridge")
    err(await client.post("/api/admin/lockers", json={"bankId": far["id"], "bay": 1, "identity": "LOCKER-A-04"}),
        409, "IdentityDrivenElsewhere")
    back = ok(await client.post("/api/admin/lockers", json={"bankId": locker_a, "bay": 4}), 201)
    assert (back["identity"], back["driven"]) == ("LOCKER-A-04", True)
    assert [e["action"] for e in await logs(client, action="locker.")] == [
        "locker.add", "locker.delete", "locker.delete", "locker.edit", "locker.add"]


@pytest.fixture
async def site3(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    """The bridge's YAML has bays 1-3 of the 4 the board has."""
    async with bridged(db_url, bridge_yaml(tmp_path, bays=3)) as s:
        yield s


async def test_a_locker_added_over_rest_is_driven_by_the_bridge(site3: Stack, emu: Emulator) -> None:
    assert site3.bridge is not None and "LOCKER-A-04" not in site3.bridge.cps
    async with httpx.AsyncClient(base_url=site3.http_url, headers=ADMIN, timeout=20) as client:
        assert ok(await client.get("/api/admin/lockers"))["total"] == 3
        added = ok(await client.post("/api/admin/lockers", json={"bankId": await bank_id(client), "bay": 4}), 201)
        assert (added["identity"], added["bay"], added["driven"]) == ("LOCKER-A-04", 4, True)
        assert added["message"] == "the bridge drives LOCKER-A-04"
        cp = site3.bridge.cps["LOCKER-A-04"]
        await until(lambda: _true(cp.booted.is_set()), 10)  # BootNotification accepted by the CSMS
        assert ok(await client.get("/api/v1/charge-points/LOCKER-A-04"))["id"] == "LOCKER-A-04"

        async def polled() -> bool:  # the board's first reading of the bay (not an event yet)
            return ok(await client.get(f"/api/admin/lockers/{added['id']}"))["live"]["door"] == "closed"

        await until(polled, 5)
        r = ok(await client.post("/api/locker/cabins/LOCKER-A-04/open"))
        assert r["success"] is True and emu.boards[1].bays[4].door_open
        await until(lambda: _contains(audit_actions(site3, added["id"]), "door.opened"), 5)
        assert ok(await client.get(f"/api/admin/lockers/{added['id']}"))["door"] == "open"


async def _true(value: Any) -> Any:
    return value


async def _contains(actions: Any, action: str) -> bool:
    return action in await actions


# -- users, groups, roles, locations, countries -----------------------------------------------------
async def test_users_crud(site: Stack, client: httpx.AsyncClient) -> None:
    role = ok(await client.post("/api/roles", json={"name": "Staff", "permissions": ["view"]}), 201)
    alice = ok(await client.post("/api/users", json={
        "username": " Alice ", "name": "Alice Example", "email": "alice@example.com", "phone": "+49 30 1234",
        "roleId": role["id"], "password": "correct horse battery"}), 201)
    assert {k: alice[k] for k in ("username", "role", "roleId", "active", "hasPassword")} == {
        "username": "alice", "role": "Staff", "roleId": role["id"], "active": True, "hasPassword": True}
    assert not {"password", "password_hash", "passwordHash"} & set(alice)
    [stored] = await rows(site, "SELECT password_hash FROM users WHERE id = :i", i=alice["id"])
    assert stored["password_hash"].startswith("scrypt$")
    ok(await client.post("/api/users", json={"username": "bob", "name": "Bob", "active": False}), 201)
    ok(await client.post("/api/users", json={"username": "carol", "name": "Carol", "email": "c@example.org"}), 201)

    err(await client.post("/api/users", json={"username": "ALICE", "name": "Again"}), 409, "UserExists")
    err(await client.post("/api/users", json={"username": "dave", "name": "D", "roleId": MISSING}),
        404, "RoleNotFound")
    for bad in ({"username": "dave", "name": "D", "password": "short"}, {"username": "da ve", "name": "D"},
                {"username": "dave", "name": "D", "email": "not-an-email"}, {"username": "dave"},
                {"username": "dave", "name": "D", "phone": "call me"}):
        err(await client.post("/api/users", json=bad), 422, "ValidationError")

    assert ok(await client.get("/api/users"))["total"] == 3
    assert await listed(client, "/api/users", "username", q="example") == ["alice", "carol"]
    assert await listed(client, "/api/users", "username", active=False) == ["bob"]
    assert await listed(client, "/api/users", "username", roleId=role["id"]) == ["alice"]
    assert await listed(client, "/api/users", "username", page_size=2, page=2) == ["carol"]
    assert ok(await client.get(f"/api/users/{alice['id']}")) == alice
    err(await client.get(f"/api/users/{MISSING}"), 404, "UserNotFound")

    edited = ok(await client.patch(f"/api/users/{alice['id']}", json={"email": None, "password": None, "name": "Al"}))
    assert (edited["email"], edited["hasPassword"], edited["name"]) == (None, False, "Al")
    err(await client.patch(f"/api/users/{alice['id']}", json={"username": "bob"}), 409, "UserExists")
    err(await client.patch(f"/api/users/{alice['id']}", json={"roleId": MISSING}), 404, "RoleNotFound")
    err(await client.patch(f"/api/users/{alice['id']}", json={"active": None}), 422, "ValidationError")
    err(await client.patch(f"/api/users/{MISSING}", json={"name": "X"}), 404, "UserNotFound")
    ok(await client.delete(f"/api/users/{alice['id']}"), 204)
    err(await client.delete(f"/api/users/{alice['id']}"), 404, "UserNotFound")
    entries = await logs(client, action="user.")
    assert [e["action"] for e in entries] == ["user.delete", "user.edit", "user.add", "user.add", "user.add"]
    assert entries[1]["details"]["password"] == "removed" and entries[-1]["details"]["password"] == "set"
    assert "correct horse" not in str(entries)


async def test_groups_and_members(client: httpx.AsyncClient) -> None:
    users = [ok(await client.post("/api/users", json={"username": n, "name": n.title()}), 201)["id"]
             for n in ("ann", "ben", "cid")]
    night = ok(await client.post("/api/groups", json={"name": "Night staff", "userIds": [users[0], users[0]]}), 201)
    assert night["memberCount"] == 1 and [m["username"] for m in night["members"]] == ["ann"]
    ok(await client.post("/api/groups", json={"name": "Cleaners", "description": "weekly"}), 201)
    err(await client.post("/api/groups", json={"name": "Night staff"}), 409, "GroupExists")
    missing = err(await client.post("/api/groups", json={"name": "Ghosts", "userIds": [MISSING]}),
                  404, "UserNotFound")
    assert missing["userIds"] == [MISSING]
    assert ok(await client.get("/api/groups"))["total"] == 2  # the failed add left nothing behind
    assert await listed(client, "/api/groups", "name", q="week") == ["Cleaners"]
    assert await listed(client, "/api/groups", "name", page_size=1, page=2) == ["Night staff"]

    view = ok(await client.post(f"/api/groups/{night['id']}/members", json={"userIds": users}))
    assert view["memberCount"] == 3 and [m["username"] for m in view["members"]] == ["ann", "ben", "cid"]
    err(await client.post(f"/api/groups/{night['id']}/members", json={"userIds": []}), 422, "ValidationError")
    err(await client.post(f"/api/groups/{MISSING}/members", json={"userIds": users}), 404, "GroupNotFound")
    ok(await client.delete(f"/api/groups/{night['id']}/members/{users[1]}"), 204)
    err(await client.delete(f"/api/groups/{night['id']}/members/{users[1]}"), 404, "MemberNotFound")
    assert [m["username"] for m in ok(await client.get(f"/api/groups/{night['id']}"))["members"]] == ["ann", "cid"]
    renamed = ok(await client.patch(f"/api/groups/{night['id']}", json={"name": "Nights"}))
    assert renamed["name"] == "Nights" and renamed["memberCount"] == 2
    err(await client.patch(f"/api/groups/{night['id']}", json={"name": "Cleaners"}), 409, "GroupExists")
    ok(await client.delete(f"/api/groups/{night['id']}"), 204)
    err(await client.get(f"/api/groups/{night['id']}"), 404, "GroupNotFound")
    err(await client.delete(f"/api/groups/{night['id']}"), 404, "GroupNotFound")
    assert [e["action"] for e in await logs(client, action="group.")] == [
        "group.delete", "group.edit", "group.member_remove", "group.member_add", "group.add", "group.add"]


async def test_locations_areas_and_countries(client: httpx.AsyncClient) -> None:
    countries = ok(await client.get("/api/countries"))
    assert countries["total"] >= 240 and len(countries["items"]) == countries["total"]
    assert {"code": "DE", "name": "Germany"} in ok(await client.get("/api/countries", params={"q": "germ"}))["items"]
    assert ok(await client.get("/api/countries", params={"q": "zz"}))["total"] == 0

    station = ok(await client.post("/api/locations", json={"name": "Central Station", "address": "Platz 1",
                                                           "countryCode": "de"}), 201)
    assert (station["countryCode"], station["country"], station["areas"]) == ("DE", "Germany", [])
    ok(await client.post("/api/locations", json={"name": "Airport", "countryCode": "FR"}), 201)
    err(await client.post("/api/locations", json={"name": "Central Station"}), 409, "LocationExists")
    err(await client.post("/api/locations", json={"name": "Nowhere", "countryCode": "XX"}), 404, "CountryNotFound")
    err(await client.post("/api/locations", json={"name": "Nowhere", "countryCode": "DEU"}), 422, "ValidationError")

    area = ok(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Level -1"}), 201)
    assert area == {"id": area["id"], "locationId": station["id"], "name": "Level -1"}
    ok(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Hall"}), 201)
    err(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Hall"}), 409, "AreaExists")
    err(await client.post(f"/api/locations/{MISSING}/areas", json={"name": "Hall"}), 404, "LocationNotFound")

    locations = ok(await client.get("/api/locations"))["items"]
    assert [loc["name"] for loc in locations] == ["Airport", "Central Station"]
    assert [a["name"] for a in locations[1]["areas"]] == ["Hall", "Level -1"]
    assert await listed(client, "/api/locations", "name", countryCode="fr") == ["Airport"]
    assert await listed(client, "/api/locations", "name", q="platz") == ["Central Station"]
    assert (ok(await client.get("/api/locations", params={"page_size": 1, "page": 2}))["items"][0]["name"]
            == "Central Station")
    edited = ok(await client.patch(f"/api/locations/{station['id']}", json={"address": None, "countryCode": "AT"}))
    assert (edited["address"], edited["country"], len(edited["areas"])) == (None, "Austria", 2)
    err(await client.patch(f"/api/locations/{station['id']}", json={"name": "Airport"}), 409, "LocationExists")
    err(await client.patch(f"/api/locations/{station['id']}", json={"countryCode": "XX"}), 404, "CountryNotFound")
    err(await client.get(f"/api/locations/{MISSING}"), 404, "LocationNotFound")
    assert [e["action"] for e in await logs(client, action="area.add")] == ["area.add", "area.add"]
    assert [e["action"] for e in await logs(client, action="location.")] == [
        "location.edit", "location.add", "location.add"]


async def test_roles(client: httpx.AsyncClient) -> None:
    viewer = ok(await client.post("/api/roles", json={"name": "Auditor", "permissions": ["view", "view"]}), 201)
    assert viewer == {"id": viewer["id"], "name": "Auditor", "permissions": ["view"], "users": 0}
    ok(await client.post("/api/roles", json={"name": "Boss", "permissions": ["admin", "operate"]}), 201)
    err(await client.post("/api/roles", json={"name": "Auditor", "permissions": []}), 409, "RoleExists")
    err(await client.post("/api/roles", json={"name": "Root", "permissions": ["root"]}), 422, "ValidationError")
    err(await client.post("/api/roles", json={"name": "Root"}), 422, "ValidationError")
    assert [r["name"] for r in ok(await client.get("/api/roles"))["items"]] == ["Auditor", "Boss"]
    assert await listed(client, "/api/roles", "name", q="bos") == ["Boss"]
    assert ok(await client.get("/api/roles", params={"page_size": 1, "page": 2}))["items"][0]["name"] == "Boss"
    edited = ok(await client.patch(f"/api/roles/{viewer['id']}", json={"permissions": ["operate", "view"]}))
    assert edited["permissions"] == ["operate", "view"]
    err(await client.patch(f"/api/roles/{viewer['id']}", json={"name": "Boss"}), 409, "RoleExists")
    err(await client.patch(f"/api/roles/{MISSING}", json={"name": "X"}), 404, "RoleNotFound")
    ok(await client.post("/api/users", json={"username": "eve", "name": "Eve", "roleId": viewer["id"]}), 201)
    assert ok(await client.get(f"/api/roles/{viewer['id']}"))["users"] == 1
    err(await client.delete(f"/api/roles/{viewer['id']}"), 409, "RoleInUse")
    boss = ok(await client.get("/api/roles", params={"q": "boss"}))["items"][0]
    ok(await client.delete(f"/api/roles/{boss['id']}"), 204)
    err(await client.get(f"/api/roles/{boss['id']}"), 404, "RoleNotFound")
    assert [e["action"] for e in await logs(client, action="role.")] == [
        "role.delete", "role.edit", "role.add", "role.add"]


async def test_log_filters(site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    lid = await locker_id(site, "LOCKER-A-01")
    device = ok(await client.post("/api/devices", json={"code": "K1", "name": "Kiosk"}), 201)
    ok(await client.post(f"/api/bays/{lid}/assign-device", json={"deviceId": device["id"]}))
    ok(await client.post("/api/locker/cabins/LOCKER-A-01/open"))
    await until(lambda: _contains(audit_actions(site, lid), "door.opened"), 5)
    everything = await logs(client)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    # the open (by the token) and the door event (by the board) race; the assignment came first
    assert sorted(e["action"] for e in await logs(client, lockerId=lid)) == [
        "bay.assign_device", "door.opened", "locker.open"]
    assert {e["action"] for e in await logs(client, deviceId=device["id"])} >= {"device.add", "bay.assign_device"}
    assert {e["actor"] for e in await logs(client, actor="board")} == {"board"}
    assert [e["action"] for e in await logs(client, action="door.opened")] == ["door.opened"]
    assert await logs(client, action="door.") == await logs(client, action="door.opened")
    first = everything[-1]
    assert [e["id"] for e in await logs(client, until=first["at"])] == []
    assert len(await logs(client, since=first["at"])) == len(everything)
    assert await logs(client, since="2999-01-01T00:00:00Z") == []
    paged = ok(await client.get("/api/logs", params={"page_size": 1}))
    assert paged["total"] == len(everything) and paged["items"][0]["id"] == everything[0]["id"]
    err(await client.get("/api/logs", params={"since": "yesterday"}), 422, "ValidationError")


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

    err(await login(client, "olga", "wrong password!"), 400, "InvalidCredentials")
    err(await login(client, "nobody-at-all"), 400, "InvalidCredentials")
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
        400, "InvalidCredentials")
    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "KIOSK-2", "password": "anything"}),
        400, "InvalidCredentials")
    err(await client.post("/api/auth/kiosk-login", json={"deviceCode": "NONE", "password": "anything"}),
        400, "InvalidCredentials")
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
        err(await login(client, "mia", "wrong password!"), 400, "InvalidCredentials")
    ok(await login(client, "mia"))
    for _ in range(MAX_FAILURES_PER_NAME):
        err(await login(client, "mia", "wrong password!"), 400, "InvalidCredentials")
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
        err(await client.post(path, json=body, headers={"Authorization": ""}), 400, "InvalidCredentials")
