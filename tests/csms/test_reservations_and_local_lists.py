"""Reservations and local authorization lists as REST resources (issue #15 items 6 and 7).

Reservations: ``POST /api/v1/reservations`` records a row and sends ReserveNow (its id as the
reservationId, ``parentIdTag`` from the id tag's parent when not given); the row follows the charge
point's answer (Accepted, Faulted, Occupied, Rejected; Failed without one; Requested while not waited
for), becomes Cancelled on an accepted CancelReservation, Used by the StartTransaction naming it and
shows Expired once an accepted one is past its expiry. A raw ReserveNow through the commands API gains
``parentIdTag`` too (TC_053).

Local lists: ``POST /api/v1/charge-points/{id}/local-list`` sends SendLocalList derived from the id
tags (all or a group), Full or Differential (changed and new tags with idTagInfo, removed ones
without); the kept list and ``local_list_version`` change only on Accepted. ``.../local-list/check``
sends GetLocalListVersion and compares.

Every test checks the frames the charge point (written with the ``ocpp`` library) received on the
wire and what the central system shows afterwards over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.api.full_cp import eventually
from tests.helpers import rows
from tests.ocpp_client import TestChargePoint, connect

BUDGET = 20.0
Handler = TypeVar("Handler", bound=Callable[..., Any])


def handles(action: str) -> Callable[[Handler], Handler]:
    """``ocpp.routing.on``, typed (the library's decorator is not)."""
    decorator: Callable[[Handler], Handler] = on(action)
    return decorator


def at(seconds: float) -> str:
    """An ISO 8601 UTC time ``seconds`` from now, "Z"-suffixed as the central system writes it."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class Station(TestChargePoint):
    """Answers the reservation and local list actions with what the test sets, and records every
    CALL frame's payload exactly as it arrived (camelCase)."""

    __test__ = False

    def __init__(self, cp_id: str, ws: Any) -> None:
        super().__init__(cp_id, ws)
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.reserve_answer = "Accepted"
        self.cancel_answer = "Accepted"
        self.list_answer = "Accepted"
        self.list_version = 0
        self.hold: asyncio.Event | None = None  # set: ReserveNow and SendLocalList answer once it is set
        self.fail_reserve = False  # ReserveNow answered with a CALLERROR (InternalError)

    async def _held(self) -> None:
        if self.hold is not None:
            await self.hold.wait()

    async def route_message(self, raw_msg: str) -> Any:
        msg = json.loads(raw_msg)
        if msg[0] == 2:
            self.frames.append((msg[2], msg[3]))
        return await super().route_message(raw_msg)

    def got(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.frames if name == action]

    @handles("ReserveNow")
    async def on_reserve_now(self, **_: Any) -> Any:
        await self._held()
        if self.fail_reserve:
            raise ValueError("no reservations today")  # the library answers InternalError
        return call_result.ReserveNow(status=self.reserve_answer)

    @handles("CancelReservation")
    def on_cancel_reservation(self, **_: Any) -> Any:
        return call_result.CancelReservation(status=self.cancel_answer)

    @handles("SendLocalList")
    async def on_send_local_list(self, **_: Any) -> Any:
        await self._held()
        return call_result.SendLocalList(status=self.list_answer)

    @handles("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.list_version)

    async def boot(self) -> None:
        answer = await self.call(call.BootNotification(charge_point_model="Wall", charge_point_vendor="Tests"))
        assert answer.status == "Accepted"

    async def start_transaction(self, connector: int, id_tag: str, reservation_id: int | None = None) -> int:
        answer = await self.call(call.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=0,
                                                       timestamp=at(0), reservation_id=reservation_id))
        return int(answer.transaction_id)


@contextlib.asynccontextmanager
async def session(stack: Stack, cp_id: str) -> AsyncIterator[tuple[Station, httpx.AsyncClient]]:
    """A booted Station and an admin REST client."""
    async with connect(stack.ws_url, cp_id, cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        await cp.boot()
        yield cp, client


async def add_tag(client: httpx.AsyncClient, id_tag: str, **extra: Any) -> None:
    r = await client.post("/api/v1/id-tags", json={"id_tag": id_tag, **extra})
    assert r.status_code == 201, r.text


async def reserve(client: httpx.AsyncClient, cp_id: str, id_tag: str, *, connector: int = 1,
                  expires_in: float = 3600, wait: float = 5, status: int = 201, **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/reservations", params={"wait": wait}, json={
        "charge_point_id": cp_id, "connector_id": connector, "id_tag": id_tag, "expiry_date": at(expires_in)}
        | extra)
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


async def reservation(client: httpx.AsyncClient, reservation_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/reservations/{reservation_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, **params: str) -> list[int]:
    r = await client.get("/api/v1/reservations", params=params)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text


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


async def test_reserve_now_unanswered_in_time_is_failed_and_a_late_answer_changes_nothing(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "RES-LATE") as (cp, client):
        await add_tag(client, "TAG-LATE")
        cp.hold = asyncio.Event()
        made = await reserve(client, "RES-LATE", "TAG-LATE", wait=0.5)
        assert (made["command"]["outcome"], made["reservation"]["status"]) == ("timeout", "Failed")
        cp.hold.set()  # now it answers Accepted, too late
        ping = await client.post("/api/v1/charge-points/RES-LATE/commands/CancelReservation",
                                 json={"reservationId": 77})  # answered after the late one went out
        assert ping.status_code == 200, ping.text
        assert (await reservation(client, made["reservation"]["id"]))["status"] == "Failed"


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


# -- Local lists -----------------------------------------------------------------------------------
async def send_list(client: httpx.AsyncClient, cp_id: str, update_type: str, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/charge-points/{cp_id}/local-list", params={"wait": 5},
                          json={"update_type": update_type, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def kept(client: httpx.AsyncClient, cp_id: str) -> tuple[int | None, dict[str, Any]]:
    """The kept list (version, id tag -> entry) and the charge point's own local_list_version."""
    r = await client.get(f"/api/v1/charge-points/{cp_id}/local-list")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["charge_point_id"] == cp_id
    cp = await client.get(f"/api/v1/charge-points/{cp_id}")
    assert cp.json()["local_list_version"] == body["version"], (cp.text, body)
    return body["version"], {e["id_tag"]: e for e in body["entries"]}


def entry(status: str, expiry: str | None = None, parent: str | None = None) -> dict[str, Any]:
    return {"status": status, "expiry_date": expiry, "parent_id_tag": parent}


async def four_tags(client: httpx.AsyncClient) -> str:
    """LL-A Accepted, LL-B Blocked, LL-C expired (sent as Expired), LL-D with parent LL-A and an expiry;
    returns LL-D's expiry."""
    future = "2031-05-06T07:08:09.123456Z"
    await add_tag(client, "LL-A")
    await add_tag(client, "LL-B", status="Blocked")
    await add_tag(client, "LL-C", expiry_date="2020-01-01T00:00:00Z")
    await add_tag(client, "LL-D", parent_id_tag="LL-A", expiry_date=future)
    return future


async def test_tc_043_full_list_sends_every_id_tag_and_is_kept_when_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-FULL") as (cp, client):
        future = await four_tags(client)
        assert await kept(client, "LL-FULL") == (None, {})
        sent = await send_list(client, "LL-FULL", "Full")
        assert (sent["version"], sent["update_type"], sent["group"], sent["entries"], sent["removed"]) == (
            1, "Full", None, 4, 0)
        assert (sent["command"]["outcome"], sent["command"]["response"]) == ("result", {"status": "Accepted"})
        assert cp.got("SendLocalList") == [{"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "LL-A", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LL-B", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "LL-C", "idTagInfo": {"status": "Expired", "expiryDate": "2020-01-01T00:00:00Z"}},
            {"idTag": "LL-D", "idTagInfo": {"status": "Accepted", "expiryDate": future, "parentIdTag": "LL-A"}}]}]
        assert await kept(client, "LL-FULL") == (1, {
            "LL-A": {"id_tag": "LL-A", **entry("Accepted")}, "LL-B": {"id_tag": "LL-B", **entry("Blocked")},
            "LL-C": {"id_tag": "LL-C", **entry("Expired", "2020-01-01T00:00:00Z")},
            "LL-D": {"id_tag": "LL-D", **entry("Accepted", future, "LL-A")}})
        again = await send_list(client, "LL-FULL", "Full")
        assert again["version"] == 2 and cp.got("SendLocalList")[1]["listVersion"] == 2
        assert (await kept(client, "LL-FULL"))[0] == 2


async def test_tc_043_differential_sends_changed_and_new_tags_and_removes_deleted_ones(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-DIFF") as (cp, client):
        await four_tags(client)
        await send_list(client, "LL-DIFF", "Full")
        assert (await client.patch("/api/v1/id-tags/LL-B", json={"status": "Accepted"})).status_code == 200
        assert (await client.delete("/api/v1/id-tags/LL-C")).status_code == 204
        await add_tag(client, "LL-E", status="Invalid")
        sent = await send_list(client, "LL-DIFF", "Differential")
        assert (sent["version"], sent["entries"], sent["removed"]) == (2, 2, 1)
        assert cp.got("SendLocalList")[1] == {"listVersion": 2, "updateType": "Differential",
                                              "localAuthorizationList": [
                                                  {"idTag": "LL-B", "idTagInfo": {"status": "Accepted"}},
                                                  {"idTag": "LL-E", "idTagInfo": {"status": "Invalid"}},
                                                  {"idTag": "LL-C"}]}
        version, entries = await kept(client, "LL-DIFF")
        assert version == 2
        assert {tag: e["status"] for tag, e in entries.items()} == {
            "LL-A": "Accepted", "LL-B": "Accepted", "LL-D": "Accepted", "LL-E": "Invalid"}
        nothing = await send_list(client, "LL-DIFF", "Differential")
        assert (nothing["version"], nothing["entries"], nothing["removed"]) == (3, 0, 0)
        assert cp.got("SendLocalList")[2] == {"listVersion": 3, "updateType": "Differential",
                                              "localAuthorizationList": []}


async def test_group_list_holds_only_the_tags_whose_parent_is_the_group(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-GRP") as (cp, client):
        await add_tag(client, "FLEET")
        await add_tag(client, "FLEET-1", parent_id_tag="FLEET")
        await add_tag(client, "FLEET-2", parent_id_tag="FLEET", status="Blocked")
        await add_tag(client, "LONER")
        await add_tag(client, "OTHER-1", parent_id_tag="OTHER")
        sent = await send_list(client, "LL-GRP", "Full", group="FLEET")
        assert (sent["group"], sent["entries"]) == ("FLEET", 2)
        assert cp.got("SendLocalList") == [{"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "FLEET-1", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
            {"idTag": "FLEET-2", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}}]}]
        assert sorted((await kept(client, "LL-GRP"))[1]) == ["FLEET-1", "FLEET-2"]
        await add_tag(client, "FLEET-3", parent_id_tag="FLEET")
        await add_tag(client, "LONER-2")
        diff = await send_list(client, "LL-GRP", "Differential", group="FLEET")
        assert cp.got("SendLocalList")[1]["localAuthorizationList"] == [
            {"idTag": "FLEET-3", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}]
        assert (diff["version"], diff["entries"], diff["removed"]) == (2, 1, 0)


@pytest.mark.parametrize("answer", ["Failed", "VersionMismatch", "NotSupported"])
async def test_tc_043_list_not_accepted_changes_neither_kept_list_nor_version(stack: Stack, answer: str) -> None:
    cp_id = f"LL-NO-{answer}"
    async with asyncio.timeout(BUDGET), session(stack, cp_id) as (cp, client):
        await add_tag(client, "LL-KEEP")
        await send_list(client, cp_id, "Full")
        await add_tag(client, "LL-NEW")
        cp.list_answer = answer
        refused = await send_list(client, cp_id, "Differential")
        assert refused["command"]["response"] == {"status": answer} and refused["version"] == 2
        version, entries = await kept(client, cp_id)
        assert (version, sorted(entries)) == (1, ["LL-KEEP"])
        cp.list_answer = "Accepted"
        retried = await send_list(client, cp_id, "Differential")  # the same change, as the same version
        assert cp.got("SendLocalList")[1:] == [{"listVersion": 2, "updateType": "Differential",
                                                "localAuthorizationList": [
                                                    {"idTag": "LL-NEW", "idTagInfo": {"status": "Accepted"}}]}] * 2
        assert retried["version"] == 2
        version, entries = await kept(client, cp_id)
        assert (version, sorted(entries)) == (2, ["LL-KEEP", "LL-NEW"])


async def test_raw_send_local_list_accepted_is_kept_too(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-RAW") as (cp, client):
        payload = {"listVersion": 9, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "RAW-1", "idTagInfo": {"status": "Blocked", "parentIdTag": "RAW-P"}}]}
        r = await client.post("/api/v1/charge-points/LL-RAW/commands/SendLocalList", json=payload)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert cp.got("SendLocalList") == [payload]
        assert await kept(client, "LL-RAW") == (9, {"RAW-1": {"id_tag": "RAW-1", **entry("Blocked", None, "RAW-P")}})
        cp.list_answer = "Failed"
        r = await client.post("/api/v1/charge-points/LL-RAW/commands/SendLocalList",
                              json={"listVersion": 10, "updateType": "Full", "localAuthorizationList": []})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Failed"}, r.text
        assert (await kept(client, "LL-RAW"))[0] == 9


async def test_list_sent_with_a_given_version(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-VER") as (cp, client):
        await add_tag(client, "LL-V")
        sent = await send_list(client, "LL-VER", "Full", version=41)
        assert sent["version"] == 41 and cp.got("SendLocalList")[0]["listVersion"] == 41
        assert (await kept(client, "LL-VER"))[0] == 41
        assert (await send_list(client, "LL-VER", "Differential"))["version"] == 42
        r = await client.post("/api/v1/charge-points/LL-VER/local-list", json={"update_type": "Full", "version": 0})
        assert r.status_code == 422, r.text
        assert len(cp.got("SendLocalList")) == 2


async def test_tc_042_check_compares_the_version_held_with_the_one_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-CHK") as (cp, client):
        url = "/api/v1/charge-points/LL-CHK/local-list/check"
        r = await client.post(url)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (None, 0, True)
        assert (body["command"]["outcome"], body["command"]["response"]) == ("result", {"listVersion": 0})
        await add_tag(client, "LL-CK")
        await send_list(client, "LL-CHK", "Full")
        cp.list_version = 1
        body = (await client.post(url)).json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (1, 1, True)
        cp.list_version = 5
        body = (await client.post(url)).json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (1, 5, False)
        cp.list_version = -1
        body = (await client.post(url)).json()
        assert (body["charge_point"], body["in_sync"]) == (-1, False)
        assert cp.got("GetLocalListVersion") == [{}] * 4
        assert (await kept(client, "LL-CHK"))[0] == 1  # asking changes nothing kept


async def test_local_list_routes_answer_unknown_and_offline_charge_points(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=10) as client:
        assert_error(await client.get("/api/v1/charge-points/LL-NONE/local-list"), 404, "ChargePointNotFound")
        assert_error(await client.post("/api/v1/charge-points/LL-NONE/local-list", json={"update_type": "Full"}),
                     404, "ChargePointNotFound")
        assert_error(await client.post("/api/v1/charge-points/LL-NONE/local-list/check"), 404, "ChargePointNotFound")
        assert (await client.post("/api/v1/charge-points", json={"id": "LL-OFF"})).status_code == 201
        await add_tag(client, "LL-O")
        r = await client.post("/api/v1/charge-points/LL-OFF/local-list", json={"update_type": "Full"})
        assert_error(r, 409, "ChargePointOffline")
        assert_error(await client.post("/api/v1/charge-points/LL-OFF/local-list/check"), 409, "ChargePointOffline")
        assert await kept(client, "LL-OFF") == (None, {})


async def test_local_list_unanswered_is_504_and_not_kept(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-SLOW") as (cp, client):
        await add_tag(client, "LL-S")
        cp.hold = asyncio.Event()
        r = await client.post("/api/v1/charge-points/LL-SLOW/local-list", params={"wait": 1},
                              json={"update_type": "Full"})
        assert_error(r, 504, "Timeout")
        assert r.json()["command_id"]
        assert await kept(client, "LL-SLOW") == (None, {})
        cp.hold.set()
        assert (await client.post("/api/v1/charge-points/LL-SLOW/local-list/check")).status_code == 200
        assert await kept(client, "LL-SLOW") == (None, {})
