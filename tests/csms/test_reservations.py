"""Reservations as a REST resource (issue #15 item 6; OCTT TC_046, 048, 051-053)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.api.full_cp import eventually
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


# -- Reservations -----------------------------------------------------------------------------------
async def test_tc_046_reservation_is_sent_as_reserve_now_and_used_by_the_start_transaction_naming_it(
        stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-046") as (cp, client):
        await add_tag(client, "TAG-046")
        expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        local = expiry.astimezone(timezone(timedelta(hours=2))).isoformat()  # "...+02:00"
        made = await reserve(client, "RES-046", "TAG-046", connector=2, expiry_date=local)
        res, command = made["reservation"], made["command"]
        assert (command["outcome"], command["response"], command["error_code"]) == (
            "result", {"status": "Accepted"}, None)
        assert (res["status"], res["connector_id"], res["id_tag"], res["parent_id_tag"]) == (
            "Accepted", 2, "TAG-046", None)
        assert (res["command_id"], res["transaction_id"], res["ended_at"]) == (command["command_id"], None, None)
        [frame] = cp.got("ReserveNow")
        utc_expiry = expiry.isoformat().replace("+00:00", "Z")
        assert res["expiry_date"] == utc_expiry
        assert frame == {"connectorId": 2, "expiryDate": utc_expiry, "idTag": "TAG-046",
                         "reservationId": res["id"]}  # sent in UTC; no parent: no parentIdTag
        assert await reservation(client, res["id"]) == res

        tx = await cp.start_transaction(2, "TAG-046", reservation_id=res["id"])
        used = await reservation(client, res["id"])
        assert (used["status"], used["transaction_id"]) == ("Used", tx) and used["ended_at"]
        assert await listed(client, status="Used") == [res["id"]]
        assert await listed(client, status="Accepted") == []
        r = await client.post(f"/api/v1/reservations/{res['id']}/cancel")
        assert_error(r, 409, "ReservationNotActive")
        assert cp.got("CancelReservation") == []
    [row] = await rows(stack, "SELECT reservation_id FROM transactions WHERE id = :tx", tx=tx)
    assert row["reservation_id"] == res["id"]


async def test_start_transaction_names_another_charge_points_reservation_leaves_it_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-OWN-A") as (_, client), \
            session(stack, "RES-OWN-B") as (other, _):
        await add_tag(client, "TAG-OWN")
        res = (await reserve(client, "RES-OWN-A", "TAG-OWN"))["reservation"]
        await other.start_transaction(1, "TAG-OWN", reservation_id=res["id"])
        after = await reservation(client, res["id"])
        assert (after["status"], after["transaction_id"]) == ("Accepted", None)


@pytest.mark.parametrize("answer", ["Faulted", "Occupied", "Rejected", "Unavailable"])
async def test_tc_048_refused_reservation_shows_the_answer_and_cannot_be_cancelled(stack: Stack, answer: str) -> None:
    cp_id = f"RES-048-{answer}"
    async with asyncio.timeout(BUDGET), session(stack, cp_id) as (cp, client):
        await add_tag(client, "TAG-048")
        cp.reserve_answer = answer
        made = await reserve(client, cp_id, "TAG-048")
        assert made["command"]["response"] == {"status": answer}
        assert made["reservation"]["status"] == answer
        rid = made["reservation"]["id"]
        assert (await reservation(client, rid))["status"] == answer
        assert await listed(client, charge_point_id=cp_id, status=answer) == [rid]
        assert await listed(client, charge_point_id=cp_id, status="Accepted") == []
        r = await client.post(f"/api/v1/reservations/{rid}/cancel")
        assert_error(r, 409, "ReservationNotActive")
        assert [name for name, _ in cp.frames] == ["ReserveNow"]


async def test_tc_051_cancel_accepted_marks_the_reservation_cancelled_once(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-051") as (cp, client):
        await add_tag(client, "TAG-051")
        rid = (await reserve(client, "RES-051", "TAG-051"))["reservation"]["id"]
        r = await client.post(f"/api/v1/reservations/{rid}/cancel", params={"wait": 5})
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["response"]) == ("result", {"status": "Accepted"})
        assert cp.got("CancelReservation") == [{"reservationId": rid}]
        after = await reservation(client, rid)
        assert (after["status"], after["transaction_id"]) == ("Cancelled", None) and after["ended_at"]
        assert await listed(client, charge_point_id="RES-051", status="Cancelled") == [rid]
        again = await client.post(f"/api/v1/reservations/{rid}/cancel")
        assert_error(again, 409, "ReservationNotActive")
        assert len(cp.got("CancelReservation")) == 1


async def test_tc_052_cancel_rejected_leaves_the_reservation_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-052") as (cp, client):
        await add_tag(client, "TAG-052")
        rid = (await reserve(client, "RES-052", "TAG-052"))["reservation"]["id"]
        cp.cancel_answer = "Rejected"
        r = await client.post(f"/api/v1/reservations/{rid}/cancel")
        assert r.status_code == 200 and r.json()["response"] == {"status": "Rejected"}, r.text
        after = await reservation(client, rid)
        assert (after["status"], after["ended_at"]) == ("Accepted", None)
        cp.cancel_answer = "Accepted"
        r = await client.post(f"/api/v1/reservations/{rid}/cancel")
        assert r.status_code == 200, r.text
        assert (await reservation(client, rid))["status"] == "Cancelled"
        assert cp.got("CancelReservation") == [{"reservationId": rid}] * 2


async def test_tc_053_reservation_takes_parent_id_tag_from_the_id_tag_or_as_given(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-053") as (cp, client):
        await add_tag(client, "PARENT-053")
        await add_tag(client, "CHILD-053", parent_id_tag="PARENT-053")
        res = (await reserve(client, "RES-053", "CHILD-053"))["reservation"]
        assert (res["status"], res["parent_id_tag"]) == ("Accepted", "PARENT-053")
        given = (await reserve(client, "RES-053", "CHILD-053", connector=2,
                               parent_id_tag="OTHER-PARENT"))["reservation"]
        assert given["parent_id_tag"] == "OTHER-PARENT"
        assert cp.got("ReserveNow") == [
            {"connectorId": 1, "expiryDate": res["expiry_date"], "idTag": "CHILD-053",
             "reservationId": res["id"], "parentIdTag": "PARENT-053"},
            {"connectorId": 2, "expiryDate": given["expiry_date"], "idTag": "CHILD-053",
             "reservationId": given["id"], "parentIdTag": "OTHER-PARENT"}]
        assert given["id"] != res["id"]


async def test_tc_053_raw_reserve_now_command_goes_out_with_the_id_tags_parent(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RAW-053") as (cp, client):
        await add_tag(client, "PARENT-R53")
        await add_tag(client, "CHILD-R53", parent_id_tag="PARENT-R53")
        await add_tag(client, "ORPHAN-R53")
        expiry = at(3600)
        url = "/api/v1/charge-points/RAW-053/commands/ReserveNow"
        for tag, reservation_id in (("CHILD-R53", 901), ("ORPHAN-R53", 902)):
            r = await client.post(url, json={"connectorId": 1, "expiryDate": expiry, "idTag": tag,
                                              "reservationId": reservation_id})
            assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        r = await client.post(url, json={"connectorId": 1, "expiryDate": expiry, "idTag": "CHILD-R53",
                                          "reservationId": 903, "parentIdTag": "MINE"})
        assert r.status_code == 200, r.text
        assert cp.got("ReserveNow") == [
            {"connectorId": 1, "expiryDate": expiry, "idTag": "CHILD-R53", "reservationId": 901,
             "parentIdTag": "PARENT-R53"},
            {"connectorId": 1, "expiryDate": expiry, "idTag": "ORPHAN-R53", "reservationId": 902},
            {"connectorId": 1, "expiryDate": expiry, "idTag": "CHILD-R53", "reservationId": 903,
             "parentIdTag": "MINE"}]
        r = await client.get("/api/v1/commands", params={"charge_point_id": "RAW-053", "action": "ReserveNow"})
        recorded = sorted((c["payload"] for c in r.json()["items"]), key=lambda p: p["reservationId"])
        assert recorded == cp.got("ReserveNow")  # the command is recorded as it went out


async def test_accepted_reservation_past_its_expiry_shows_expired_and_cannot_be_cancelled(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-EXP") as (cp, client):
        await add_tag(client, "TAG-EXP")
        res = (await reserve(client, "RES-EXP", "TAG-EXP", expires_in=1.5))["reservation"]
        assert res["status"] == "Accepted"
        assert await listed(client, charge_point_id="RES-EXP", status="Accepted") == [res["id"]]

        async def expired() -> bool:
            return bool((await reservation(client, res["id"]))["status"] == "Expired")
        assert await eventually(expired, timeout=6)
        assert await listed(client, charge_point_id="RES-EXP", status="Expired") == [res["id"]]
        assert await listed(client, charge_point_id="RES-EXP", status="Accepted") == []
        r = await client.post(f"/api/v1/reservations/{res['id']}/cancel")
        assert_error(r, 409, "ReservationNotActive")
        assert cp.got("CancelReservation") == []


async def test_reservation_for_an_offline_charge_point_is_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=10) as client:
        r = await client.post("/api/v1/charge-points", json={"id": "RES-OFF"})
        assert r.status_code == 201, r.text
        await add_tag(client, "TAG-OFF")
        made = await reserve(client, "RES-OFF", "TAG-OFF")
        assert (made["command"]["outcome"], made["command"]["response"]) == ("offline", None)
        assert made["reservation"]["status"] == "Failed"
        assert (await reservation(client, made["reservation"]["id"]))["status"] == "Failed"
        r = await client.post(f"/api/v1/reservations/{made['reservation']['id']}/cancel")
        assert_error(r, 409, "ReservationNotActive")


async def test_reservation_not_waited_for_answers_202_requested_then_follows_the_answer(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-202") as (cp, client):
        await add_tag(client, "TAG-202")
        cp.reserve_answer, cp.hold = "Occupied", asyncio.Event()
        made = await reserve(client, "RES-202", "TAG-202", wait=0, status=202)
        assert (made["command"]["outcome"], made["command"]["response"]) == (None, None)
        assert made["reservation"]["status"] == "Requested"
        rid = made["reservation"]["id"]
        assert await listed(client, charge_point_id="RES-202", status="Requested") == [rid]
        cp.hold.set()

        async def answered() -> dict[str, Any] | None:
            res = await reservation(client, rid)
            return res if res["status"] != "Requested" else None
        res = await eventually(answered, timeout=5)
        assert res and (res["status"], res["command_id"]) == ("Occupied", made["command"]["command_id"])
        assert [p["reservationId"] for p in cp.got("ReserveNow")] == [rid]


async def test_reservation_refused_before_anything_is_sent(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-BAD") as (cp, client):
        await add_tag(client, "TAG-BAD")
        assert_error(await client.post("/api/v1/reservations", json={
            "charge_point_id": "NO-SUCH-CP", "connector_id": 1, "id_tag": "TAG-BAD", "expiry_date": at(3600)}),
            404, "ChargePointNotFound")
        assert_error(await client.post("/api/v1/reservations", json={
            "charge_point_id": "RES-BAD", "connector_id": 1, "id_tag": "TAG-BAD", "expiry_date": at(-60)}),
            422, "ExpiryInPast")
        assert_error(await client.get("/api/v1/reservations/999999"), 404, "ReservationNotFound")
        assert_error(await client.post("/api/v1/reservations/999999/cancel"), 404, "ReservationNotFound")
        assert await listed(client) == []
        assert cp.got("ReserveNow") == []


async def test_reservations_list_newest_first_filtered_by_charge_point(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-L1") as (_, client), session(stack, "RES-L2") as _:
        await add_tag(client, "TAG-L")
        first = (await reserve(client, "RES-L1", "TAG-L"))["reservation"]["id"]
        second = (await reserve(client, "RES-L2", "TAG-L"))["reservation"]["id"]
        third = (await reserve(client, "RES-L1", "TAG-L", connector=2))["reservation"]["id"]
        assert await listed(client) == [third, second, first]
        assert await listed(client, charge_point_id="RES-L1") == [third, first]
        assert await listed(client, charge_point_id="RES-L2", status="Accepted") == [second]


async def test_reserve_now_answered_with_a_call_error_is_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-ERR") as (cp, client):
        await add_tag(client, "TAG-ERR")
        cp.fail_reserve = True
        made = await reserve(client, "RES-ERR", "TAG-ERR")
        assert (made["command"]["outcome"], made["command"]["error_code"]) == ("call_error", "InternalError")
        assert made["reservation"]["status"] == "Failed"
        assert (await reservation(client, made["reservation"]["id"]))["status"] == "Failed"


async def test_reserve_now_unanswered_in_time_is_unanswered_and_a_late_answer_changes_nothing(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-LATE") as (cp, client):
        await add_tag(client, "TAG-LATE")
        cp.hold = asyncio.Event()
        made = await reserve(client, "RES-LATE", "TAG-LATE", wait=0.5)
        assert (made["command"]["outcome"], made["reservation"]["status"]) == ("timeout", "Unanswered")
        cp.hold.set()  # now it answers Accepted, too late
        ping = await client.post("/api/v1/charge-points/RES-LATE/commands/CancelReservation",
                                 json={"reservationId": 77})  # answered after the late one went out
        assert ping.status_code == 200, ping.text
        assert (await reservation(client, made["reservation"]["id"]))["status"] == "Unanswered"


async def test_raw_cancel_reservation_accepted_cancels_the_reservation_it_names(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-RAWC") as (cp, client):
        await add_tag(client, "TAG-RAWC")
        rid = (await reserve(client, "RES-RAWC", "TAG-RAWC"))["reservation"]["id"]
        r = await client.post("/api/v1/charge-points/RES-RAWC/commands/CancelReservation",
                              json={"reservationId": rid})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert cp.got("CancelReservation") == [{"reservationId": rid}]
        assert (await reservation(client, rid))["status"] == "Cancelled"


async def test_cancel_while_the_charge_point_is_offline_is_409_and_keeps_the_reservation(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=10) as client:
        async with session(stack, "RES-GONE") as (cp, _):
            await add_tag(client, "TAG-GONE")
            rid = (await reserve(client, "RES-GONE", "TAG-GONE"))["reservation"]["id"]

        async def offline() -> bool:
            r = await client.get("/api/v1/charge-points/RES-GONE")
            return r.json()["online"] is False
        assert await eventually(offline, timeout=5)
        r = await client.post(f"/api/v1/reservations/{rid}/cancel")
        assert_error(r, 409, "ChargePointOffline")
        after = await reservation(client, rid)
        assert (after["status"], after["ended_at"]) == ("Accepted", None)
        assert cp.got("CancelReservation") == []


