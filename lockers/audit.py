"""The audit log: every action on the locker domain and every door event, written in the caller's
own database transaction so that a change and its record land (or fail) together."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.models import AuditEntry, table

AUDIT = table(AuditEntry)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def audit(conn: AsyncConnection, actor: str, action: str, *, locker_id: int | None = None,
                device_id: int | None = None, **details: Any) -> None:
    await conn.execute(AUDIT.insert().values(at=now_utc(), actor=actor, action=action,
                                             locker_id=locker_id, device_id=device_id,
                                             details=json.dumps(details, default=str)))
