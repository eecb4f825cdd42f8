"""Locks: the vendor's paged list and one lock's open and online status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import func, or_, select

from api.vendor.sites import sites
from api.vendor.smart_locks.common import (
    LOCKERS,
    MAX_LIMIT,
    Limit,
    LockId,
    LocksPage,
    PageNumber,
    Reader,
    _door,
    _lock_json,
    _lock_or_404,
    _online,
    _pages,
    _scoped,
    ok,
    smart_lock_router,
    vendor_date,
)
from lockers.locks import LOCK_NAME, lock_query
from lockers.service import SiteService

router = smart_lock_router()


@router.get("/api/locks", summary="Locks (seed 003): the vendor's paged list, from our lockers",
            response_model=LocksPage)
async def list_locks(*, pagenumber: PageNumber, limit: Limit,
                     searchkey: Annotated[str | None, Query(max_length=100,
                                                   description="Filters by lock id or name.")] = None,
                     caller: Reader, svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    query = _scoped(lock_query(), caller)
    key = (searchkey or "").strip().lower()
    if key:
        query = query.where(or_(func.lower(LOCKERS.c.identity).contains(key, autoescape=True),
                                func.lower(LOCK_NAME).contains(key, autoescape=True)))
    async with svc.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        offset = (pagenumber - 1) * limit
        found = [] if offset >= total else (await conn.execute(
            query.order_by(LOCKERS.c.identity).limit(limit).offset(offset))).all()
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber,
              lockslist=[_lock_json(row, svc) for row in found])


@router.get("/api/locks/{lockid}/status", summary="Open and online status of one lock")
async def lock_status(lockid: LockId, caller: Reader,
                      svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
    live = svc.live(row.identity)
    door, source = _door(row, live)
    return ok(lockid=row.identity, lock_open_status=1 if door else 0,
              lock_online_status=1 if _online(row, live) else 0,
              online_updated_date=vendor_date(row.cp_last_seen),
              door=None if door is None else ("open" if door else "closed"), door_source=source,
              door_changed_date=vendor_date(row.door_changed_at))


