"""OCTT 1.6 CSMS test cases, Local Auth List Management (TC_042, TC_043) and Reservation (TC_046 -
TC_053) profiles: the local list and reservations as REST resources, what goes out (SendLocalList's
version, update type and entries; ReserveNow's reservationId and parentIdTag) and what the central
system keeps (the list version a charge point accepted, each reservation's status and the
transaction that used it). The charge point's side is scripted by
:class:`tests.compliance.station.Station`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.full_cp import eventually
from tests.compliance.flows import at, charge, charge_point, connector_statuses
from tests.compliance.station import Station, command, operator, station
from tests.helpers import add_id_tag, rows

BUDGET = 30.0
TAG = "OCTT-TAG-1"
ACCEPTED_ENTRY = {"id_tag": TAG, "id_tag_info": {"status": "Accepted"}}


# -- Local Auth List Management -------------------------------------------------------------------
async def send_list(client: httpx.AsyncClient, cp_id: str, update_type: str,
                    version: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"update_type": update_type} | ({"version": version} if version else {})
    r = await client.post(f"/api/v1/charge-points/{cp_id}/local-list", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def held(client: httpx.AsyncClient, cp_id: str) -> tuple[int | None, list[str]]:
    """The list the central system believes the charge point holds: (version, id tags)."""
    r = await client.get(f"/api/v1/charge-points/{cp_id}/local-list")
    assert r.status_code == 200, r.text
    return r.json()["version"], [e["id_tag"] for e in r.json()["entries"]]


async def check_version(stack: Stack, cp_id: str, version: int) -> dict[str, Any]:
    """GetLocalListVersion through the local list's check, the station answering ``version``."""
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        cp.answers["GetLocalListVersion"] = {"list_version": version}
        r = await client.post(f"/api/v1/charge-points/{cp_id}/local-list/check")
        assert r.status_code == 200, r.text
        assert cp.got("GetLocalListVersion") == [{}]
        assert r.json()["command"]["response"] == {"listVersion": version}
        assert await held(client, cp_id) == (None, [])  # asking changes nothing it keeps
        return r.json()  # type: ignore[no-any-return]


async def test_tc_042_1_csms_get_local_list_version_not_supported(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        checked = await check_version(stack, "TC042-1", -1)
    assert checked["charge_point"] == -1 and checked["in_sync"] is not True


async def test_tc_042_2_csms_get_local_list_version_empty(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        checked = await check_version(stack, "TC042-2", 0)
    assert (checked["charge_point"], checked["in_sync"]) == (0, True)


async def full_list_answered(stack: Stack, cp_id: str, answer: str) -> tuple[dict[str, Any], Station]:
    """SendLocalList Full, version 1, with the one id tag, answered ``answer``."""
    await add_id_tag(stack, TAG)
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        cp.answers["SendLocalList"] = {"status": answer}
        sent = await send_list(client, cp_id, "Full", version=1)
        assert cp.got("SendLocalList") == [{"list_version": 1, "update_type": "Full",
                                            "local_authorization_list": [ACCEPTED_ENTRY]}]
        assert sent["command"]["response"] == {"status": answer}
        assert (sent["version"], sent["entries"], sent["removed"]) == (1, 1, 0)
        return sent, cp


async def assert_list_not_kept(stack: Stack, cp_id: str) -> None:
    async with operator(stack) as client:
        assert await held(client, cp_id) == (None, [])
    assert (await charge_point(stack, cp_id))["local_list_version"] is None


async def test_tc_043_1_csms_send_local_authorization_list_not_supported(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await full_list_answered(stack, "TC043-1", "NotSupported")
        await assert_list_not_kept(stack, "TC043-1")


async def test_tc_043_3_csms_send_local_authorization_list_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await full_list_answered(stack, "TC043-3", "Failed")
        await assert_list_not_kept(stack, "TC043-3")


async def test_tc_043_4_csms_send_local_authorization_list_full(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), operator(stack) as client:
        await full_list_answered(stack, "TC043-4", "Accepted")
        assert await held(client, "TC043-4") == (1, [TAG])
    assert (await charge_point(stack, "TC043-4"))["local_list_version"] == 1


async def test_tc_043_5_csms_send_local_authorization_list_differential(stack: Stack) -> None:
    cp_id, new = "TC043-5", "OCTT-TAG-NEW"
    async with asyncio.timeout(BUDGET):
        await full_list_answered(stack, cp_id, "Accepted")
        await add_id_tag(stack, new)
        async with station(stack, cp_id) as cp, operator(stack) as client:
            await cp.boot()
            cp.answers["GetLocalListVersion"] = {"list_version": 1}
            r = await client.post(f"/api/v1/charge-points/{cp_id}/local-list/check")
            assert (r.json()["expected"], r.json()["charge_point"], r.json()["in_sync"]) == (1, 1, True), r.text
            sent = await send_list(client, cp_id, "Differential")
            assert cp.got("SendLocalList") == [{"list_version": 2, "update_type": "Differential",
                                                "local_authorization_list": [
                                                    {"id_tag": new, "id_tag_info": {"status": "Accepted"}}]}]
            assert (sent["version"], sent["entries"], sent["command"]["response"]) == (2, 1, {"status": "Accepted"})
            assert await held(client, cp_id) == (2, [TAG, new])


# -- Reservation ----------------------------------------------------------------------------------
async def reserve(client: httpx.AsyncClient, cp_id: str, connector: int = 1, id_tag: str = TAG,
                  expires_in: float = 3600) -> dict[str, Any]:
    """POST /api/v1/reservations (ReserveNow): the reservation as the central system shows it."""
    r = await client.post("/api/v1/reservations", json={
        "charge_point_id": cp_id, "connector_id": connector, "id_tag": id_tag, "expiry_date": at(expires_in)})
    assert r.status_code == 201, r.text
    return r.json()["reservation"]  # type: ignore[no-any-return]


async def reservation(client: httpx.AsyncClient, reservation_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/reservations/{reservation_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def assert_reserve_now(cp: Station, made: dict[str, Any], connector: int = 1, **extra: str) -> None:
    """The station got one ReserveNow for ``made`` (its id as reservationId, its expiry)."""
    [got] = cp.got("ReserveNow")
    assert got == {"connector_id": connector, "expiry_date": got["expiry_date"], "id_tag": made["id_tag"],
                   "reservation_id": made["id"], **extra}
    assert got["expiry_date"][:19] == made["expiry_date"][:19]


async def reserved_then_used(stack: Stack, cp_id: str, connector: int) -> None:
    """ReserveNow Accepted, Status 1 Reserved, then a session on connector 1 with its reservationId:
    the reservation is Used by that transaction (TC_046, TC_049)."""
    await add_id_tag(stack, TAG)
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        made = await reserve(client, cp_id, connector)
        assert (made["status"], made["connector_id"], made["transaction_id"]) == ("Accepted", connector, None)
        assert_reserve_now(cp, made, connector)
        await cp.status(1, "Reserved")
        tx = await charge(cp, TAG, reservation_id=made["id"])
        used = await reservation(client, made["id"])
        assert (used["status"], used["transaction_id"]) == ("Used", tx) and used["ended_at"]
    [row] = await rows(stack, "SELECT reservation_id FROM transactions WHERE id = :tx", tx=tx)
    assert row["reservation_id"] == made["id"]


async def test_tc_046_csms_reservation_of_a_connector_transaction(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await reserved_then_used(stack, "TC046", 1)


async def test_tc_047_csms_reservation_of_a_connector_expire(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC047") as cp, operator(stack) as client:
        await cp.boot()
        made = await reserve(client, "TC047", expires_in=3)
        assert made["status"] == "Accepted"
        await cp.status(1, "Reserved")

        async def expired() -> bool:
            return bool((await reservation(client, made["id"]))["status"] == "Expired")
        assert await eventually(expired, timeout=15)
        await cp.status(1, "Available")
        r = await client.post(f"/api/v1/reservations/{made['id']}/cancel")
        assert r.status_code == 409 and r.json()["code"] == "ReservationNotActive", r.text
        assert cp.got("CancelReservation") == []
    assert await connector_statuses(stack, "TC047") == [(0, "Available"), (1, "Available"), (2, "Available")]


async def refused_reservation(stack: Stack, cp_id: str, answer: str, cp: Station) -> None:
    """ReserveNow answered ``answer``: the reservation shows it, is not active (no cancel, no
    transaction can use it), and the station got nothing more."""
    async with operator(stack) as client:
        cp.answers["ReserveNow"] = {"status": answer}
        made = await reserve(client, cp_id)
        assert made["status"] == answer
        assert_reserve_now(cp, made)
        r = await client.get("/api/v1/reservations", params={"charge_point_id": cp_id, "status": "Accepted"})
        assert r.json()["items"] == [], r.text
        r = await client.post(f"/api/v1/reservations/{made['id']}/cancel")
        assert r.status_code == 409 and r.json()["code"] == "ReservationNotActive", r.text
        assert [a for a, _ in cp.received if a not in ("ChangeAvailability",)] == ["ReserveNow"]
        assert (await reservation(client, made["id"]))["status"] == answer


async def test_tc_048_1_csms_reservation_of_a_connector_faulted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC048-1") as cp:
        await cp.boot()
        await refused_reservation(stack, "TC048-1", "Faulted", cp)


async def test_tc_048_2_csms_reservation_of_a_connector_occupied(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC048-2") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        await refused_reservation(stack, "TC048-2", "Occupied", cp)


async def test_tc_048_3_csms_reservation_unavailable(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC048-3") as cp, operator(stack) as client:
        await cp.boot()

        async def unavailable(st: Station, payload: dict[str, Any]) -> None:
            await st.status(payload["connector_id"], "Unavailable")
        cp.after["ChangeAvailability"] = unavailable
        answer = await command(client, "TC048-3", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
        assert answer == {"status": "Accepted"}
        assert cp.got("ChangeAvailability") == [{"connector_id": 1, "type": "Inoperative"}]

        async def down() -> bool:
            return (1, "Unavailable") in await connector_statuses(stack, "TC048-3")
        assert await eventually(down, timeout=5)
        await refused_reservation(stack, "TC048-3", "Unavailable", cp)


async def test_tc_048_4_csms_reservation_of_a_connector_rejected(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC048-4") as cp:
        await cp.boot()
        await refused_reservation(stack, "TC048-4", "Rejected", cp)


async def test_tc_049_csms_reservation_of_a_charge_point_transaction(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await reserved_then_used(stack, "TC049", 0)


async def reserved_and_cancelled(stack: Stack, cp_id: str, answer: str) -> dict[str, Any]:
    """ReserveNow Accepted, Reserved, then cancelled over REST, the station answering ``answer``;
    the reservation as shown afterwards."""
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        made = await reserve(client, cp_id)
        await cp.status(1, "Reserved")
        cp.answers["CancelReservation"] = {"status": answer}
        r = await client.post(f"/api/v1/reservations/{made['id']}/cancel")
        assert r.status_code == 200 and r.json()["response"] == {"status": answer}, r.text
        assert cp.got("CancelReservation") == [{"reservation_id": made["id"]}]
        if answer == "Accepted":
            await cp.status(1, "Available")
        return await reservation(client, made["id"])


async def test_tc_051_csms_cancel_reservation(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        after = await reserved_and_cancelled(stack, "TC051", "Accepted")
    assert after["status"] == "Cancelled" and after["ended_at"] and after["transaction_id"] is None
    assert (1, "Available") in await connector_statuses(stack, "TC051")


async def test_tc_052_csms_cancel_reservation_rejected(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        after = await reserved_and_cancelled(stack, "TC052", "Rejected")
    assert (after["status"], after["ended_at"]) == ("Accepted", None)
    async with operator(stack) as client:
        r = await client.get("/api/v1/reservations", params={"charge_point_id": "TC052", "status": "Accepted"})
    assert [x["id"] for x in r.json()["items"]] == [after["id"]]


async def test_tc_053_csms_use_a_reserved_connector_with_parent_id_tag(stack: Stack) -> None:
    parent = "OCTT-PARENT"
    await add_id_tag(stack, parent)
    await add_id_tag(stack, TAG, parent_id_tag=parent)
    async with asyncio.timeout(BUDGET), station(stack, "TC053") as cp, operator(stack) as client:
        await cp.boot()
        made = await reserve(client, "TC053")
        assert (made["status"], made["parent_id_tag"]) == ("Accepted", parent)
        assert_reserve_now(cp, made, parent_id_tag=parent)  # filled in from the id tag's parent
        await cp.status(1, "Reserved")
        authorized = await cp.call(call.Authorize(id_tag=TAG))
        assert authorized.id_tag_info == {"status": "Accepted", "parent_id_tag": parent}
        tx = await charge(cp, parent, reservation_id=made["id"], authorized=TAG)
        used = await reservation(client, made["id"])
        assert (used["status"], used["transaction_id"]) == ("Used", tx)
    [row] = await rows(stack, "SELECT id_tag, reservation_id FROM transactions WHERE id = :tx", tx=tx)
    assert (row["id_tag"], row["reservation_id"]) == (parent, made["id"])
