"""The locker gateway of seed 004 against a running stack: the bridge embedded, the board emulated
on a real pty. Opens really open the emulated doors; the audit log is read from the database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import select, update

from api.auth import create_token
from chargebay.stack import Stack
from csms.timeutil import iso
from locker_bridge.emulator import Emulator, Fault
from lockers.audit import now_utc
from lockers.models import AuditEntry, Device, Locker, User
from tests.helpers import rows
from tests.locker_bridge.conftest import command
from tests.locker_sites.conftest import audit_actions, locker_id, until

ADMIN_NAME = "CHARGEBAY_API_TOKEN"  # the name the configured admin token is registered under
DOC_SCHEMAS = {  # the doc's "Schemas" section, in its order
    "Locker", "LockerTypeSummary", "TransactionResponse", "LockerType", "LockController", "System",
    "LockerConfig", "LogEntry", "OperationResponse", "LockerOperationResponse",
    "MultiStatusOperationResponse", "BankType", "OpenAllLockersResponse", "BankTypeAssociation", "Error",
    "BankTypeWithAssociations", "DeviceHeartbeatRequest"}


# -- setting the site up ----------------------------------------------------------------------------
async def ids(site: Stack) -> list[int]:
    """Locker ids of bays 1..4."""
    return [await locker_id(site, f"LOCKER-A-{n:02d}") for n in range(1, 5)]


async def set_lockers(site: Stack, locker_ids: list[int], **values: Any) -> None:
    async with site.central.engine.begin() as conn:
        await conn.execute(update(Locker.__table__).where(Locker.__table__.c.id.in_(locker_ids))
                           .values(**values))


async def add_user(site: Stack, username: str) -> int:
    async with site.central.engine.begin() as conn:
        result = await conn.execute(User.__table__.insert().values(
            username=username, name=username.title(), created_at=now_utc()))
    return int(result.inserted_primary_key[0])


async def add_device(site: Stack, code: str) -> int:
    async with site.central.engine.begin() as conn:
        result = await conn.execute(Device.__table__.insert().values(
            code=code, name=f"Kiosk {code}", created_at=now_utc()))
    return int(result.inserted_primary_key[0])


async def add_type(client: httpx.AsyncClient, name: str, **fields: Any) -> int:
    r = await client.post("/locker-types", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def headers(site: Stack, role: str, device_id: int | None = None) -> dict[str, str]:
    _, token = await create_token(site.central.engine, f"test-{role}", role, device_id=device_id)
    return {"Authorization": f"Bearer {token}"}


async def audit(site: Stack, action: str) -> list[dict[str, Any]]:
    found = await rows(site, "SELECT actor, locker_id, device_id, details FROM audit_log "
                             "WHERE action = :a ORDER BY id", a=action)
    return [{**r, "details": json.loads(r["details"])} for r in found]


def err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    return r.json()  # type: ignore[no-any-return]


# -- transactions -----------------------------------------------------------------------------------
async def test_rent_open_and_release(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, l3, l4 = await ids(site)
    small = await add_type(client, "Small", size="S", hasCharging=True)
    await set_lockers(site, [l1, l2], locker_type_id=small)
    alice = await add_user(site, "alice")
    assert (await client.get(f"/locker-types/{small}")).json() | {} == {
        "id": small, "name": "Small", "size": "S", "hasCharging": True, "alwaysOos": False,
        "description": None, "lockers": 2, "available": 2}

    # rent any locker of a type: the lowest free one
    r = await client.post("/transactions", json={"lockerTypeId": small, "userId": alice,
                                                 "reference": "booking-1"})
    assert r.status_code == 201, r.text
    tx = r.json()
    assert tx | {"id": 0, "createdAt": ""} == {
        "id": 0, "lockerId": l1, "lockerIdentity": "LOCKER-A-01", "userId": alice,
        "reference": "booking-1", "active": True, "createdAt": "", "releasedAt": None}
    assert (await client.get(f"/transactions/{tx['id']}")).json() == tx
    locker = (await client.get(f"/lockers/{l1}")).json()
    assert locker["activeTransaction"] == tx and locker["available"] is False
    assert (await client.get(f"/locker-types/{small}")).json()["available"] == 1

    # a given locker; then the type is used up, and the taken locker refuses
    r = await client.post("/transactions", json={"lockerId": l2})
    assert r.status_code == 201 and r.json()["lockerId"] == l2 and r.json()["userId"] is None
    second = r.json()["id"]
    err(await client.post("/transactions", json={"lockerTypeId": small}), 409, "NoLockerAvailable")
    err(await client.post("/transactions", json={"lockerId": l1}), 409, "LockerInUse")

    # open by transaction: the emulated door really opens, the board's event is audited
    assert not emu.boards[1].bays[1].door_open
    r = await client.post(f"/transactions/{tx['id']}/open")
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "lockerId": l1, "transactionId": tx["id"], "door": "open",
                        "sensorIgnored": False, "code": None, "error": None, "message": "door opened"}
    assert emu.boards[1].bays[1].door_open
    await until(lambda: _has(site, l1, "door.opened"))
    # the board's event is recorded as it arrives: its place among the others may vary
    assert sorted(await audit_actions(site, l1)) == [
        "door.opened", "locker.open", "transaction.create", "transaction.open"]
    [opened] = await audit(site, "door.opened")
    assert opened["actor"] == "board" and opened["locker_id"] == l1
    created = (await audit(site, "transaction.create"))[0]
    assert created["actor"] == ADMIN_NAME and created["details"]["transactionId"] == tx["id"]
    emu.boards[1].bays[1].close_door()

    # listing and filters
    page = (await client.get("/transactions")).json()
    assert [t["id"] for t in page["items"]] == [second, tx["id"]]  # newest first
    assert (page["total"], page["page"], page["pageSize"]) == (2, 1, 50)
    assert [t["id"] for t in (await client.get("/transactions", params={"userId": alice})).json()["items"]] == [tx["id"]]
    assert (await client.get("/transactions", params={"lockerId": l2})).json()["total"] == 1
    one = (await client.get("/transactions", params={"page": 2, "pageSize": 1})).json()
    assert [t["id"] for t in one["items"]] == [tx["id"]] and one["total"] == 2

    # release: once; a released transaction no longer opens
    r = await client.post(f"/transactions/{tx['id']}/release")
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["releasedAt"]
    err(await client.post(f"/transactions/{tx['id']}/release"), 409, "TransactionNotActive")
    err(await client.post(f"/transactions/{tx['id']}/open"), 409, "TransactionNotActive")
    assert [t["id"] for t in (await client.get("/transactions", params={"active": True})).json()["items"]] == [second]
    assert [t["id"] for t in (await client.get("/transactions", params={"active": False})).json()["items"]] == [tx["id"]]
    assert (await client.get(f"/lockers/{l1}")).json()["activeTransaction"] is None
    assert (await audit(site, "transaction.release"))[0]["details"] == {"transactionId": tx["id"]}

    # refusals, each with its code
    for path in ("/transactions/999", "/transactions/999/release", "/transactions/999/open"):
        err(await client.request("GET" if path.endswith("999") else "POST", path), 404, "TransactionNotFound")
    err(await client.get("/transactions/abc"), 400, "ValidationError")
    for body in ({}, {"lockerId": l1, "lockerTypeId": small}, {"lockerId": "x"}, {"lockerId": l1, "extra": 1},
                 {"lockerId": 0}):
        err(await client.post("/transactions", json=body), 400, "ValidationError")
    err(await client.post("/transactions", content=b"{not json", headers={"Content-Type": "application/json"}),
        400, "ValidationError")
    err(await client.post("/transactions", json={"lockerId": 999}), 404, "LockerNotFound")
    err(await client.post("/transactions", json={"lockerTypeId": 999}), 404, "LockerTypeNotFound")
    err(await client.post("/transactions", json={"lockerId": l3, "userId": 999}), 404, "UserNotFound")
    screen = await add_type(client, "Screen", alwaysOos=True)
    await set_lockers(site, [l4], locker_type_id=screen)
    err(await client.post("/transactions", json={"lockerId": l4}), 409, "LockerTypeAlwaysOutOfService")
    err(await client.post("/transactions", json={"lockerTypeId": screen}), 409, "LockerTypeAlwaysOutOfService")
    # a locker assigned to a user is rented only to that user
    bob = await add_user(site, "bob")
    await set_lockers(site, [l3], assigned_user_id=bob)
    err(await client.post("/transactions", json={"lockerId": l3, "userId": alice}), 409, "LockerAssigned")
    assert (await client.post("/transactions", json={"lockerId": l3, "userId": bob})).status_code == 201


async def _has(site: Stack, locker: int, action: str) -> bool:
    return action in await audit_actions(site, locker)


# -- PATCH /lockers/{lockerId} --------------------------------------------------------------------
async def test_service_state(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, _, l4 = await ids(site)
    r = await client.post("/transactions", json={"lockerId": l1})
    held = r.json()["id"]

    # out of service: {"success": true}; no new transaction, the existing one stays and still opens
    r = await client.patch(f"/lockers/{l1}", json={"outOfService": True, "reasonCode": "LOCK_MALFUNCTION",
                                                   "reason": "Lock solenoid not responding"})
    assert (r.status_code, r.json()) == (200, {"success": True})
    locker = (await client.get(f"/lockers/{l1}")).json()
    assert (locker["outOfService"], locker["reasonCode"], locker["reason"], locker["available"]) == (
        True, "LOCK_MALFUNCTION", "Lock solenoid not responding", False)
    assert locker["activeTransaction"]["id"] == held
    r = await client.post(f"/transactions/{held}/open")
    assert r.status_code == 200 and r.json()["success"] and emu.boards[1].bays[1].door_open
    emu.boards[1].bays[1].close_door()
    await client.post(f"/transactions/{held}/release")
    refused = err(await client.post("/transactions", json={"lockerId": l1}), 409, "LockerOutOfService")
    assert refused["reasonCode"] == "LOCK_MALFUNCTION"
    assert l1 not in [x["id"] for x in (await client.get("/lockers", params={"available": True})).json()["items"]]
    assert [x["id"] for x in (await client.get("/lockers", params={"outOfService": True})).json()["items"]] == [l1]

    # back in service: reasons cleared when not given, kept when given
    assert (await client.patch(f"/lockers/{l1}", json={"outOfService": False})).json() == {"success": True}
    locker = (await client.get(f"/lockers/{l1}")).json()
    assert (locker["outOfService"], locker["reasonCode"], locker["reason"], locker["available"]) == (
        False, None, None, True)
    assert (await client.post("/transactions", json={"lockerId": l1})).status_code == 201
    await client.patch(f"/lockers/{l2}", json={"outOfService": True, "reasonCode": "CLEANING"})
    await client.patch(f"/lockers/{l2}", json={"outOfService": False, "reasonCode": "CLEANED", "reason": "ok"})
    locker = (await client.get(f"/lockers/{l2}")).json()
    assert (locker["outOfService"], locker["reasonCode"], locker["reason"]) == (False, "CLEANED", "ok")
    await client.patch(f"/lockers/{l2}", json={"brokenLock": True})  # other fields left alone
    locker = (await client.get(f"/lockers/{l2}")).json()
    assert (locker["brokenLock"], locker["reasonCode"], locker["outOfService"]) == (True, "CLEANED", False)
    changes = [a["details"]["changes"] for a in await audit(site, "locker.service") if a["locker_id"] == l1]
    assert changes == [{"out_of_service": [False, True], "reason_code": [None, "LOCK_MALFUNCTION"],
                        "reason": [None, "Lock solenoid not responding"]},
                       {"out_of_service": [True, False], "reason_code": ["LOCK_MALFUNCTION", None],
                        "reason": ["Lock solenoid not responding", None]}]

    # a type that is always out of service cannot be returned to service: 409
    screen = await add_type(client, "Screen", alwaysOos=True)
    await set_lockers(site, [l4], locker_type_id=screen)
    assert (await client.get(f"/lockers/{l4}")).json()["outOfService"] is True
    err(await client.patch(f"/lockers/{l4}", json={"outOfService": False}), 409, "LockerTypeAlwaysOutOfService")
    assert (await client.patch(f"/lockers/{l4}", json={"outOfService": True, "reasonCode": "SCREEN"})).status_code == 200

    # bad bodies: 400; unknown locker: 404
    err(await client.patch(f"/lockers/{l2}", json={}), 400, "NothingToUpdate")
    for body in ({"outOfService": "yes"}, {"outOfService": None}, {"brokenLock": 1}, {"outofservice": True},
                 {"reasonCode": "X" * 49}, [True]):
        err(await client.patch(f"/lockers/{l2}", json=body), 400, "ValidationError")
    err(await client.patch(f"/lockers/{l2}", content=b"oops", headers={"Content-Type": "application/json"}),
        400, "ValidationError")
    err(await client.patch("/lockers/999", json={"outOfService": True}), 404, "LockerNotFound")
    err(await client.patch("/lockers/-1", json={"outOfService": True}), 400, "ValidationError")


async def test_a_locker_the_bridge_reports_unavailable_takes_no_transaction(
        site: Stack, client: httpx.AsyncClient) -> None:
    _, _, l3, _ = await ids(site)
    answer = await command(site, "LOCKER-A-03", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    locker = (await client.get(f"/lockers/{l3}")).json()
    assert (locker["state"]["status"], locker["available"], locker["outOfService"]) == ("Unavailable", False, False)
    err(await client.post("/transactions", json={"lockerId": l3}), 409, "LockerNotOperational")
    await command(site, "LOCKER-A-03", "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert (await client.post("/transactions", json={"lockerId": l3})).status_code == 201


# -- opening ---------------------------------------------------------------------------------------
async def test_open_and_broken_lock(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, _, _ = await ids(site)
    r = await client.post(f"/lockers/{l1}/open")
    assert r.status_code == 200, r.text
    assert (r.json()["success"], r.json()["door"], r.json()["sensorIgnored"]) == (True, "open", False)
    assert emu.boards[1].bays[1].door_open
    await until(lambda: _has(site, l1, "door.opened"))
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


# -- heartbeat -------------------------------------------------------------------------------------
async def test_heartbeat(site: Stack, client: httpx.AsyncClient) -> None:
    device = await add_device(site, "KIOSK-01")
    body = {"deviceId": "KIOSK-01", "timestamp": "2026-02-20T22:56:40Z", "status": "ok",
            "uptimeSeconds": 60, "firmwareVersion": "2.4.1", "printerPaper": "low"}
    r = await client.post("/system/heartbeat", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer | {"serverTime": ""} == {"success": True, "message": "heartbeat recorded", "serverTime": "",
                                           "deviceId": "KIOSK-01", "onlineWindowSeconds": 120}
    [row] = await rows(site, "SELECT last_heartbeat_at, heartbeat FROM devices WHERE id = :d", d=device)
    # serverTime is our clock, as recorded: what a device compares its own with
    assert abs(datetime.fromisoformat(answer["serverTime"]) - datetime.now(timezone.utc)) < timedelta(seconds=30)
    async with site.central.engine.connect() as conn:
        recorded = (await conn.execute(select(Device.__table__.c.last_heartbeat_at).where(
            Device.__table__.c.id == device))).scalar_one()
    assert iso(recorded) == answer["serverTime"]
    assert json.loads(row["heartbeat"]) == body | {"timestamp": "2026-02-20T22:56:40Z"}
    # only a first heartbeat and a change of status are audited
    await client.post("/system/heartbeat", json=body)
    await client.post("/system/heartbeat", json=body | {"status": "degraded"})
    assert [(a["device_id"], a["details"]["status"], a["details"]["previousStatus"])
            for a in await audit(site, "device.heartbeat")] == [(device, "ok", None), (device, "degraded", "ok")]

    err(await client.post("/system/heartbeat", json={"deviceId": "NOPE"}), 404, "DeviceNotFound")
    for bad in ({}, {"deviceId": ""}, {"deviceId": "KIOSK-01", "timestamp": "yesterday"},
                {"deviceId": "KIOSK-01", "uptimeSeconds": -1}):
        err(await client.post("/system/heartbeat", json=bad), 400, "ValidationError")
    err(await client.post("/system/heartbeat", json={"deviceId": "KIOSK-01", "blob": "x" * 20_000}),
        400, "HeartbeatTooLarge")


# -- roles -----------------------------------------------------------------------------------------
async def test_permissions_per_role(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, l3, _ = await ids(site)
    mine, other = await add_device(site, "KIOSK-01"), await add_device(site, "KIOSK-02")
    await set_lockers(site, [l1, l2], device_id=mine)
    await set_lockers(site, [l3], device_id=other)
    held = (await client.post("/transactions", json={"lockerId": l3})).json()["id"]
    base = site.http_url

    async def call(who: dict[str, str], method: str, path: str, **kw: Any) -> int:
        async with httpx.AsyncClient(base_url=base, headers=who, timeout=20) as c:
            return (await c.request(method, path, **kw)).status_code

    reads = ["/lockers", f"/lockers/{l1}", f"/lockers/{l1}/config", "/transactions", f"/transactions/{held}",
             "/locker-types", "/bank-types"]
    viewer = await headers(site, "viewer")
    operator = await headers(site, "operator")
    integrator = await headers(site, "integrator")
    kiosk = await headers(site, "kiosk", device_id=mine)

    for path in reads:
        assert await call(viewer, "GET", path) == 200, path
        assert await call(operator, "GET", path) == 200, path
        assert await call(integrator, "GET", path) == 403, path
        assert await call({}, "GET", path) == 401, path
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/transactions", {"json": {"lockerId": l2}}),
        ("PATCH", f"/lockers/{l2}", {"json": {"brokenLock": False}}),
        ("POST", f"/lockers/{l2}/open", {}),
        ("POST", "/lockers/open-all", {"params": {"deviceId": 999}}),
        ("POST", "/system/heartbeat", {"json": {"deviceId": "KIOSK-01"}}),
        ("POST", "/locker-types", {"json": {"name": "By someone"}}),
        ("POST", "/bank-types", {"json": {"name": "By someone"}}),
    ]
    for method, path, kw in writes:
        assert await call(viewer, method, path, **kw) == 403, path
        assert await call(integrator, method, path, **kw) == 403, path
    allowed = {"/locker-types": 403, "/bank-types": 403, "/transactions": 201}  # types: admin only
    for method, path, kw in writes:
        assert await call(operator, method, path, **kw) == allowed.get(path, 200), path
    emu.boards[1].bays[2].close_door()

    # a kiosk: reads, rents and opens only its own device's lockers; no service changes
    async with httpx.AsyncClient(base_url=base, headers=kiosk, timeout=20) as k:
        assert [x["id"] for x in (await k.get("/lockers")).json()["items"]] == [l1, l2]
        for path in (f"/lockers/{l3}", f"/lockers/{l3}/config", f"/transactions/{held}"):
            err(await k.get(path), 404, "TransactionNotFound" if "transactions" in path else "LockerNotFound")
        assert (await k.get("/transactions")).json()["total"] == 1  # the operator's rental of l2
        err(await k.post(f"/lockers/{l3}/open"), 404, "LockerNotFound")
        err(await k.post("/transactions", json={"lockerId": l3}), 404, "LockerNotFound")
        err(await k.post(f"/transactions/{held}/open"), 404, "TransactionNotFound")
        mine_tx = (await k.post("/transactions", json={"lockerId": l1})).json()["id"]
        assert (await k.post(f"/transactions/{mine_tx}/open")).status_code == 200
        assert emu.boards[1].bays[1].door_open
        emu.boards[1].bays[1].close_door()
        assert (await k.post(f"/transactions/{mine_tx}/release")).status_code == 200
        assert (await k.post(f"/lockers/{l2}/open")).status_code == 200
        r = await k.post("/lockers/open-all")
        assert r.json()["total"] == 2 and not emu.boards[1].bays[3].door_open
        err(await k.patch(f"/lockers/{l1}", json={"brokenLock": True}), 403, "Forbidden")
        err(await k.post("/locker-types", json={"name": "Kiosk type"}), 403, "Forbidden")
        assert (await k.post("/system/heartbeat", json={"deviceId": "KIOSK-01"})).status_code == 200
        err(await k.post("/system/heartbeat", json={"deviceId": "KIOSK-02"}), 404, "DeviceNotFound")
        assert [x["lockers"] for x in (await k.get("/locker-types")).json()["items"]] == []
    assert "test-kiosk" in {a["actor"] for a in await audit(site, "locker.open")}


# -- health & status, and the document -------------------------------------------------------------
async def test_admin_interface_redirects_to_the_dashboards_locker_page(site: Stack) -> None:
    async with httpx.AsyncClient(base_url=site.http_url, timeout=20) as anyone:  # no token: a page
        r = await anyone.get("/admin", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (307, "/ui/lockers")
        page = await anyone.get("/admin", follow_redirects=True)  # the dashboard asks for a login
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert page.url.path == "/" and page.url.params["next"] == "/ui/lockers"


async def test_openapi_has_every_schema_of_the_doc(site: Stack, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    missing = DOC_SCHEMAS - spec["components"]["schemas"].keys()
    assert not missing, sorted(missing)
    ops = spec["paths"]
    assert ops["/admin"]["get"]["tags"] == ["system"] == ops["/health"]["get"]["tags"]
    assert ops["/admin"]["get"]["summary"] == "Admin interface"

    def ref(response: dict[str, Any]) -> str:
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert ref(ops["/lockers/{lockerId}"]["get"]["responses"]["200"]) == "LockerDetails"
    assert ref(ops["/lockers/{lockerId}/config"]["get"]["responses"]["200"]) == "LockerConfig"
    assert ref(ops["/system/heartbeat"]["post"]["responses"]["200"]) == "System"
    open_all = ops["/lockers/open-all"]["post"]["responses"]
    assert (ref(open_all["200"]), ref(open_all["207"])) == ("OpenAllLockersResponse", "MultiStatusOperationResponse")
