"""What the central system asks of an OCPP 2.0.1 station by itself once it is accepted: its
device model, with one GetBaseReport (``CHARGEBAY_BASE_REPORT_ON_BOOT``; off by default).

Why after the answer and not in the boot handler: a station may ignore a request that reaches it
before the answer to its BootNotification, so the handler only asks the connection to run
:meth:`Provisioning.booted`'s job once that answer is on the wire. "After the first boot" means
until the station has reported its model: a report lost to a disconnect (or one the station
refused) is asked for again at its next boot, and never once the model is stored. The request
goes through the commands service like an operator's, so it is recorded and its answer kept.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.handlers.context import ChargePointLink
from csms.services.commands import CommandService
from csms.store.models import DeviceVariable, table

log = logging.getLogger(__name__)
_VARS = table(DeviceVariable)
REQUESTED_BY = "central system (first boot)"


class Provisioning:
    def __init__(self, engine: AsyncEngine, commands: CommandService, report_base: str | None) -> None:
        self._engine = engine
        self._commands = commands
        self.report_base = report_base  # None: asks nothing
        self._background: set[asyncio.Task[Any]] = set()

    def booted(self, conn: ChargePointLink) -> None:
        """A 2.0.1 station was accepted at boot: once the answer is sent, ask for its model
        unless it is stored."""
        base = self.report_base
        if base is not None:
            conn.after_answer(lambda: self._spawn(conn.charge_point_id, base))

    def _spawn(self, charge_point_id: str, base: str) -> None:
        task = asyncio.create_task(self._logged(charge_point_id, base))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _logged(self, charge_point_id: str, base: str) -> None:
        try:
            await self._report(charge_point_id, base)
        except Exception:  # a background job: told, never lost in an unretrieved task
            log.exception("%s: GetBaseReport after boot failed", charge_point_id)

    async def _report(self, charge_point_id: str, base: str) -> None:
        async with self._engine.connect() as conn:
            known = (await conn.execute(select(_VARS.c.charge_point_id).where(
                _VARS.c.charge_point_id == charge_point_id).limit(1))).first()
        if known is not None:
            return
        outcome = await self._commands.send(
            charge_point_id, "GetBaseReport", {"requestId": secrets.randbelow(2**31 - 1) + 1, "reportBase": base},
            requested_by=REQUESTED_BY)
        status = (outcome.payload or {}).get("status") if outcome.kind == "result" else outcome.kind
        if status != "Accepted":
            log.warning("%s: GetBaseReport %s after boot ended %s%s; asked again at its next boot",
                        charge_point_id, base, status, f" ({outcome.error_code})" if outcome.error_code else "")

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
