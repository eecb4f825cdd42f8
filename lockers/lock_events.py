"""A lock's event history (the smart-lock API of seed 003): the audit log's entries about one
locker, newest first — who checked, granted, opened or locked it, and the doors' own events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from lockers.locks import lock_or_404
from lockers.models import AuditEntry, table
from lockers.scope import Viewer

AUDIT = table(AuditEntry)


@dataclass(frozen=True)
class LockEvent:
    """One audit entry, its details decoded (an entry written by hand or by an old version may
    hold something other than a JSON object: it is kept, under ``raw`` or ``value``)."""

    id: int
    action: str
    actor: str
    at: datetime
    details: dict[str, Any]


def _details(text: str | None) -> dict[str, Any]:
    try:
        details = json.loads(text or "{}")
    except ValueError:
        return {"raw": text}
    return details if isinstance(details, dict) else {"value": details}


@dataclass(frozen=True)
class EventsPage:
    lockid: str
    total: int
    events: list[LockEvent]


class LockEvents:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(self, lockid: str, viewer: Viewer, offset: int, limit: int) -> EventsPage:
        """One page of the lock's entries, newest first; a page past the end is not read."""
        async with self.engine.connect() as conn:
            row = await lock_or_404(conn, lockid, viewer)
            mine = AUDIT.c.locker_id == row.id
            total = int((await conn.execute(select(func.count()).select_from(AUDIT).where(mine))).scalar_one())
            entries = [] if offset >= total else (await conn.execute(
                select(AUDIT).where(mine).order_by(AUDIT.c.id.desc()).limit(limit).offset(offset))).all()
        return EventsPage(row.identity, total, [LockEvent(e.id, e.action, e.actor, e.at, _details(e.details))
                                                for e in entries])
