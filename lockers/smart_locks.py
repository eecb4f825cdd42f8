"""Locks as the smart-lock API (seed 003) sees them, and what it does to them: their door and
online state, unlocking (for a user: only with a grant valid now) and "locking", which a locker
door does by itself when shut, so it only reads and records whether the door is shut.

Why the live view first: the bridge driving a bay here knows the door and the connection now; the
record only knows what was last reported. Where the state comes from is part of the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockers.audit import audit
from lockers.bays import OpenResult
from lockers.grants import Grants
from lockers.lock_groups import LockGroups
from lockers.locks import lock_or_404, lock_query, page_of_locks, searched
from lockers.scope import Viewer, scoped
from lockers.service import SiteService


def door_of(row: Any, live: dict[str, Any] | None) -> tuple[bool | None, str]:
    """Is the door open, and where that comes from: the bridge now (``live``), or the last it
    reported (``last known``); ``unknown`` when neither has said."""
    if live is not None and live.get("door") is not None:
        return live["door"] == "open", "live"
    if row.door_open is not None:
        return bool(row.door_open), "last known"
    return None, "unknown"


def online_of(row: Any, live: dict[str, Any] | None) -> bool:
    """The bridge's view of the bay's connection when it drives the bay here, else the CSMS's."""
    if live is not None:
        return bool(live.get("connected"))
    return bool(row.cp_online)


@dataclass(frozen=True)
class LockView:
    """A lock's row (:func:`lockers.locks.lock_query`) with its door and connection now."""

    row: Any
    door: bool | None
    door_source: str
    online: bool


class SmartLocks:
    def __init__(self, site: SiteService) -> None:
        self.site = site

    def view(self, row: Any) -> LockView:
        live = self.site.live(row.identity)
        door, source = door_of(row, live)
        return LockView(row, door, source, online_of(row, live))

    async def page(self, viewer: Viewer, searchkey: str | None, offset: int, limit: int) -> tuple[int, list[LockView]]:
        """(how many locks the viewer sees that match, one page of them by identity)."""
        query = searched(scoped(lock_query(), viewer), (searchkey or "").strip().lower())
        async with self.site.engine.connect() as conn:
            total, rows = await page_of_locks(conn, query, offset, limit)
        return total, [self.view(row) for row in rows]

    async def one(self, lockid: str, viewer: Viewer) -> LockView:
        async with self.site.engine.connect() as conn:
            row = await lock_or_404(conn, lockid, viewer)
        return self.view(row)

    async def unlock(self, lockid: str, viewer: Viewer, userid: int | None, who: str) -> tuple[Any, OpenResult]:
        """Open the lock through its bridge: for ``userid`` only if their grant allows it now
        (checked and audited first; the open's audit entry and its ``lock.unlocked`` event name
        the user and the grant), else on the caller's own authority. (The lock's row, what the
        open did.)"""
        async with self.site.engine.connect() as conn:
            row = await lock_or_404(conn, lockid, viewer)
        if userid is None:
            return row, await self.site.open(row, who)
        grantid = await Grants(self.site.engine).check(row, userid, who)
        return row, await self.site.open(row, who, userid=userid, grantid=grantid)

    async def lock(self, lockid: str, viewer: Viewer, who: str) -> LockView:
        """Nothing is sent to the board (the door latches when shut): the door's state is read
        and the attempt audited (``lock.lock``); the caller says what a door not shut means."""
        async with self.site.engine.begin() as conn:
            row = await lock_or_404(conn, lockid, viewer)
            found = self.view(row)
            door = found.door
            await audit(conn, who, "lock.lock", locker_id=row.id, device_id=row.device_id,
                        door=None if door is None else ("open" if door else "closed"), source=found.door_source)
        return found

    async def unlock_group(self, groupid: int, who: str) -> list[tuple[str, OpenResult]]:
        """Open every lock of a group, one door after the other (the bus serialises them anyway),
        each failure that lock's own; (lock id, what the open did) each, and the whole in the
        audit log. An empty group is refused (``NothingToOpen``)."""
        groups = LockGroups(self.site.engine)
        results = [(row.identity, await self.site.open(row, who)) for row in await groups.to_unlock(groupid)]
        await groups.record_unlock(groupid, who, [lockid for lockid, r in results if r.success],
                                   [lockid for lockid, r in results if not r.success])
        return results
