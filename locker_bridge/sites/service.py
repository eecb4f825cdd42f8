"""The locker domain's shared operations: the audit log, opening doors through the bridge, and
keeping the back office and the bridge on one truth.

Every physical action goes through the :class:`~locker_bridge.service.BridgeService` (its bus
queue, its read-back), never around it. Door events the bridge sees land in the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from locker_bridge.bay import BoardError
from locker_bridge.bus import BusError
from locker_bridge.service import BridgeService, UnknownBay, UnknownPort
from locker_bridge.sites.models import AuditEntry, Bank, Locker

log = logging.getLogger(__name__)

AUDIT = AuditEntry.__table__
LOCKERS = Locker.__table__
BANKS = Bank.__table__


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class OpenResult:
    """What an open did: ``success`` is what the caller should believe (broken-lock aware)."""

    locker_id: int
    success: bool
    door: str | None  # open | closed | None (not read)
    sensor_ignored: bool = False  # brokenLock: the sensor said closed, success anyway
    error: str | None = None  # why not (no bridge, no reply, board refused, door stayed shut)

    def to_json(self) -> dict[str, Any]:
        return {"lockerId": self.locker_id, "success": self.success, "door": self.door,
                "sensorIgnored": self.sensor_ignored, "error": self.error}


async def audit(conn: AsyncConnection, actor: str, action: str, *, locker_id: int | None = None,
                device_id: int | None = None, **details: Any) -> None:
    await conn.execute(AUDIT.insert().values(at=now_utc(), actor=actor, action=action,
                                             locker_id=locker_id, device_id=device_id,
                                             details=json.dumps(details, default=str)))


class SiteService:
    def __init__(self, engine: AsyncEngine, bridge: BridgeService | None) -> None:
        self.engine = engine
        self.bridge = bridge
        self._tasks: set[asyncio.Task[None]] = set()
        if bridge is not None:
            bridge.door_listeners.append(self._door_event)

    # -- one truth with the bridge ---------------------------------------------------------------
    async def sync_bridge(self) -> None:
        """Register the bridge's bays as lockers (a bank per board), then let the bridge drive
        every locker entered here whose port it has."""
        if self.bridge is None:
            return
        async with self.engine.begin() as conn:
            for identity, cp in self.bridge.cps.items():
                bay = cp.bay
                bank_id = await self._bank_for(conn, bay.locker, bay.port, bay.address)
                found = (await conn.execute(select(LOCKERS.c.id).where(
                    LOCKERS.c.identity == identity))).first()
                if found is None:
                    await conn.execute(LOCKERS.insert().values(
                        identity=identity, bank_id=bank_id, bay=bay.number, created_at=now_utc()))
            rows = (await conn.execute(
                select(LOCKERS.c.identity, LOCKERS.c.bay, BANKS.c.name, BANKS.c.port, BANKS.c.address)
                .join(BANKS, BANKS.c.id == LOCKERS.c.bank_id))).all()
        for row in rows:
            self.drive(row.identity, row.name, row.port, row.address, row.bay)

    async def _bank_for(self, conn: AsyncConnection, name: str, port: str, address: int) -> int:
        found = (await conn.execute(select(BANKS.c.id).where(
            BANKS.c.port == port, BANKS.c.address == address))).first()
        if found is not None:
            return int(found.id)
        taken = (await conn.execute(select(BANKS.c.id).where(BANKS.c.name == name))).first()
        label = name if taken is None else f"{name} ({port}/{address})"
        result = await conn.execute(BANKS.insert().values(name=label, port=port, address=address))
        return int(result.inserted_primary_key[0])

    def drive(self, identity: str, bank: str, port: str, address: int, bay: int) -> bool:
        """Have the bridge drive this locker (no-op when it already does); False when the bridge
        has no such port (the locker is recorded, but nothing here can open it)."""
        if self.bridge is None:
            return False
        try:
            self.bridge.add_bay(identity, bank, port, address, bay)
        except UnknownPort:
            log.warning("locker %s is on port %s, which the bridge does not have", identity, port)
            return False
        return True

    def _door_event(self, identity: str, door_open: bool) -> None:
        task = asyncio.ensure_future(self._record_door(identity, door_open))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_door(self, identity: str, door_open: bool) -> None:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(LOCKERS.c.id, LOCKERS.c.device_id).where(
                LOCKERS.c.identity == identity))).first()
            if row is None:
                return
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == row.id).values(
                door_open=door_open, door_changed_at=now_utc()))
            await audit(conn, "board", "door.opened" if door_open else "door.closed",
                        locker_id=row.id, device_id=row.device_id, identity=identity)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- physical actions ------------------------------------------------------------------------
    def live(self, identity: str) -> dict[str, Any] | None:
        """The bridge's view of a locker (door, item, charging, OCPP status), if it drives it."""
        if self.bridge is None or identity not in self.bridge.cps:
            return None
        return self.bridge.cabin(identity)

    async def open(self, locker: Any, actor: str) -> OpenResult:
        """Open one locker through the bridge (OPEN_DOOR once, read back), and audit it.

        A locker marked ``broken_lock`` has an unreliable door sensor: the lock fires, and a
        "closed" read-back counts as success (``sensor_ignored``).
        """
        result = await self._open(locker)
        async with self.engine.begin() as conn:
            await audit(conn, actor, "locker.open", locker_id=locker.id, device_id=locker.device_id,
                        **result.to_json())
        return result

    async def _open(self, locker: Any) -> OpenResult:
        if self.bridge is None or locker.identity not in self.bridge.cps:
            return OpenResult(locker.id, False, None, error="no bridge drives this locker")
        try:
            opened, reading = await self.bridge.open(locker.identity)
        except (BusError, UnknownBay) as exc:
            return OpenResult(locker.id, False, None, error=f"board unavailable: {exc}")
        except BoardError as exc:
            return OpenResult(locker.id, False, None, error=str(exc))
        door = reading.get("door")
        if opened:
            return OpenResult(locker.id, True, door)
        if locker.broken_lock and "error" not in reading:
            return OpenResult(locker.id, True, door, sensor_ignored=True)
        return OpenResult(locker.id, False, door,
                          error=reading.get("error") or "the door did not open")
