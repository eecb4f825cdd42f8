"""Lock events: what a lock does, as it happens, on the central system's event bus (so on
``GET /api/v1/events`` and to the webhooks whose filter takes them) and in the audit log (so in a
lock's history, ``GET /api/locks/{lockid}/events``).

They are derived where the facts arrive, never in a route: the door changes a bridge reports (the
embedded one directly, one at the site as DataTransfer ``DoorEvent``), the opens asked through
:meth:`lockers.service.SiteService.open`, and the bay's charge point connecting or going away.

=================  ==========================================================  =====================
event ``type``     when (fields beside ``lockid``)                              audit entry
=================  ==========================================================  =====================
lock.opened        the door sensor reads open; ``commanded``: an OPEN_DOOR      ``door.opened``
                   sent for the bay explains it; ``by``: who asked, when the
                   open was asked at this node (null otherwise)
lock.closed        the door sensor reads closed (the latch holds by itself)     ``door.closed``
lock.unlocked      an open asked through the locker APIs opened the door;       ``locker.open``
                   ``by``: the caller (token name and id, its user); for a
                   user's unlock also ``userid`` and the ``grantid`` that
                   allowed it
lock.forced_open   the door opened with no OPEN_DOOR sent for it within 30 s:   ``lock.forced_open``
                   opened by hand, a key, force, a latch that gave way (tamper)
lock.offline       the bay's charge point lost its connection to the central    ``lock.offline``
                   system (the bridge or the site is down); ``reason``
lock.online        it connected again after a ``lock.offline`` (the lock's      ``lock.online``
                   history says so, whichever node saw it go)
=================  ==========================================================  =====================

A connection that was never seen ending is no event: a bay's first connection after it became a
lock, and the reconnections after the central system itself stopped (its own shutdown closes
every socket; those closings are not the locks' doing and are not recorded).

``lock.battery_low`` is never sent: a locker bay is mains-powered and its board reports no
battery (``docs/locker-protocol.md``). Whether an open was commanded is the bridge's word: it
notes every OPEN_DOOR it sends (typed or a raw frame of the hex pass-through). A bridge of an
older version does not say; then an open asked at this node within the window counts.

Every event's ``charge_point_id`` is the lock's id (its bay's charge point), so the stream's
``charge_point_id`` filter picks one lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.events import EventBus
from lockers.models import AuditEntry, Locker, table

log = logging.getLogger(__name__)

LOCKERS = table(Locker)
AUDIT = table(AuditEntry)
LINKS = ("lock.online", "lock.offline")
ASKED_WINDOW_S = 30.0  # an open asked here explains a door that opens this long after
LINK_QUEUE = 10_000  # connections and disconnections waiting to be looked up
LOOKUP_CHUNK = 500  # identities looked up in one query
ACTOR = "central system"  # the audit's actor of what the central system saw itself

Record = Callable[..., Awaitable[None]]  # SiteService.record(actor, action, identity, **details)


class LockAlerts:
    def __init__(self, engine: AsyncEngine, events: EventBus, record: Record) -> None:
        self.engine = engine
        self.events = events
        self.record = record
        self._asked: dict[str, tuple[str, float]] = {}  # identity -> (who asked an open, when)
        self._links: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(LINK_QUEUE)
        self._follower: asyncio.Task[None] | None = None
        self._closed = False

    def publish(self, kind: str, identity: str, **fields: Any) -> None:
        self.events.publish(kind, identity, lockid=identity, **fields)

    # -- opens and doors -------------------------------------------------------------------------
    def asking(self, identity: str, who: str) -> None:
        """An open of this lock is being asked by ``who``: the door that opens next is theirs."""
        now = time.monotonic()
        for stale in [i for i, (_, at) in self._asked.items() if now - at > ASKED_WINDOW_S]:
            del self._asked[stale]
        self._asked[identity] = (who, now)

    def unlocked(self, identity: str, who: str, **on_behalf: Any) -> None:
        """An open asked through the locker APIs opened the door (audited by the caller)."""
        self.publish("lock.unlocked", identity, by=who, **on_behalf)

    async def door(self, identity: str, door_open: bool, commanded: bool | None) -> None:
        """A door change a bridge reported, ``commanded`` its word on whether an OPEN_DOOR
        explains it (None: it did not say). Audited, then published."""
        if not door_open:
            await self.record("board", "door.closed", identity)
            self.publish("lock.closed", identity, door="closed")
            return
        asked = self._asked.pop(identity, None)
        by = asked[0] if asked is not None and time.monotonic() - asked[1] <= ASKED_WINDOW_S else None
        if commanded is None:
            commanded = by is not None
        await self.record("board", "door.opened", identity, commanded=commanded, by=by)
        if not commanded:
            await self.record("board", "lock.forced_open", identity,
                              reason="the door opened with no open command sent for it")
        self.publish("lock.opened", identity, door="open", commanded=commanded, by=by)
        if not commanded:
            log.warning("lock %s: the door opened with no open command (forced open)", identity)
            self.publish("lock.forced_open", identity, door="open")

    # -- the bays' connections -------------------------------------------------------------------
    def watch(self, event: dict[str, Any]) -> None:
        """An event published at this node (:meth:`EventBus.watch_local`): a charge point that
        connected or went away is looked up in the background, in batches (a connect storm of
        chargers costs a few queries, not one each)."""
        if event["type"] not in ("connected", "disconnected") or self._closed or self.events.closed:
            return
        try:
            self._links.put_nowait((event["charge_point_id"], event))
        except asyncio.QueueFull:
            log.warning("lock events: %d connections waiting to be looked up; %s's %s dropped",
                        LINK_QUEUE, event["charge_point_id"], event["type"])
            return
        if self._follower is None or self._follower.done():
            self._follower = asyncio.get_running_loop().create_task(self._follow(), name="lock-links")

    async def _follow(self) -> None:
        while True:
            batch = [await self._links.get()]
            while not self._links.empty() and len(batch) < LOOKUP_CHUNK:
                batch.append(self._links.get_nowait())
            try:
                await self._links_seen(batch)
            except Exception:  # the database away: these are lost, the next batch is tried
                log.exception("lock events: %d connection changes not recorded", len(batch))

    async def _links_seen(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """The locks among ``batch``, with the last connection entry of each; then their events."""
        async with self.engine.connect() as conn:
            locks = {r.identity: r.id for r in await conn.execute(select(LOCKERS.c.identity, LOCKERS.c.id).where(
                LOCKERS.c.identity.in_({identity for identity, _ in batch})))}
            newest = select(func.max(AUDIT.c.id)).where(
                AUDIT.c.locker_id.in_(set(locks.values())), AUDIT.c.action.in_(LINKS)).group_by(AUDIT.c.locker_id)
            last = {r.locker_id: r.action for r in await conn.execute(select(AUDIT.c.locker_id, AUDIT.c.action)
                                                                      .where(AUDIT.c.id.in_(newest)))} if locks else {}
        for identity, event in batch:
            locker = locks.get(identity)
            if locker is None:
                continue
            if event["type"] == "connected":
                if last.get(locker) != "lock.offline":
                    continue  # not seen going: no news
                await self.record(ACTOR, "lock.online", identity)
                self.publish("lock.online", identity)
                last[locker] = "lock.online"
            else:
                reason = event.get("reason") or f"connection closed ({event.get('code')})"
                await self.record(ACTOR, "lock.offline", identity, reason=reason)
                self.publish("lock.offline", identity, reason=reason)
                last[locker] = "lock.offline"

    async def close(self) -> None:
        self._closed = True
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
