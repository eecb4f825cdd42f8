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
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from ocpp.routing import on
from ocpp.v16 import call, call_result

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
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


