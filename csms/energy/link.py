"""The load manager's ties to the central system: what it reads from the store, how a share goes
out as a command, and how each allocation is recorded (events, log, chart samples).

Kept apart from :mod:`csms.energy.manager` so the manager is tested with plain functions in their
place, and so that this is the one place that knows commands, tables and the event bus.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select

from csms.energy.allocator import Allocation
from csms.energy.config import MemberSpec
from csms.energy.manager import FAILED, REFUSED, SENT, UNSUPPORTED, LoadManager
from csms.energy.profiles import (
    accepted,
    default_profile_16,
    default_profile_201,
    profile_ids,
    tx_profile_16,
    tx_profile_201,
)
from csms.energy.state import Layout, Live
from csms.events import EventBus
from csms.queries.load_groups import LoadGroupQueries
from csms.services.commands import CommandService
from csms.services.errors import ServiceError
from csms.store.energy_models import LoadAllocation, LoadFailsafe, LoadGroupSample
from csms.store.models import Connector, IdTag, Transaction, table
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.versions import V16

log = logging.getLogger("csms.energy")
_TX = table(Transaction)
_TAGS = table(IdTag)
_CONNECTORS = table(Connector)
_ALLOCATIONS = table(LoadAllocation)
_SAMPLES = table(LoadGroupSample)
_FAILSAFES = table(LoadFailsafe)
SAMPLE_EVERY = 30.0  # seconds between two chart samples of a group (taken on a reallocation)
SAMPLE_DAYS, PRUNE_EVERY = 7, 3600.0  # chart samples are kept a week, pruned once an hour
NOT_IMPLEMENTED = ("NotImplemented", "NotSupported")
BY = "load-manager"


class CentralLink:
    """Reads, sends and records for one :class:`LoadManager`."""

    def __init__(self, queries: LoadGroupQueries, commands: CommandService, writer: Writer,
                 events: EventBus, timeout: float = 15.0) -> None:
        self._queries = queries
        self._commands = commands
        self._writer = writer
        self._events = events
        self._timeout = timeout
        self._sampled_at = 0.0
        self._pruned_at = 0.0
        self._last_decision: tuple[object, ...] = ()
        self.manager: LoadManager | None = None

    async def read_layout(self) -> Layout:
        """The groups and members, how many connectors each member reported (its failsafe on
        connector 0 holds for each of them), and the failsafes they accepted before a restart."""
        layout = Layout.of(*await self._queries.specs())
        if layout.charge_points:
            await self._writer.flush()  # the status reports queued so far count too
            async with self._writer.engine.connect() as conn:
                layout.connectors = {cp: int(n) for cp, n in await conn.execute(
                    select(_CONNECTORS.c.charge_point_id, func.max(_CONNECTORS.c.connector_id))
                    .where(_CONNECTORS.c.charge_point_id.in_(sorted(layout.charge_points)))
                    .group_by(_CONNECTORS.c.charge_point_id))}
                layout.failsafes = {(r.charge_point_id, r.connector_id): r.limit_w for r in await conn.execute(
                    select(_FAILSAFES).where(_FAILSAFES.c.charge_point_id.in_(sorted(layout.charge_points))))}
        return layout

    async def read_open(self, charge_points: set[str]) -> list[Live]:
        """The open transactions of members (a restart resumes them), with the share last sent."""
        if not charge_points:
            return []
        async with self._writer.engine.connect() as conn:
            rows = (await conn.execute(select(
                _TX.c.id, _TX.c.charge_point_id, _TX.c.connector_id, _TX.c.station_transaction_id,
                _TX.c.start_timestamp, _TX.c.id_tag, _TAGS.c.parent_id_tag)
                .outerjoin(_TAGS, _TAGS.c.id_tag == _TX.c.id_tag)
                .where(_TX.c.stop_timestamp.is_(None), _TX.c.charge_point_id.in_(sorted(charge_points)))
                .order_by(_TX.c.start_timestamp))).all()
            sent = {(r.charge_point_id, r.connector_id, r.transaction_id): r.limit_w
                    for r in await conn.execute(select(_ALLOCATIONS).where(
                        _ALLOCATIONS.c.status == "Accepted",
                        _ALLOCATIONS.c.charge_point_id.in_(sorted(charge_points))))}
        found = []
        for row in rows:
            live = Live(row.charge_point_id, row.connector_id, row.id, row.start_timestamp.timestamp(),
                        row.station_transaction_id, tags=(row.id_tag, row.parent_id_tag))
            live.sent_w = sent.get((row.charge_point_id, row.connector_id, row.id))
            found.append(live)
        return found

    async def send(self, live: Live | None, member: MemberSpec, watts: float) -> str:
        """One share (``live``: its TxProfile) or failsafe (None: the TxDefaultProfile) to the
        member's charge point, in its version's shape and the group's unit."""
        assert self.manager is not None
        group = self.manager.layout.groups[member.group_id]
        unit = "W" if group.unit == "W" or member.kind == "locker_bay" else "A"
        limit = watts if unit == "W" else group.from_watts(watts)
        phases = group.phases if unit == "A" else None
        connector = live.connector_id if live is not None else member.connector_id
        cp = member.charge_point_id
        try:
            v16 = await self._commands.version(cp) is V16
        except ServiceError:
            return FAILED
        valid_to = now_utc() + timedelta(seconds=live.lease_s if live is not None else self.manager.lease)
        if live is None:
            payload = (default_profile_16(connector, limit, unit, phases) if v16
                       else default_profile_201(connector, limit, unit, phases))
        elif v16:
            payload = tx_profile_16(connector, live.transaction_id, limit, unit, phases, valid_to)
        elif live.station_tx is not None:
            payload = tx_profile_201(connector, live.station_tx, limit, unit, phases, valid_to)
        else:
            return FAILED
        try:
            run = await self._commands.run(cp, "SetChargingProfile", payload, wait=self._timeout, requested_by=BY)
        except ServiceError as exc:
            log.warning("%s: SetChargingProfile not sent: %s", cp, exc.message)
            return FAILED
        outcome = run.outcome
        status = "Failed"
        if outcome is not None and outcome.kind == "result":
            status = str((outcome.payload or {}).get("status", "Failed"))
        elif outcome is not None and outcome.kind == "call_error":
            status = "NotSupported" if outcome.error_code in NOT_IMPLEMENTED else "Failed"
        elif outcome is not None and outcome.kind == "timeout":
            status = "Unanswered"
        what = "failsafe" if live is None else "share"
        log.info("%s connector %d: %s %.0f W (%.1f %s) -> %s", cp, connector, what, watts, limit, unit, status)
        self._events.publish("load_limit", cp, connector_id=connector, group_id=member.group_id,
                             profile=what, limit_w=round(watts, 1), limit=round(limit, 1), unit=unit,
                             status=status, transaction_id=None if live is None else live.transaction_id)
        if accepted(outcome.payload if outcome is not None else None):
            if live is not None:  # a restart resumes from it (an answer other than Accepted changed nothing)
                self._writer.upsert(_ALLOCATIONS, {
                    "charge_point_id": cp, "connector_id": connector, "group_id": member.group_id,
                    "transaction_id": live.transaction_id, "limit_w": watts, "status": status,
                    "sent_at": now_utc()}, ("charge_point_id", "connector_id"))
            else:  # counted for it after a restart, until it connects again
                self._writer.upsert(_FAILSAFES, {"charge_point_id": cp, "connector_id": connector,
                                                 "limit_w": watts, "accepted_at": now_utc()},
                                    ("charge_point_id", "connector_id"))
            return SENT
        if status == "NotSupported":
            return UNSUPPORTED
        return REFUSED if status == "Rejected" else FAILED

    async def clear(self, member: MemberSpec, sessions: list[Live]) -> None:
        """A member left its group: its failsafe and its sessions' shares are lifted (by the
        allocator's own profile ids, so an operator's profiles stay)."""
        cp = member.charge_point_id
        self._writer.submit(lambda conn: conn.execute(delete(_FAILSAFES).where(
            _FAILSAFES.c.charge_point_id == cp, _FAILSAFES.c.connector_id == member.connector_id)))
        try:
            v16 = await self._commands.version(cp) is V16
        except ServiceError:
            return
        ids = [profile_ids(member.connector_id)[1], *(profile_ids(s.connector_id)[0] for s in sessions)]
        for profile_id in ids:
            payload = {"id": profile_id} if v16 else {"chargingProfileId": profile_id}
            try:
                run = await self._commands.run(cp, "ClearChargingProfile", payload, wait=self._timeout,
                                               requested_by=BY)
            except ServiceError as exc:
                log.warning("%s: left its load group, but ClearChargingProfile was not sent: %s", cp, exc.message)
                return
            answer = run.outcome.payload if run.outcome is not None else None
            log.info("%s: left its load group; profile %d cleared: %s", cp, profile_id,
                     (answer or {}).get("status", "no answer"))

    def record(self, allocation: Allocation, layout: Layout) -> None:
        """Publish the allocation; every SAMPLE_EVERY seconds, store each group's totals."""
        assert self.manager is not None
        draws = self.manager.draws()
        groups = [{"group_id": gid, "allocated_w": round(allocation.group_totals.get(str(gid), 0.0), 1),
                   "limit_w": round(allocation.group_limits.get(str(gid), 0.0), 1),
                   "draw_w": round(draws.get(gid, 0.0), 1)} for gid in layout.groups]
        self._events.publish("load_allocation", None, groups=groups, waiting=list(allocation.waiting),
                             limits={k: round(v, 1) for k, v in allocation.limits.items()})
        decided = (tuple(sorted(allocation.limits.items())), tuple(allocation.waiting))
        if decided != self._last_decision:  # each decision once in the log, not each round
            self._last_decision = decided
            log.info("allocation: %s; waiting %s", ", ".join(
                f"group {g['group_id']} {g['allocated_w']:.0f} of {g['limit_w']:.0f} W (drawing {g['draw_w']:.0f})"
                for g in groups), ", ".join(allocation.waiting) or "none")
        now = now_utc()
        if now.timestamp() - self._sampled_at >= SAMPLE_EVERY and groups:
            self._sampled_at = now.timestamp()
            self._writer.insert_many(_SAMPLES, [{**g, "at": now} for g in groups])
        if now.timestamp() - self._pruned_at >= PRUNE_EVERY:  # the chart shows a day at most
            self._pruned_at = now.timestamp()
            self._writer.submit(lambda conn: conn.execute(
                delete(_SAMPLES).where(_SAMPLES.c.at < now - timedelta(days=SAMPLE_DAYS))))
