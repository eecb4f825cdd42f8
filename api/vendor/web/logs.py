"""The audit log, newest first (seed 000)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.crud import (
    page_of,
)
from api.gate import GuardedRoute
from api.vendor.web.conventions import (
    PRINTABLE,
    Engine,
    FilterId,
    Paging,
    Reader,
)
from api.vendor.web.devices import AUDIT
from csms.timeutil import iso, utc

router = APIRouter(route_class=GuardedRoute)


# ================================================================================================
# Log
# ================================================================================================
def _log(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"raw": row.details}
    return {"id": row.id, "at": iso(row.at), "actor": row.actor, "action": row.action,
            "lockerId": row.locker_id, "deviceId": row.device_id, "details": details}


@router.get("/api/logs", tags=["logs"], summary="Log list: the audit log, newest first")
async def list_logs(_: Reader, eng: Engine, page: Paging,
                    action: Annotated[str | None, Query(max_length=48, pattern=PRINTABLE,
                                               description="Exact, or a prefix ending in `.` (`locker.`).")] = None,
                    lockerId: FilterId = None, deviceId: FilterId = None,
                    actor_: Annotated[str | None, Query(alias="actor", max_length=100, pattern=PRINTABLE)] = None,
                    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
                    until: Annotated[datetime | None, Query(description="Before this time.")] = None) -> dict[str, Any]:
    query = select(AUDIT).order_by(AUDIT.c.id.desc())
    if action:
        query = query.where(AUDIT.c.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AUDIT.c.action == action)
    if since is not None:
        query = query.where(AUDIT.c.at >= utc(since))
    if until is not None:
        query = query.where(AUDIT.c.at < utc(until))
    return await page_of(eng, page, query, None, [], _log,
                         where=[(AUDIT.c.locker_id, lockerId), (AUDIT.c.device_id, deviceId),
                                (AUDIT.c.actor, actor_)])
