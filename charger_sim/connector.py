"""One connector: its OCPP status, the plug, the running transaction and the reservation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from charger_sim.meter import Meter


@dataclass(slots=True)
class Tx:
    """A transaction as the station knows it; ``id`` is negative until the CSMS has numbered it."""

    id: int
    id_tag: str
    started: datetime
    meter_start: int
    refused: bool = False  # the CSMS did not accept the tag; StopTransactionOnInvalidId is false


class Connector:
    __slots__ = ("id", "status", "error_code", "info", "plugged", "meter", "tx", "reservation",
                 "operative", "scheduled_operative", "plugged_event", "task")

    def __init__(self, connector_id: int, meter: Meter) -> None:
        self.id = connector_id
        self.status = "Available"
        self.error_code = "NoError"
        self.info: str | None = None
        self.plugged = False
        self.meter = meter
        self.tx: Tx | None = None
        self.reservation: dict[str, Any] | None = None
        self.operative = True
        self.scheduled_operative: bool | None = None  # ChangeAvailability waiting for the tx to end
        self.plugged_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None  # the meter loop of the running transaction

    @property
    def idle_status(self) -> str:
        """The status this connector rests in when nothing is going on."""
        if self.error_code != "NoError":
            return "Faulted"
        if not self.operative:
            return "Unavailable"
        if self.reservation is not None:
            return "Reserved"
        return "Preparing" if self.plugged else "Available"

    def snapshot(self) -> dict[str, Any]:
        return {"connector_id": self.id, "status": self.status, "error_code": self.error_code,
                "plugged": self.plugged, "transaction_id": self.tx.id if self.tx else None,
                "id_tag": self.tx.id_tag if self.tx else None,
                "energy_wh": round(self.meter.energy_wh), "power_w": round(self.meter.power_w),
                "soc": None if self.meter.soc is None else round(self.meter.soc, 1),
                "reservation_id": self.reservation["reservationId"] if self.reservation else None}
