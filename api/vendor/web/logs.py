"""The audit log, newest first (seed 000; the records: :mod:`lockers.backoffice.logs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    PRINTABLE,
    FilterId,
    Paging,
    Reader,
    served,
    web_router,
)
from lockers.backoffice.logs import LogService

router = web_router()
Logs = Annotated[LogService, served(LogService)]


class AuditLogEntry(BaseModel):
    id: int
    at: str
    actor: str = Field(description="Who: a token's or user's name, a device, `board`.")
    action: str = Field(description="What: `locker.open`, `door.opened`, `user.add`, …")
    lockerId: int | None
    deviceId: int | None
    details: Any = Field(description="The action's details, as recorded.")


# ================================================================================================
# Log
# ================================================================================================
@router.get("/api/logs", tags=["logs"], summary="Log list: the audit log, newest first",
            response_model=Paged[AuditLogEntry], responses=declare({}))
async def list_logs(_: Reader, logs: Logs, page: Paging,
                    action: Annotated[str | None, Query(max_length=48, pattern=PRINTABLE,
                                               description="Exact, or a prefix ending in `.` (`locker.`).")] = None,
                    lockerId: FilterId = None, deviceId: FilterId = None,
                    actor_: Annotated[str | None, Query(alias="actor", max_length=100, pattern=PRINTABLE)] = None,
                    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
                    until: Annotated[datetime | None, Query(description="Before this time.")] = None) -> dict[str, Any]:
    return await logs.page(page, action=action, locker_id=lockerId, device_id=deviceId, actor=actor_,
                           since=since, until=until)
