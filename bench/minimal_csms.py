"""Load benchmark baseline: the smallest central system, as the ``ocpp`` library's docs show it.

Written the way the library's README/examples do it (a ``ChargePoint`` subclass with ``@on``
handlers behind ``websockets.serve``), with the library defaults left alone (schema validation in
a thread pool, ``ASYNC_VALIDATION`` on) and nothing persisted. ``bench/csms_load.py`` runs the same
load against it and against chargebay, so the ratio shows what validation-plus-persistence costs
relative to the bare library.

    python bench/minimal_csms.py --host 127.0.0.1 --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, RegistrationStatus
from ocpp.v201 import ChargePoint as BaseChargingStation
from ocpp.v201 import call_result as call_result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import ServerConnection

log = logging.getLogger("minimal_csms")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ChargePoint(BaseChargePoint):
    """Answers the four calls the load generator sends; nothing is stored."""

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        return call_result.MeterValues()


class ChargingStation(BaseChargingStation):
    """The same for OCPP 2.0.1 (the library's ``v201``): the calls of the 2.0.1 mix, nothing stored."""

    @on(Action201.boot_notification)
    def on_boot_notification(self, charging_station: dict[str, Any], reason: str,
                             **kwargs: Any) -> call_result201.BootNotification:
        return call_result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action201.heartbeat)
    def on_heartbeat(self) -> call_result201.Heartbeat:
        return call_result201.Heartbeat(current_time=_now())

    @on(Action201.status_notification)
    def on_status_notification(self, **kwargs: Any) -> call_result201.StatusNotification:
        return call_result201.StatusNotification()

    @on(Action201.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]],
                        **kwargs: Any) -> call_result201.MeterValues:
        return call_result201.MeterValues()

    @on(Action201.transaction_event)
    def on_transaction_event(self, event_type: str, id_token: dict[str, Any] | None = None,
                             **kwargs: Any) -> call_result201.TransactionEvent:
        if id_token is None:
            return call_result201.TransactionEvent()
        return call_result201.TransactionEvent(id_token_info={"status": "Accepted"})


async def on_connect(websocket: ServerConnection) -> None:
    """One ``ChargePoint`` (1.6) or ``ChargingStation`` (2.0.1) per connection, by the
    subprotocol; the id is the last segment of the URL path."""
    if websocket.subprotocol is None:
        log.warning("no ocpp1.6 or ocpp2.0.1 subprotocol requested, closing")
        await websocket.close()
        return
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    kind = ChargingStation if websocket.subprotocol == "ocpp2.0.1" else ChargePoint
    try:
        await kind(charge_point_id, websocket).start()
    except websockets.ConnectionClosed:
        # The library's read loop ends with this exception on every disconnect; not an error here.
        pass


async def serve(host: str, port: int) -> None:
    async with websockets.serve(on_connect, host, port, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as server:
        log.warning("minimal CSMS listening on ws://%s:%d", host, port)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    # WARNING, like the chargebay run in the benchmark: the library logs every frame at INFO.
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
