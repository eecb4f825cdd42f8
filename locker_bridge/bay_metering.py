"""A locker bay's meter values: periodic samples while a transaction runs, and a reading on request.

Apart from :mod:`locker_bridge.bay_transactions` because sampling is a loop of its own: it reads
the board at its own (low) priority and sends through the durable outbox while a transaction
runs, or as a plain call outside one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.errors import CallRefused
from locker_bridge.bay import BoardError
from locker_bridge.bay_point import BayPoint
from locker_bridge.bus import BusError, Priority


class BayMetering(BayPoint):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._meter_task: asyncio.Task[None] | None = None

    # -- meter values ---------------------------------------------------------------------------
    def start_metering(self) -> None:
        if self._meter_task is None or self._meter_task.done():
            self._meter_task = self.spawn(self._metering())

    async def _metering(self) -> None:
        while self.bay.tx is not None:
            interval = self.settings.int("MeterValueSampleInterval")
            await asyncio.sleep(interval if interval > 0 else 60)
            if interval <= 0 or self.bay.tx is None:
                continue
            with contextlib.suppress(BusError, BoardError):
                await self.bay.read_charging(Priority.POLL)
            await self.send_meter_values("Sample.Periodic")

    def readings(self, context: str) -> list[dict[str, Any]]:
        """The bay's energy register and power now, as 1.6 sampledValues (a transaction's meter
        carries on over a board reset: its reading, not the raw register)."""
        bay, tx = self.bay, self.bay.tx
        energy = bay.energy_wh if tx is None else tx.meter_now
        return [{"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": context},
                {"value": str(bay.power_w), "measurand": "Power.Active.Import", "unit": "W", "context": context}]

    async def send_meter_values(self, context: str) -> None:
        tx = self.bay.tx
        if self.bay.energy_wh is None:
            return
        action, payload = self.meter_message(tx, self.readings(context), context)
        if tx is None:  # a triggered reading outside a transaction is not a transaction message
            with contextlib.suppress(*CALL_FAILED):
                await self.call(action, payload)
            return
        with contextlib.suppress(CallRefused):  # the reading is kept with the message
            await self.outbox.send(action, payload, also=[self.store.tx_statement(self.identity, tx)])
