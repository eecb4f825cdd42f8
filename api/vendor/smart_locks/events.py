"""A lock's event history: who used it and when, door events included."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import func, select

from api.vendor.sites import sites
from api.vendor.smart_locks.common import (
    AUDIT,
    MAX_LIMIT,
    Limit,
    LockId,
    PageNumber,
    Reader,
    _lock_or_404,
    _pages,
    ok,
    smart_lock_router,
    vendor_date,
)
from lockers.service import SiteService


# -- event history --------------------------------------------------------------------------------
def _event_json(entry: Any, lockid: str) -> dict[str, Any]:
    try:
        details = json.loads(entry.details or "{}")
    except ValueError:
        details = {"raw": entry.details}
    if not isinstance(details, dict):
        details = {"value": details}
    return {"eventid": entry.id, "lockid": lockid, "event": entry.action, "actor": entry.actor,
            "userid": details.get("userid"), "date": vendor_date(entry.at), "details": details}


router = smart_lock_router()


@router.get("/api/locks/{lockid}/events", summary="Event history of a lock: who used it and when, "
            "door events included (newest first)")
async def lock_events(lockid: LockId, pagenumber: PageNumber, limit: Limit,
                      caller: Reader, svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        mine = AUDIT.c.locker_id == row.id
        total = (await conn.execute(select(func.count()).select_from(AUDIT).where(mine))).scalar_one()
        offset = (pagenumber - 1) * limit
        entries = [] if offset >= total else (await conn.execute(
            select(AUDIT).where(mine).order_by(AUDIT.c.id.desc()).limit(limit).offset(offset))).all()
    return ok(lockid=row.identity, totalCount=total, totalPage=_pages(total, limit),
              currentPage=pagenumber, eventslist=[_event_json(e, row.identity) for e in entries])


