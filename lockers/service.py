"""The locker domain's shared operations: the audit log, opening doors through the bridge, and
keeping the back office and the bridge on one truth.

Every physical action goes through a bridge, never around it: the
:class:`~locker_bridge.service.BridgeService` in this process (its bus queue, its read-back), or a
bridge running at the locker site, whose bays are charge points of the CSMS and are reached over
OCPP (:class:`RemoteBays`). Door events either kind of bridge sees land in the audit log, and
with the central system wired (:func:`lockers.ocpp_bays.wire`) become lock events
(:mod:`lockers.lock_alerts`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.tasks import Background
from locker_bridge.charge_point import VirtualChargePoint
from locker_bridge.service import BoardError, BridgeService, BusError, UnknownBay, UnknownPort
from lockers.audit import audit, now_utc
from lockers.bays import OpenResult, Position, RemoteBays, RemoteUnavailable, position_of
from lockers.lock_alerts import LockAlerts
from lockers.models import Bank, Locker, LockerType, table

log = logging.getLogger(__name__)

LOCKERS = table(Locker)
BANKS = table(Bank)
LOCKER_TYPES = table(LockerType)


class SiteService:
    def __init__(self, engine: AsyncEngine, bridge: BridgeService | None = None) -> None:
        self.engine = engine
        self.bridge: BridgeService | None = None
        self.remote: RemoteBays | None = None  # bays of bridges elsewhere (lockers.ocpp_bays)
        self.alerts: LockAlerts | None = None  # lock events on the central system's bus (ocpp_bays)
        self.background = Background("locker sites", (), log)
        # identity -> why the bridge's bay and the back office's locker of that name disagree on
        # where it is; such a locker is not opened from here until one side is fixed
        self.conflicts: dict[str, str] = {}
        self._registering = asyncio.Lock()
        if bridge is not None:
            self.attach(bridge)

    def attach(self, bridge: BridgeService) -> None:
        """The bridge embedded in this process (started after the sites, which must already
        answer the bays of bridges elsewhere)."""
        self.bridge = bridge
        bridge.door_listeners.append(self._door_event)

    # -- one truth with the bridge ---------------------------------------------------------------
    async def sync_bridge(self) -> None:
        """Register the bridge's bays as lockers (a bank per board), then let the bridge drive
        every locker entered here whose port it has.

        A bay and a locker that disagree (the identity recorded at another bay, or the bay
        recorded under another identity) are logged as a conflict and neither is driven from
        here: opening the wrong door is worse than opening none.
        """
        if self.bridge is None:
            return
        async with self.engine.begin() as conn:
            for identity, cp in self.bridge.cps.items():
                why = await self.register(conn, identity, cp.bay.locker, position_of(cp))
                if why is not None:
                    self.conflicts[identity] = why
                    log.error("locker %s: %s; it is not driven from the locker APIs until the "
                              "back office or the bridge configuration is fixed", identity, why)
            rows = (await conn.execute(
                select(LOCKERS.c.identity, LOCKERS.c.bay, BANKS.c.name, BANKS.c.port, BANKS.c.address)
                .join(BANKS, BANKS.c.id == LOCKERS.c.bank_id))).all()
        for row in rows:
            if row.identity not in self.conflicts:
                self.drive(row.identity, row.name, row.port, row.address, row.bay)
        for identity in [i for i in self.bridge.cps if i not in self.conflicts]:
            await self.apply_service_state(identity)

    async def apply_service_state(self, identity: str) -> None:
        """The back office's out-of-service mark (its own, or its type's) becomes the bay's
        maintenance (Unavailable), wherever its bridge runs."""
        async with self.engine.connect() as conn:
            mark = (await conn.execute(
                select(LOCKERS.c.out_of_service, LOCKER_TYPES.c.always_oos)
                .outerjoin(LOCKER_TYPES, LOCKER_TYPES.c.id == LOCKERS.c.locker_type_id)
                .where(LOCKERS.c.identity == identity))).first()
        if mark is not None:
            await self.set_out_of_service(identity, bool(mark.out_of_service or mark.always_oos))

    async def set_out_of_service(self, identity: str, on: bool) -> None:
        """Tell the bay's bridge, here or elsewhere: out of service is maintenance there (the bay
        reports Unavailable and takes no new transaction; a running one ends first). The record
        here is the truth: a bridge not reached now is told when it starts (here) or when its bay
        next boots and reports in (elsewhere), and the failure is logged."""
        try:
            if self.bridge is not None and self.local(identity) is not None:
                await self.bridge.set_maintenance(identity, on)
            elif self.remote is not None and (self.bridge is None or identity not in self.bridge.cps):
                await self.remote.set_maintenance(identity, on)
        except (RemoteUnavailable, UnknownBay, BusError) as exc:
            log.warning("locker %s: out of service=%s not passed to its bridge: %s", identity, on, exc)

    async def register(self, conn: AsyncConnection, identity: str, bank: str, where: Position,
                       reported: bool = False) -> str | None:
        """Record a bay a bridge drives as a locker; None, or why the records disagree (then
        nothing is written). A bay that reported itself over OCPP is audited as the actor: any
        connected charge point can claim to be one (see README, Locker sites)."""
        bank_row = (await conn.execute(select(BANKS.c.id).where(
            BANKS.c.port == where.port, BANKS.c.address == where.address))).first()
        bank_id = None if bank_row is None else int(bank_row.id)
        named = (await conn.execute(select(LOCKERS.c.bank_id, LOCKERS.c.bay).where(
            LOCKERS.c.identity == identity))).first()
        here = None if bank_id is None else (await conn.execute(select(LOCKERS.c.identity).where(
            LOCKERS.c.bank_id == bank_id, LOCKERS.c.bay == where.bay))).first()
        if named is not None and (named.bank_id, named.bay) == (bank_id, where.bay):
            return None
        if here is not None and here.identity != identity:
            return f"the bridge drives {where} as {identity}, the back office has {here.identity} there"
        if named is not None:
            recorded = (await conn.execute(select(BANKS.c.port, BANKS.c.address).where(
                BANKS.c.id == named.bank_id))).one()
            return (f"the bridge drives it at {where}, the back office has it at "
                    f"{Position(recorded.port, recorded.address, named.bay)}")
        if bank_id is None:
            bank_id = await self._new_bank(conn, bank, where.port, where.address)
        locker = await conn.execute(LOCKERS.insert().values(
            identity=identity, bank_id=bank_id, bay=where.bay, created_at=now_utc()))
        if reported:
            key = locker.inserted_primary_key
            assert key is not None  # an INSERT of one row has one
            await audit(conn, identity, "locker.register", locker_id=key[0],
                        bank=bank, port=where.port, address=where.address, bay=where.bay)
        return None

    async def _new_bank(self, conn: AsyncConnection, name: str, port: str, address: int) -> int:
        taken = (await conn.execute(select(BANKS.c.id).where(BANKS.c.name == name))).first()
        label = name if taken is None else f"{name} ({port}/{address})"
        result = await conn.execute(BANKS.insert().values(name=label, port=port, address=address))
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row has one
        return int(key[0])

    def bay_conflict(self, identity: str, where: Position) -> tuple[str, str] | None:
        """(code, message) when the bridge here cannot drive ``identity`` at ``where``: it drives
        that identity at another bay, or that bay under another identity."""
        for other, cp in (self.bridge.cps.items() if self.bridge is not None else ()):
            there = position_of(cp)
            if other == identity and there != where:
                return "IdentityDrivenElsewhere", f"the bridge drives {identity!r} at {there}"
            if other != identity and there == where:
                return "BayDrivenByBridge", f"the bridge drives {where} as {other!r}"
        return None

    def drive(self, identity: str, bank: str, port: str, address: int, bay: int) -> bool:
        """Have the bridge drive this locker (no-op when it already does there); False when the
        bridge has no such port, or already drives that bay under another identity (the locker is
        recorded, but nothing here can open it). A record fixed to agree with the bridge ends
        its conflict."""
        if self.bridge is None:
            return False
        where = Position(port, address, bay)
        conflict = self.bay_conflict(identity, where)
        if conflict is not None:
            log.warning("locker %s at %s is not driven: %s", identity, where, conflict[1])
            return False
        self.conflicts.pop(identity, None)
        try:
            self.bridge.add_bay(identity, bank, port, address, bay)
        except UnknownPort:
            log.warning("locker %s is on port %s, which the bridge does not have", identity, port)
            return False
        return True

    def rename_bank(self, identities: list[str], name: str) -> None:
        """A bank renamed in the back office: its bays' cabins are listed under the new name."""
        for identity in identities:
            cp = self.local(identity)
            if cp is not None:
                cp.bay.locker = name

    def local(self, identity: str) -> VirtualChargePoint | None:
        """The bridge's bay for this locker, if the bridge here drives it (and agrees where)."""
        if self.bridge is None or identity in self.conflicts:
            return None
        return self.bridge.cps.get(identity)

    # -- OCPP: what a bridge elsewhere tells us through its bays ---------------------------------
    async def vendor_extension(self, identity: str, message_id: str | None,
                               data: str | None) -> tuple[str, str | None]:
        """DataTransfer (vendorId ``chargebay``) from a bay of a bridge running elsewhere:
        ``BayInfo`` registers the bay as a locker, ``DoorEvent`` lands in the audit log."""
        try:
            body = json.loads(data or "{}")
            if message_id == "BayInfo":
                where = Position(str(body["port"]), int(body["address"]), int(body["bay"]))
                why = await self._register_reported(identity, str(body["locker"]), where)
                if why is not None:
                    log.error("locker %s: %s", identity, why)
                    return "Rejected", json.dumps({"error": why})
                # not awaited: the bay answers our call only after this answer has gone out
                self.background.spawn(self.apply_service_state(identity))
                return "Accepted", None
            if message_id == "DoorEvent":
                if not await self._recorded(identity):  # any charge point may send this
                    return "Rejected", json.dumps({"error": f"no locker {identity} is recorded"})
                commanded = body.get("commanded")  # a bridge of an older version does not say
                await self._record_door(identity, body["door"] == "open",
                                        commanded if isinstance(commanded, bool) else None)
                return "Accepted", None
        except (ValueError, KeyError, TypeError) as exc:
            return "Rejected", json.dumps({"error": f"bad data: {exc!r}"})
        return "UnknownMessageId", None

    async def record(self, actor: str, action: str, identity: str | None = None,
                     **details: Any) -> None:
        """Audit an action on a bay known by its identity (locker_id NULL when no locker is
        recorded there: the entry is kept all the same)."""
        async with self.engine.begin() as conn:
            row = None if identity is None else (await conn.execute(
                select(LOCKERS.c.id, LOCKERS.c.device_id).where(LOCKERS.c.identity == identity))).first()
            await audit(conn, actor, action, locker_id=row.id if row else None,
                        device_id=row.device_id if row else None, identity=identity, **details)
        if action == "locker.open" and details.get("success") and identity and self.alerts:
            self.alerts.unlocked(identity, actor)  # an open through the typed cabins API

    async def _recorded(self, identity: str) -> bool:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(LOCKERS.c.id).where(
                LOCKERS.c.identity == identity))).first() is not None

    async def _register_reported(self, identity: str, bank: str, where: Position) -> str | None:
        """The bays of one board boot together: one registration at a time here, and a bank or
        locker another node inserted meanwhile is found on the second try."""
        async def once() -> str | None:
            async with self.engine.begin() as conn:
                return await self.register(conn, identity, bank, where, reported=True)

        async with self._registering:
            try:
                return await once()
            except IntegrityError:
                return await once()

    # -- door events -----------------------------------------------------------------------------
    def _door_event(self, identity: str, door_open: bool, commanded: bool) -> None:
        self.background.spawn(self._record_door(identity, door_open, commanded))

    async def _record_door(self, identity: str, door_open: bool, commanded: bool | None = None) -> None:
        """Every door event is kept, even for a bay no locker is recorded at (locker_id NULL)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(LOCKERS).where(LOCKERS.c.identity == identity).values(
                door_open=door_open, door_changed_at=now_utc()))
        if self.alerts is not None:
            await self.alerts.door(identity, door_open, commanded)
        else:
            await self.record("board", "door.opened" if door_open else "door.closed", identity)

    async def close(self) -> None:
        """Wait for the door events still being written."""
        if self.background.tasks:
            await asyncio.gather(*self.background.tasks, return_exceptions=True)
        if self.alerts is not None:
            await self.alerts.close()

    # -- physical actions ------------------------------------------------------------------------
    def live(self, identity: str) -> dict[str, Any] | None:
        """The bridge's view of a locker (door, item, charging, OCPP status), if it drives it."""
        cp = self.local(identity)
        return None if cp is None or self.bridge is None else self.bridge.cabin(identity)

    async def open(self, locker: Any, actor: str, **on_behalf: Any) -> OpenResult:
        """Open one locker through the bridge (OPEN_DOOR once, read back), and audit it (with
        ``on_behalf``: the user and grant a smart-lock unlock was for).

        A locker marked ``broken_lock`` has an unreliable door sensor: the lock fires, and a
        "closed" read-back counts as success (``sensor_ignored``).
        """
        if self.alerts is not None:
            self.alerts.asking(locker.identity, actor)
        result = await self._open(locker)
        async with self.engine.begin() as conn:
            await audit(conn, actor, "locker.open", locker_id=locker.id, device_id=locker.device_id,
                        **on_behalf, **result.to_json())
        if result.success and self.alerts is not None:
            self.alerts.unlocked(locker.identity, actor, **on_behalf)
        return result

    async def _open(self, locker: Any) -> OpenResult:
        try:
            if self.bridge is not None and self.local(locker.identity) is not None:
                opened, reading = await self.bridge.open(locker.identity)
            elif self.remote is not None and (self.bridge is None or locker.identity not in self.bridge.cps):
                opened, reading = await self.remote.open(locker.identity, await self._position(locker))
            else:
                why = self.conflicts.get(locker.identity, "no bridge drives this locker")
                return OpenResult(locker.id, False, None, error=why, driven=False)
        except RemoteUnavailable as exc:
            return OpenResult(locker.id, False, None, error=str(exc), driven=False)
        except (BusError, UnknownBay) as exc:
            return OpenResult(locker.id, False, None, error=f"board unavailable: {exc}")
        except BoardError as exc:
            return OpenResult(locker.id, False, None, error=str(exc))
        door = reading.get("door")
        if opened:
            return OpenResult(locker.id, True, door)
        if locker.broken_lock and "error" not in reading:  # acknowledged: the lock fired
            return OpenResult(locker.id, True, door, sensor_ignored=True)
        if "sensorError" in reading:
            return OpenResult(locker.id, False, None, error="board unavailable: the lock fired but "
                              f"the door sensor did not answer ({reading['sensorError']})")
        return OpenResult(locker.id, False, door,
                          error=reading.get("error") or "the door did not open")

    async def _position(self, locker: Any) -> Position:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(BANKS.c.port, BANKS.c.address, LOCKERS.c.bay)
                                      .join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                                      .where(LOCKERS.c.id == locker.id))).one()
        return Position(row.port, row.address, row.bay)
