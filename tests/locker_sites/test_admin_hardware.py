"""The back office's hardware over REST: devices, bays, lockers, locker types and banks, and a
locker added over REST driven by the bridge at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from lockers.audit import now_utc
from lockers.models import Device, Rental
from tests.helpers import rows
from tests.locker_bridge.conftest import bridge_yaml, bridged
from tests.locker_sites.admin_helpers import MISSING, bank_id, contains, err, listed, logs, ok, set_locker, truthy
from tests.locker_sites.conftest import ADMIN, audit_actions, locker_id, until


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
        await until(lambda: truthy(cp.booted.is_set()), 10)  # BootNotification accepted by the CSMS
        assert ok(await client.get("/api/v1/charge-points/LOCKER-A-04"))["id"] == "LOCKER-A-04"

        async def polled() -> bool:  # the board's first reading of the bay (not an event yet)
            return ok(await client.get(f"/api/admin/lockers/{added['id']}"))["live"]["door"] == "closed"

        await until(polled, 5)
        r = ok(await client.post("/api/locker/cabins/LOCKER-A-04/open"))
        assert r["success"] is True and emu.boards[1].bays[4].door_open
        await until(lambda: contains(audit_actions(site3, added["id"]), "door.opened"), 5)
        assert ok(await client.get(f"/api/admin/lockers/{added['id']}"))["door"] == "open"


