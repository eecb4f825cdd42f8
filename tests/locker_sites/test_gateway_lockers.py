"""The locker gateway's opens (they really open the emulated doors), lockers, types and bank
types, and a locker's latest audit entries."""

from __future__ import annotations

from datetime import datetime

import httpx

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator, Fault
from lockers.audit import now_utc
from lockers.models import AuditEntry
from tests.helpers import rows
from tests.locker_sites.conftest import until
from tests.locker_sites.gateway_helpers import (
    ADMIN_NAME,
    add_device,
    add_type,
    audit,
    err,
    has_entry,
    headers,
    ids,
    set_lockers,
)


# -- opening ---------------------------------------------------------------------------------------
async def test_open_and_broken_lock(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, _, _ = await ids(site)
    r = await client.post(f"/lockers/{l1}/open")
    assert r.status_code == 200, r.text
    assert (r.json()["success"], r.json()["door"], r.json()["sensorIgnored"]) == (True, "open", False)
    assert emu.boards[1].bays[1].door_open
    await until(lambda: has_entry(site, l1, "door.opened"))
    assert (await audit(site, "locker.open"))[0]["actor"] == ADMIN_NAME
    assert (await client.get(f"/lockers/{l1}")).json()["state"]["door"] == "open"

    # a stuck door: the board acknowledges, the door stays shut
    emu.inject(Fault.STUCK_DOOR, bay=2)
    failed = err(await client.post(f"/lockers/{l2}/open"), 409, "DoorDidNotOpen")
    assert (failed["success"], failed["door"], failed["lockerId"]) == (False, "closed", l2)
    # brokenLock: the lock fires and the sensor's "closed" is ignored, and the result says so
    await client.patch(f"/lockers/{l2}", json={"brokenLock": True})
    r = await client.post(f"/lockers/{l2}/open")
    assert r.status_code == 200, r.text
    assert (r.json()["success"], r.json()["door"], r.json()["sensorIgnored"]) == (True, "closed", True)
    assert "brokenLock" in r.json()["message"]
    assert not emu.boards[1].bays[2].door_open
    assert [a["details"]["sensorIgnored"] for a in await audit(site, "locker.open") if a["locker_id"] == l2] == [
        False, True]
    # a sensor that does not answer at all after the lock fired: also a sensor failure to ignore
    emu.clear_faults()
    emu.inject(Fault.NO_REPLY, bay=2, command="LOCKER_STATUS")
    r = await client.post(f"/lockers/{l2}/open")
    assert r.status_code == 200, r.text
    assert (r.json()["success"], r.json()["door"], r.json()["sensorIgnored"]) == (True, None, True)
    assert emu.boards[1].bays[2].door_open  # the lock really fired
    # brokenLock off again: the sensor failure is a failure (503), a stuck door too (409)
    await client.patch(f"/lockers/{l2}", json={"brokenLock": False})
    failed = err(await client.post(f"/lockers/{l2}/open"), 503, "BoardUnavailable")
    assert "door sensor did not answer" in failed["message"]
    emu.clear_faults()
    emu.boards[1].bays[2].close_door()
    emu.inject(Fault.STUCK_DOOR, bay=2)
    err(await client.post(f"/lockers/{l2}/open"), 409, "DoorDidNotOpen")
    err(await client.post("/lockers/999/open"), 404, "LockerNotFound")


async def test_open_all_multi_status(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, l3, l4 = await ids(site)
    screen = await add_type(client, "Screen", alwaysOos=True)
    await set_lockers(site, [l4], locker_type_id=screen)  # nothing to open: skipped
    rule = emu.inject(Fault.STUCK_DOOR, bay=3)
    r = await client.post("/lockers/open-all")
    assert r.status_code == 207, r.text
    body = r.json()
    assert (body["success"], body["total"], body["succeeded"], body["failed"], body["skipped"]) == (
        False, 3, 2, 1, [l4])
    by_id = {x["lockerId"]: x for x in body["results"]}
    assert by_id[l1]["success"] and by_id[l2]["success"]
    assert (by_id[l3]["success"], by_id[l3]["code"]) == (False, "DoorDidNotOpen")
    bays = emu.boards[1].bays
    assert (bays[1].door_open, bays[2].door_open, bays[3].door_open, bays[4].door_open) == (
        True, True, False, False)
    [summary] = await audit(site, "locker.open_all")
    assert summary["details"]["failed"] == [l3] and summary["details"]["skipped"] == [l4]

    # all open: 200; and only one bank's lockers when asked
    emu.remove_fault(rule)
    for n in (1, 2):
        bays[n].close_door()
    r = await client.post("/lockers/open-all")
    assert (r.status_code, r.json()["success"], r.json()["succeeded"]) == (200, True, 3)
    assert bays[3].door_open
    r = await client.post("/lockers/open-all", params={"bankId": 999})
    assert (r.status_code, r.json()["total"]) == (200, 0)
    err(await client.post("/lockers/open-all", params={"bankId": "x"}), 400, "ValidationError")


# -- lockers, types, bank types -------------------------------------------------------------------
async def test_lockers_config_and_types(site: Stack, client: httpx.AsyncClient) -> None:
    l1, l2, l3, l4 = await ids(site)
    [bank] = await rows(site, "SELECT id FROM banks WHERE name = 'LOCKER-A'")
    small = await add_type(client, "Small", size="S", hasCharging=True, description="USB-C")
    large = await add_type(client, "Large", size="L")
    await set_lockers(site, [l1, l2, l3], locker_type_id=small)
    await set_lockers(site, [l4], locker_type_id=large)

    listing = (await client.get("/lockers")).json()
    assert [x["id"] for x in listing["items"]] == [l1, l2, l3, l4] and listing["total"] == 4
    first = listing["items"][0]
    assert first | {"state": None} == {
        "id": l1, "identity": "LOCKER-A-01", "bankId": bank["id"], "bank": "LOCKER-A", "bay": 1,
        "lockerType": {"id": small, "name": "Small", "size": "S", "hasCharging": True, "alwaysOos": False},
        "deviceId": None, "assignedUserId": None, "outOfService": False, "reasonCode": None,
        "reason": None, "brokenLock": False, "available": True, "state": None, "activeTransaction": None}
    assert first["state"]["status"] == "Available" and first["state"]["connected"] is True
    assert first["state"]["door"] == "closed" and first["state"]["item"] == "empty"
    assert [x["id"] for x in (await client.get("/lockers", params={"lockerTypeId": large})).json()["items"]] == [l4]
    assert (await client.get("/lockers", params={"bankId": bank["id"]})).json()["total"] == 4
    assert (await client.get("/lockers", params={"bankId": 999})).json()["total"] == 0
    paged = (await client.get("/lockers", params={"page": 2, "pageSize": 3})).json()
    assert [x["id"] for x in paged["items"]] == [l4] and paged["total"] == 4
    await client.patch(f"/lockers/{l2}", json={"brokenLock": True})
    assert [x["id"] for x in (await client.get("/lockers", params={"brokenLock": True})).json()["items"]] == [l2]
    err(await client.get("/lockers", params={"pageSize": 0}), 400, "ValidationError")
    err(await client.get("/lockers", params={"available": "maybe"}), 400, "ValidationError")

    # details and config
    assert (await client.get(f"/lockers/{l1}")).json()["identity"] == "LOCKER-A-01"
    err(await client.get("/lockers/999"), 404, "LockerNotFound")
    config = (await client.get(f"/lockers/{l3}/config")).json()
    assert config | {"codes": None} == {
        "lockerId": l3, "identity": "LOCKER-A-03", "bankId": bank["id"], "bank": "LOCKER-A",
        "bankTypeId": None, "comPort": "COM2", "address": 1, "bay": 3,
        "lockerType": {"id": small, "name": "Small", "size": "S", "hasCharging": True, "alwaysOos": False},
        "deviceId": None, "deviceCode": None, "driven": True, "codes": None,
        "lockController": {"comPort": "COM2", "address": 1, "bay": 3, "driven": True, "online": True}}
    assert set(config["codes"]) == {"openCode", "statusCode", "startChargingCode", "stopChargingCode",
                                    "chargingStatusCode"}
    assert site.bridge is not None  # the codes are the ones the bridge sends
    assert config["codes"]["openCode"] == site.bridge.cabin("LOCKER-A-03")["open_code"]
    err(await client.get("/lockers/999/config"), 404, "LockerNotFound")

    # locker types
    types = (await client.get("/locker-types")).json()
    assert [(t["name"], t["lockers"], t["available"]) for t in types["items"]] == [("Small", 3, 3), ("Large", 1, 1)]
    assert (await client.get(f"/locker-types/{small}")).json()["description"] == "USB-C"
    err(await client.get("/locker-types/999"), 404, "LockerTypeNotFound")
    err(await client.post("/locker-types", json={"name": "Small"}), 409, "LockerTypeExists")
    for body in ({"name": ""}, {"name": "Tiny", "size": "XXS"}, {"name": "X", "alwaysOos": "no"}):
        err(await client.post("/locker-types", json=body), 400, "ValidationError")

    # bank types with associations
    r = await client.post("/bank-types", json={"name": "Column 4", "description": "3 small, 1 large",
                                               "associations": [{"lockerTypeId": small, "count": 3},
                                                                {"lockerTypeId": large, "count": 1}]})
    assert r.status_code == 201, r.text
    column = r.json()
    assert column == {"id": column["id"], "name": "Column 4", "description": "3 small, 1 large",
                      "lockerCount": 4, "banks": 0, "associations": [
                          {"lockerTypeId": small, "count": 3, "lockerType": {
                              "id": small, "name": "Small", "size": "S", "hasCharging": True, "alwaysOos": False}},
                          {"lockerTypeId": large, "count": 1, "lockerType": {
                              "id": large, "name": "Large", "size": "L", "hasCharging": False, "alwaysOos": False}}]}
    assert (await client.get(f"/bank-types/{column['id']}")).json() == column
    empty = (await client.post("/bank-types", json={"name": "Empty"})).json()
    assert empty["associations"] == [] and empty["lockerCount"] == 0
    assert [(b["name"], b["lockerCount"]) for b in (await client.get("/bank-types")).json()["items"]] == [
        ("Column 4", 4), ("Empty", 0)]
    err(await client.get("/bank-types/999"), 404, "BankTypeNotFound")
    err(await client.post("/bank-types", json={"name": "Column 4"}), 409, "BankTypeExists")
    err(await client.post("/bank-types", json={"name": "Dup", "associations": [
        {"lockerTypeId": small, "count": 1}, {"lockerTypeId": small, "count": 2}]}), 400, "DuplicateAssociation")
    err(await client.post("/bank-types", json={"name": "Ghost", "associations": [
        {"lockerTypeId": 999, "count": 1}]}), 404, "LockerTypeNotFound")
    err(await client.post("/bank-types", json={"name": "Zero", "associations": [
        {"lockerTypeId": small, "count": 0}]}), 400, "ValidationError")
    assert [a["actor"] for a in await audit(site, "bank_type.create")] == [ADMIN_NAME, ADMIN_NAME]
    assert len(await audit(site, "locker_type.create")) == 2


async def test_lock_controller_goes_offline_while_the_board_is_silent(
        site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, _, _, _ = await ids(site)

    async def online_is(expected: bool) -> bool:
        return (await client.get(f"/lockers/{l1}/config")).json()["lockController"]["online"] is expected

    assert await online_is(True)
    rule = emu.inject(Fault.NO_REPLY)  # the board acts, but nothing comes back: silent after 3 polls
    await until(lambda: online_is(False), timeout=8)
    emu.remove_fault(rule)
    await until(lambda: online_is(True), timeout=8)


async def test_locker_details_carry_its_latest_audit_entries(site: Stack, client: httpx.AsyncClient) -> None:
    l1, l2, _, _ = await ids(site)
    mine, other = await add_device(site, "KIOSK-01"), await add_device(site, "KIOSK-02")
    await set_lockers(site, [l1], device_id=other)
    await client.patch(f"/lockers/{l1}", json={"reasonCode": "WHILE_KIOSK_02"})  # the other device's
    await set_lockers(site, [l1], device_id=mine)
    await client.patch(f"/lockers/{l1}", json={"brokenLock": True})
    await client.patch(f"/lockers/{l2}", json={"brokenLock": True})  # another locker's

    details = (await client.get(f"/lockers/{l1}")).json()
    newest, older = details["events"]
    assert newest | {"id": 0, "at": ""} == {
        "id": 0, "at": "", "actor": ADMIN_NAME, "action": "locker.service", "lockerId": l1,
        "deviceId": mine, "details": {"changes": {"broken_lock": [False, True]}}}
    assert newest["id"] > older["id"] and older["deviceId"] == other
    assert datetime.fromisoformat(newest["at"]) >= datetime.fromisoformat(older["at"])
    # the list stays lean: no history per locker
    assert all("events" not in x for x in (await client.get("/lockers")).json()["items"])

    # a kiosk reads its own locker's history, without what happened there under another device
    async with httpx.AsyncClient(base_url=site.http_url, timeout=20,
                                 headers=await headers(site, "kiosk", device_id=mine)) as k:
        assert (await k.get(f"/lockers/{l1}")).json()["events"] == [newest]
        err(await k.get(f"/lockers/{l2}"), 404, "LockerNotFound")

    # at most the latest 20
    async with site.central.engine.begin() as conn:
        await conn.execute(AuditEntry.__table__.insert(), [
            {"at": now_utc(), "actor": "test", "action": f"test.{n}", "locker_id": l1, "details": "{}"}
            for n in range(25)])
    events = (await client.get(f"/lockers/{l1}")).json()["events"]
    assert [e["action"] for e in events] == [f"test.{n}" for n in range(24, 4, -1)]


