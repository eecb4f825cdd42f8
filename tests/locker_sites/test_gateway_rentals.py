"""The locker gateway's rentals (the doc's transactions) and lockers' service state against a
running stack: the bridge embedded, the board emulated on a real pty."""

from __future__ import annotations

import httpx

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.locker_bridge.conftest import command
from tests.locker_sites.conftest import audit_actions, until
from tests.locker_sites.gateway_helpers import ADMIN_NAME, add_type, add_user, audit, err, has_entry, ids, set_lockers


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
    await until(lambda: has_entry(site, l1, "door.opened"))
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
    by_user = (await client.get("/transactions", params={"userId": alice})).json()["items"]
    assert [t["id"] for t in by_user] == [tx["id"]]
    assert (await client.get("/transactions", params={"lockerId": l2})).json()["total"] == 1
    one = (await client.get("/transactions", params={"page": 2, "pageSize": 1})).json()
    assert [t["id"] for t in one["items"]] == [tx["id"]] and one["total"] == 2

    # release: once; a released transaction no longer opens
    r = await client.post(f"/transactions/{tx['id']}/release")
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["releasedAt"]
    err(await client.post(f"/transactions/{tx['id']}/release"), 409, "TransactionNotActive")
    err(await client.post(f"/transactions/{tx['id']}/open"), 409, "TransactionNotActive")
    assert [t["id"] for t in (await client.get("/transactions", params={"active": True})).json()["items"]] == [second]
    released = (await client.get("/transactions", params={"active": False})).json()["items"]
    assert [t["id"] for t in released] == [tx["id"]]
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
    out_of_service = {"outOfService": True, "reasonCode": "SCREEN"}
    assert (await client.patch(f"/lockers/{l4}", json=out_of_service)).status_code == 200

    # bad bodies: 400; unknown locker: 404
    err(await client.patch(f"/lockers/{l2}", json={}), 400, "NothingToUpdate")
    for body in ({"outOfService": "yes"}, {"outOfService": None}, {"brokenLock": 1}, {"outofservice": True},
                 {"reasonCode": "X" * 49}, [True]):
        err(await client.patch(f"/lockers/{l2}", json=body), 400, "ValidationError")
    err(await client.patch(f"/lockers/{l2}", content=b"oops", headers={"Content-Type": "application/json"}),
        400, "ValidationError")
    err(await client.patch("/lockers/999", json={"outOfService": True}), 404, "LockerNotFound")
    err(await client.patch("/lockers/-1", json={"outOfService": True}), 400, "ValidationError")
    # the vendor's own sample request, as written (no id): a clear 400, not a redirect (307)
    err(await client.patch("/lockers/", json={"outOfService": True, "reasonCode": "LOCK_MALFUNCTION",
                                              "reason": "Lock solenoid not responding"}), 400, "LockerIdRequired")


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


