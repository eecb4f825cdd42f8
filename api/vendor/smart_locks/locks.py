"""Locks: the vendor's paged list and one lock's open and online status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import Field

from api.vendor.smart_locks.common import (
    MAX_LIMIT,
    Answer,
    Limit,
    LockId,
    Locks,
    LocksPage,
    PageNumber,
    Reader,
    _pages,
    lock_json,
    ok,
    smart_lock_router,
    vendor_date,
)

router = smart_lock_router()


class LockStatus(Answer):
    lockid: str
    lock_open_status: Literal[0, 1] = Field(description="1 open, 0 closed or unknown.")
    lock_online_status: Literal[0, 1] = Field(description="1 when the bay's charge point is online.")
    online_updated_date: str | None = Field(description="When the charge point was last heard from (UTC).")
    door: Literal["open", "closed"] | None = Field(description="null: no reading of the door yet.")
    door_source: Literal["live", "last known", "unknown"] = Field(description=(
        "The bridge's live view, the last state it reported, or neither."))
    door_changed_date: str | None = Field(description="When the door last changed, as reported (UTC).")


@router.get("/api/locks", summary="Locks (seed 003): the vendor's paged list, from our lockers",
            response_model=LocksPage)
async def list_locks(*, pagenumber: PageNumber, limit: Limit,
                     searchkey: Annotated[str | None, Query(max_length=100,
                                                   description="Filters by lock id or name.")] = None,
                     caller: Reader, locks: Locks) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    total, found = await locks.page(caller, searchkey, (pagenumber - 1) * limit, limit)
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber,
              lockslist=[lock_json(lock) for lock in found])


@router.get("/api/locks/{lockid}/status", summary="Open and online status of one lock",
            response_model=LockStatus)
async def lock_status(lockid: LockId, caller: Reader, locks: Locks) -> dict[str, Any]:
    lock = await locks.one(lockid, caller)
    row, door = lock.row, lock.door
    return ok(lockid=row.identity, lock_open_status=1 if door else 0,
              lock_online_status=1 if lock.online else 0,
              online_updated_date=vendor_date(row.cp_last_seen),
              door=None if door is None else ("open" if door else "closed"), door_source=lock.door_source,
              door_changed_date=vendor_date(row.door_changed_at))
