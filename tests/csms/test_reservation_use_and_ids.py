"""When a reservation is over, and whose id is whose (issue #15 item 6): a refused start or another
driver's start naming a reservation leaves it in force; a ReserveNow that timed out may be held by
the charge point, so it stays cancellable; a raw ReserveNow sent through the commands API is the
reservation of its id, in the one id space the REST resource allocates from."""

from __future__ import annotations

import asyncio

import pytest

from chargebay.stack import Stack
from tests.csms.reservation_station import (
    BUDGET,
    add_tag,
    assert_error,
    at,
    listed,
    reservation,
    reserve,
    session,
)
from tests.helpers import rows


async def test_refused_or_foreign_start_leaves_the_reservation_and_the_reserved_driver_uses_it(
        stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-USE") as (cp, client):
        await add_tag(client, "TAG-USE")
        await add_tag(client, "OTHER-USE")
        await add_tag(client, "BLOCKED-USE", status="Blocked")
        rid = (await reserve(client, "RES-USE", "TAG-USE"))["reservation"]["id"]
        refused = await cp.start_transaction(1, "BLOCKED-USE", reservation_id=rid)  # refused: Blocked
        foreign = await cp.start_transaction(2, "OTHER-USE", reservation_id=rid)  # accepted, not the driver
        held = await reservation(client, rid)
        assert (held["status"], held["transaction_id"], held["ended_at"]) == ("Accepted", None, None)
        used_by = await cp.start_transaction(1, "TAG-USE", reservation_id=rid)
        used = await reservation(client, rid)
        assert (used["status"], used["transaction_id"]) == ("Used", used_by)
    found = await rows(stack, "SELECT id, id_tag_status, reservation_id FROM transactions "
                              "WHERE charge_point_id = 'RES-USE' ORDER BY id")
    assert [(r["id"], r["id_tag_status"], r["reservation_id"]) for r in found] == [
        (refused, "Blocked", rid), (foreign, "Accepted", rid), (used_by, "Accepted", rid)]


@pytest.mark.parametrize("starting", ["PARENT-SIB", "SIBLING-SIB"])
async def test_a_start_by_the_reserved_tags_parent_or_a_sibling_uses_the_reservation(
        stack: Stack, starting: str) -> None:
    cp_id = f"RES-{starting}"
    async with asyncio.timeout(BUDGET), session(stack, cp_id) as (cp, client):
        await add_tag(client, "PARENT-SIB")
        await add_tag(client, "CHILD-SIB", parent_id_tag="PARENT-SIB")
        await add_tag(client, "SIBLING-SIB", parent_id_tag="PARENT-SIB")
        rid = (await reserve(client, cp_id, "CHILD-SIB"))["reservation"]["id"]
        tx = await cp.start_transaction(1, starting, reservation_id=rid)
        used = await reservation(client, rid)
        assert (used["status"], used["transaction_id"], used["parent_id_tag"]) == ("Used", tx, "PARENT-SIB")


async def test_reserve_now_unanswered_in_time_may_be_held_so_it_stays_cancellable(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-UNANS") as (cp, client):
        await add_tag(client, "TAG-UNANS")
        cp.hold = asyncio.Event()
        first = await reserve(client, "RES-UNANS", "TAG-UNANS", wait=0.5)
        assert (first["command"]["outcome"], first["reservation"]["status"]) == ("timeout", "Unanswered")
        second = await reserve(client, "RES-UNANS", "TAG-UNANS", connector=2, wait=0.5)
        third = await reserve(client, "RES-UNANS", "TAG-UNANS", wait=0.5)
        cp.hold.set()  # the late answers go out; the central system stopped listening for them
        assert await listed(client, charge_point_id="RES-UNANS", status="Unanswered") == [
            third["reservation"]["id"], second["reservation"]["id"], first["reservation"]["id"]]

        # it says Accepted: the station held it, and now it is cancelled
        r = await client.post(f"/api/v1/reservations/{first['reservation']['id']}/cancel")
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert (await reservation(client, first["reservation"]["id"]))["status"] == "Cancelled"
        # it says Rejected: the station never held it
        cp.cancel_answer = "Rejected"
        r = await client.post(f"/api/v1/reservations/{second['reservation']['id']}/cancel")
        assert r.status_code == 200 and r.json()["response"] == {"status": "Rejected"}, r.text
        failed = await reservation(client, second["reservation"]["id"])
        assert failed["status"] == "Failed" and failed["ended_at"]
        # a start naming it: it held it, and it is used
        tx = await cp.start_transaction(1, "TAG-UNANS", reservation_id=third["reservation"]["id"])
        used = await reservation(client, third["reservation"]["id"])
        assert (used["status"], used["transaction_id"]) == ("Used", tx)


async def test_raw_reserve_now_is_the_reservation_of_its_id_and_never_handed_out_again(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-RAW") as (cp, client), \
            session(stack, "RES-RAW2") as (cp2, _):
        await add_tag(client, "TAG-RAW")
        first = (await reserve(client, "RES-RAW", "TAG-RAW"))["reservation"]["id"]
        raw_id = first + 50
        url = "/api/v1/charge-points/RES-RAW/commands/ReserveNow"
        body = {"connectorId": 2, "expiryDate": at(3600), "idTag": "TAG-RAW", "reservationId": raw_id}
        r = await client.post(url, json=body)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        raw = await reservation(client, raw_id)
        assert (raw["charge_point_id"], raw["connector_id"], raw["status"], raw["requested_by"]) == (
            "RES-RAW", 2, "Accepted", "CHARGEBAY_API_TOKEN")

        # the same id again replaces it (OCPP 1.6: a ReserveNow with a known id updates it)
        r = await client.post(url, json=body | {"connectorId": 1})
        assert r.status_code == 200, r.text
        assert (await reservation(client, raw_id))["connector_id"] == 1
        # the REST resource allocates past it: no second reservation the station would take as this one
        after = (await reserve(client, "RES-RAW", "TAG-RAW", connector=2))["reservation"]["id"]
        assert after > raw_id

        # another charge point's id, or one that is over: refused before anything is sent
        r = await client.post("/api/v1/charge-points/RES-RAW2/commands/ReserveNow", json=body)
        assert_error(r, 409, "ReservationIdInUse")
        assert cp2.got("ReserveNow") == []
        await client.post(f"/api/v1/reservations/{raw_id}/cancel")
        assert (await reservation(client, raw_id))["status"] == "Cancelled"
        sent = len(cp.got("ReserveNow"))
        assert_error(await client.post(url, json=body), 409, "ReservationIdInUse")
        assert len(cp.got("ReserveNow")) == sent
        assert (await reservation(client, raw_id))["status"] == "Cancelled"  # its history stays

        # one the charge point refused may be sent again: a retry of it
        cp.reserve_answer = "Occupied"
        refused = body | {"reservationId": after + 10}
        r = await client.post(url, json=refused)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Occupied"}, r.text
        cp.reserve_answer = "Accepted"
        r = await client.post(url, json=refused)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert (await reservation(client, after + 10))["status"] == "Accepted"

        tx = await cp.start_transaction(2, "TAG-RAW", reservation_id=after)
        assert (await reservation(client, after))["transaction_id"] == tx
