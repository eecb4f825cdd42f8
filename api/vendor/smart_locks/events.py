"""A lock's event history: who used it and when, door events included."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.vendor.smart_locks.common import (
    MAX_LIMIT,
    Answer,
    History,
    Limit,
    LockId,
    PageNumber,
    Reader,
    _pages,
    ok,
    smart_lock_router,
    vendor_date,
)
from lockers.lock_events import LockEvent


class EventItem(BaseModel):
    eventid: int
    lockid: str
    event: str = Field(description="What happened: the audit log's action (lock.access, door.opened, …).")
    actor: str = Field(description="Who: a token's name, or the board for a door event.")
    userid: int | None = Field(description="The user it was done for, when there was one.")
    date: str | None = Field(description="When, UTC, YYYY-MM-DD HH:MM:SS.")
    details: dict[str, Any] = Field(description="The audit entry's details as recorded.")


class EventsPage(Answer):
    lockid: str
    totalCount: int = Field(description="How many events the lock has.")
    totalPage: int
    currentPage: int
    eventslist: list[EventItem] = Field(description="Newest first.")


def _event_json(event: LockEvent, lockid: str) -> dict[str, Any]:
    return {"eventid": event.id, "lockid": lockid, "event": event.action, "actor": event.actor,
            "userid": event.details.get("userid"), "date": vendor_date(event.at), "details": event.details}


router = smart_lock_router()


@router.get("/api/locks/{lockid}/events", summary="Event history of a lock: who used it and when, "
            "door events included (newest first)", response_model=EventsPage)
async def lock_events(lockid: LockId, pagenumber: PageNumber, limit: Limit,
                      caller: Reader, history: History) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    found = await history.page(lockid, caller, (pagenumber - 1) * limit, limit)
    return ok(lockid=found.lockid, totalCount=found.total, totalPage=_pages(found.total, limit),
              currentPage=pagenumber, eventslist=[_event_json(e, found.lockid) for e in found.events])
