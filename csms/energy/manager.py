"""The allocator at work: follows the sessions of every load group's members, recomputes their
shares when something changes, and sends what changed as charging profiles.

Handlers tell it of starts, ends, status changes and meter values through cheap calls (a set
lookup for a charge point in no group). A change only marks the allocation dirty; one task
recomputes at most once a ``period`` (rate limit: a fleet of starts is one reallocation, not one
each), sends the limits that moved by more than a step, renews the leases of the TxProfiles it
holds, and records each group's draw for the chart. After a restart it resumes from the store:
the open transactions of members and the limits last sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from common.tasks import cancel_until_done
from csms.energy.allocator import SELF_LIMITED, Allocation, allocate, usable
from csms.energy.config import MemberSpec, allocator_groups, ancestors
from csms.energy.control import Control
from csms.energy.meter import draw_watts
from csms.energy.outage import outage_limits
from csms.energy.state import Layout, Live, Outlet, build, limits_at
from csms.timeutil import now_utc

log = logging.getLogger(__name__)
STEP = 0.02  # a share that rises is resent when it rose by more than 2 % of the member's rating
# How a profile's sending ended: accepted; refused (Rejected: it may not know the transaction
# yet, so a share is tried again, REJECTIONS times in a row before it counts as refusing);
# unsupported (NotSupported, a NotImplemented CALLERROR: it refuses profiles); not delivered.
SENT, REFUSED, UNSUPPORTED, FAILED = "sent", "refused", "unsupported", "failed"
REJECTIONS = 3
AWAY_RETRY_S = 30.0  # a charge point a profile did not reach is tried again after this (or when it connects)


class LoadManager:
    """Holds the live sessions of members and keeps their shares in force (see the module)."""

    def __init__(self, read_layout: Callable[[], Awaitable[Layout]],
                 read_open: Callable[[set[str]], Awaitable[list[Live]]],
                 send: Callable[[Live | None, MemberSpec, float], Awaitable[str]],
                 record: Callable[[Allocation, Layout], None], *, period: float = 1.0,
                 lease: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 clear: Callable[[MemberSpec, list[Live]], Awaitable[None]] | None = None) -> None:
        self._read_layout = read_layout
        self._read_open = read_open
        # (session, or None for the member's failsafe; member; watts) -> SENT, REFUSED, ...
        self._send = send
        self._record = record
        self._clear = clear  # (a member no longer in a group, its sessions): lift what it was sent
        self.period = period
        self.lease = lease
        self._clock = clock
        self.layout = Layout()
        self.sessions: dict[str, Live] = {}
        self.refusing: set[Outlet] = set()
        self.failsafe_w: dict[Outlet, float] = {}  # the failsafe each member accepted last
        self.away: dict[str, float] = {}  # charge points a profile did not reach: since when
        self.last: Allocation = Allocation()
        self.reallocations = 0  # rounds begun
        self.rounds_done = 0  # rounds whose sends have all ended
        self._dirty = asyncio.Event()
        self._failsafe_due: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.connectors: dict[str, int] = {}  # the highest connector a charge point reported
        self._connected_at: dict[str, float] = {}  # members' charge points connected since the start

    # -- what the handlers tell it ---------------------------------------------------------
    def watches(self, charge_point_id: str) -> bool:
        return charge_point_id in self.layout.charge_points

    def started(self, charge_point_id: str, connector_id: int, transaction_id: int,
                station_tx: str | None = None, tags: tuple[str | None, ...] = ()) -> None:
        if self.layout.member_of(charge_point_id, connector_id) is None:
            return
        # arrival in wall-clock seconds, as sessions read back from the store after a restart
        live = Live(charge_point_id, connector_id, transaction_id, time.time(), station_tx, tags=tags)
        self.sessions[live.key] = live
        self._dirty.set()

    def ended(self, charge_point_id: str, transaction_id: int) -> None:
        if not self.watches(charge_point_id):  # told of every end in the central system
            return
        for key, live in list(self.sessions.items()):
            if live.charge_point_id == charge_point_id and live.transaction_id == transaction_id:
                del self.sessions[key]
                self._dirty.set()

    def status(self, charge_point_id: str, connector_id: int, status: str) -> None:
        if connector_id > self.connectors.get(charge_point_id, 1):  # its failsafe holds for one more
            self.connectors[charge_point_id] = connector_id
            self._dirty.set()
        live = self.sessions.get(f"{charge_point_id}/{connector_id}")
        if live is not None and live.suspended_ev != (status == "SuspendedEV"):
            live.suspended_ev = status == "SuspendedEV"
            self._dirty.set()

    def observe(self, charge_point_id: str, connector_id: int, sampled: list[dict[str, Any]] | None,
                state: str | None = None) -> None:
        """A member's meter values (the last one's sampled values) and, from a 2.0.1 event, its
        charging state: what it draws, and whether the EV suspended."""
        if state is not None:
            self.status(charge_point_id, connector_id, state)
        draw = draw_watts(sampled) if sampled else None
        if draw is not None:
            self.metered(charge_point_id, connector_id, draw)

    def metered(self, charge_point_id: str, connector_id: int, watts: float) -> None:
        live = self.sessions.get(f"{charge_point_id}/{connector_id}")
        if live is None:
            return
        before, live.draw_w, live.draw_at = live.draw_w, watts, self._clock()
        given = live.given_w or 0.0
        # significant: the EV takes clearly more or less than before, or it was held to what it
        # drew and now draws near that (it may want more)
        if (before is None or abs(watts - before) > max(0.1 * given, 100.0)
                or (live.capped and watts >= SELF_LIMITED * given)):
            self._dirty.set()

    def connected(self, charge_point_id: str) -> None:
        """A member's charge point (re)connected: its failsafe goes out again."""
        if self.watches(charge_point_id):
            self._connected_at[charge_point_id] = self._clock()
            self.refusing = {outlet for outlet in self.refusing if outlet[0] != charge_point_id}  # asked again
            self.away.pop(charge_point_id, None)
            for live in self.sessions.values():  # a charge point that forgot its profiles gets them again
                if live.charge_point_id == charge_point_id:  # (what it was sent may still hold: a fall
                    live.renew_at = 0.0  # is judged against it, and goes before the rises)
            self._failsafe_due.add(charge_point_id)
            self._dirty.set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="load-manager")

    async def reload(self) -> None:
        """Take the groups and members as stored now (a REST change, or the start), and reallocate:
        sessions already running on new members join (read from the store: a restart resumes
        them the same way), members that left get what they were sent lifted."""
        before, self.layout = self.layout, await self._read_layout()
        gone = [m for outlet, m in before.members.items() if outlet not in self.layout.members]
        for member in gone:
            left = [s for s in self.sessions.values() if before.member_of(s.charge_point_id, s.connector_id) is member]
            if self._clear is not None:
                await self._clear(member, left)
        self.sessions = {k: s for k, s in self.sessions.items()
                         if self.layout.member_of(s.charge_point_id, s.connector_id) is not None}
        self.failsafe_w = {o: w for o, w in self.failsafe_w.items() if o in self.layout.members}
        self.refusing = {o for o in self.refusing if o in self.layout.members}
        self.away = {cp: at for cp, at in self.away.items() if cp in self.layout.charge_points}
        for outlet, watts in self.layout.failsafes.items():  # held since before a restart
            if outlet in self.layout.members:
                self.failsafe_w.setdefault(outlet, watts)
        for live in await self._read_open(self.layout.charge_points - before.charge_points):
            if self.layout.member_of(live.charge_point_id, live.connector_id) is not None:
                # its lease (if any) may be near its end: renewed in the first round (renew_at 0);
                # until then it may hold its share for a whole lease, for all the store knows
                live.sent_at, live.lease_s = self._clock(), self.lease
                self.sessions.setdefault(live.key, live)
        self._failsafe_due |= self.layout.charge_points
        self._dirty.set()

    async def close(self) -> None:
        if self._task is not None:
            await cancel_until_done(self._task)

    async def _run(self) -> None:
        while True:
            # woken by a change, to renew leases, or when a time-of-day window begins or ends
            # (a lease cut short by a window ends at its edge: renewed as it begins), or to try a
            # charge point a profile did not reach again
            edges = [e for g in self.layout.groups.values() if (e := g.next_edge(now_utc())) is not None]
            retry = [at + AWAY_RETRY_S - self._clock() for at in self.away.values()]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(),
                                       max(0.0, min([self.lease / 3, *(e + 0.05 for e in edges), *retry])))
            self._dirty.clear()
            try:
                await self.reallocate()
            except Exception:  # never let one bad round end load management
                log.exception("reallocation failed; retrying in %.1f s", self.period)
                self._dirty.set()
            await asyncio.sleep(self.period)

    # -- the work --------------------------------------------------------------------------
    async def reallocate(self) -> Allocation:
        """Recompute every share and failsafe, send what moved (and renew leases due)."""
        layout, clock = self.layout, self._clock()
        self.away = {cp: at for cp, at in self.away.items() if clock - at < AWAY_RETRY_S}  # else tried again
        due, self._failsafe_due = self._failsafe_due, set()
        control = self._control(layout)
        kept, reserve = control.beyond()
        limits = limits_at(layout, now_utc())
        groups, sessions = build(layout, self.sessions.values(), limits, kept, reserve)
        allocation = allocate(groups, sessions)
        for key, watts in kept.items():  # shown beside the shares, in the totals they were kept from
            allocation.limits[key] = watts
            for gid in ancestors(layout.groups, layout.members[control.member(key).outlet].group_id):
                allocation.group_totals[str(gid)] = allocation.group_totals.get(str(gid), 0.0) + watts
        allocation.group_limits.update(limits)  # in force, not net of what was kept out
        self.last, self.reallocations = allocation, self.reallocations + 1
        for session in sessions:
            self.sessions[session.key].capped = usable(session) < session.max_w - 1.0
        lower: list[tuple[Live | None, MemberSpec, float]] = []
        rise: list[tuple[Live | None, MemberSpec, float]] = []
        for live in list(self.sessions.values()):
            member = layout.member_of(live.charge_point_id, live.connector_id)
            if member is None or member.outlet in self.refusing or live.charge_point_id in self.away:
                continue
            live.given_w = share = allocation.limits.get(live.key, 0.0)
            step = STEP * layout.groups[member.group_id].rating_w(member)
            # any fall goes out (the group's limit holds only if every share does); a rise only
            # past the step, so that small wobbles of a draw do not flood the charge points. A
            # new session runs at its member's failsafe (not known: it may hold more)
            now_w = live.sent_w if live.sent_w is not None else self.failsafe_w.get(member.outlet)
            if now_w is None or share < now_w - 1.0:
                lower.append((live, member, share))
            elif clock >= live.renew_at or share > now_w + step or (share > 0 and now_w == 0):
                rise.append((live, member, share))
        for member, wanted in self._failsafes(control, allocation, limits).items():
            held = self.failsafe_w.get(member.outlet)
            step = STEP * layout.groups[member.group_id].rating_w(member)
            if held is None or wanted < held - 1.0:  # (not known: it may hold more)
                lower.append((None, member, wanted))
            elif member.charge_point_id in due or wanted > held + step or (wanted > 0 and held == 0):
                rise.append((None, member, wanted))
        # what falls goes first: raising others before it took effect would overshoot (in an
        # outage too), so when a fall did not land, the rises under the same groups wait for the
        # next round
        landed = await asyncio.gather(*(self._send_one(*s) for s in lower))
        stuck = {g for (_, m, _), ok in zip(lower, landed, strict=True) if not ok
                 for g in ancestors(layout.groups, m.group_id)}
        if stuck:
            rise = [r for r in rise if stuck.isdisjoint(ancestors(layout.groups, r[1].group_id))]
            self._dirty.set()
        await asyncio.gather(*(self._send_one(*s) for s in rise))
        self.rounds_done += 1
        self._record(allocation, layout)
        return allocation

    def draws(self) -> dict[int, float]:
        """Per group: what the sessions below it draw (its members' and its nested groups')."""
        found: dict[int, float] = {}
        for live in self.sessions.values():
            member = self.layout.member_of(live.charge_point_id, live.connector_id)
            if member is not None and live.draw_w is not None:
                for gid in ancestors(self.layout.groups, member.group_id):
                    found[gid] = found.get(gid, 0.0) + live.draw_w
        return found

    def sees(self, charge_point_id: str) -> bool:
        """Whether a charge point was ever connected: since the start, or it reported a connector."""
        return (charge_point_id in self._connected_at or charge_point_id in self.connectors
                or charge_point_id in self.layout.connectors)

    def _control(self, layout: Layout) -> Control:
        return Control(layout, list(self.sessions.values()), self.refusing, set(self.away), self.failsafe_w,
                       self.connectors, self._clock(), self.sees)

    def _failsafes(self, control: Control, allocation: Allocation,
                   limits: Mapping[str, float]) -> dict[MemberSpec, float]:
        """The failsafe each member reachable now should hold beside ``allocation`` (the rules
        are :mod:`csms.energy.outage`'s): shares and failsafes never add up past a limit."""
        layout = control.layout
        holders = control.holders(allocation.limits)
        groups = allocator_groups(layout.groups.values())
        found = outage_limits(groups, {str(m.id): h for m, h in holders.items()}, limits)
        return {m: found[str(m.id)] for m in layout.members.values() if control.controlled(m)}

    async def _send_one(self, live: Live | None, member: MemberSpec, watts: float) -> bool:
        """Send a share (``live``'s TxProfile) or a failsafe (None); whether it is in force now."""
        if live is not None:  # a lease ends where a lower time-of-day limit may begin
            live.lease_s = self._lease_for(member)
        began = self._clock()
        outcome = await self._send(live, member, watts)
        if outcome == FAILED:  # offline, or no answer (it may have taken it): tried again later,
            if self._connected_at.get(member.charge_point_id, -1.0) < began:  # (unless it came back
                self.away.setdefault(member.charge_point_id, self._clock())  # meanwhile); counted at the
            self._dirty.set()  # larger of what it held and what it was sent
            if live is None:
                if self.sees(member.charge_point_id):  # (else it never heard of us)
                    rating = self.layout.groups[member.group_id].rating_w(member)  # (held: unknown)
                    self.failsafe_w[member.outlet] = max(self.failsafe_w.get(member.outlet, rating), watts)
                self._failsafe_due.add(member.charge_point_id)
            elif watts > (live.sent_w or 0.0):
                live.sent_w, live.sent_at = watts, began
        elif live is None:
            if outcome == SENT:
                self.failsafe_w[member.outlet] = watts
            else:  # a TxDefaultProfile has no transaction it might not know yet
                self._refuses(member, "rejected its failsafe (TxDefaultProfile)"
                              if outcome == REFUSED else "does not support charging profiles")
        elif outcome == SENT:
            live.sent_w, live.sent_at, live.rejections = watts, self._clock(), 0
            # renewed half way through a full lease; one cut short by a window, once it ended
            live.renew_at = began + (self.lease / 2 if live.lease_s >= self.lease else live.lease_s)
        elif outcome == REFUSED:
            live.rejections += 1
            if live.rejections >= REJECTIONS:
                self._refuses(member, f"rejected {REJECTIONS} shares in a row")
            self._dirty.set()  # tried again next round
        else:
            self._refuses(member, "does not support charging profiles")
        return outcome == SENT

    def _lease_for(self, member: MemberSpec) -> float:
        """A share's lease: ``lease``, or until the next time-of-day edge of a group above it,
        where the limit may fall (a share outliving it in an outage would exceed it)."""
        now, found = now_utc(), self.lease
        for gid in ancestors(self.layout.groups, member.group_id):
            spec = self.layout.groups[gid]
            edge = spec.next_edge(now)
            if edge is not None and edge < found and spec.limit_w_at(now + timedelta(seconds=edge + 1)) < \
                    spec.limit_w_at(now):
                found = max(0.5, edge)
        return found

    def _refuses(self, member: MemberSpec, why: str) -> None:
        if member.outlet not in self.refusing:
            self.refusing.add(member.outlet)
            log.warning("%s %s: counted at its full rating until it reconnects", member.charge_point_id, why)
            self._dirty.set()

