"""The audit log as the back office lists it: newest first, filtered by action, locker, device,
actor and time."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from csms.queries import Page
from csms.timeutil import iso, utc
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import AUDIT
from lockers.records import page_of


def _entry(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"raw": row.details}
    return {"id": row.id, "at": iso(row.at), "actor": row.actor, "action": row.action,
            "lockerId": row.locker_id, "deviceId": row.device_id, "details": details}


class LogService(BackOfficeService):
    async def page(self, page: Page, *, action: str | None, locker_id: int | None,
                   device_id: int | None, actor: str | None, since: datetime | None,
                   until: datetime | None) -> dict[str, Any]:
        """Entries newest first; ``action`` exact, or a prefix when it ends in ``.``; ``since``
        inclusive, ``until`` exclusive."""
        query = select(AUDIT).order_by(AUDIT.c.id.desc())
        if action:
            query = query.where(AUDIT.c.action.startswith(action, autoescape=True) if action.endswith(".")
                                else AUDIT.c.action == action)
        if since is not None:
            query = query.where(AUDIT.c.at >= utc(since))
        if until is not None:
            query = query.where(AUDIT.c.at < utc(until))
        return await page_of(self.engine, page, query, None, [], _entry,
                             where=[(AUDIT.c.locker_id, locker_id), (AUDIT.c.device_id, device_id),
                                    (AUDIT.c.actor, actor)])
