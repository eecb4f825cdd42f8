"""Access grants: who may open a lock, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.vendor.sites import actor
from api.vendor.smart_locks.common import (
    MAX_ID,
    Access,
    AdminReader,
    Answer,
    GrantId,
    LockId,
    Manager,
    ok,
    smart_lock_router,
    vendor_date,
)
from csms.timeutil import now_utc, utc
from lockers.grants import valid_now


# -- access grants --------------------------------------------------------------------------------
class GrantRequest(BaseModel):
    userid: int = Field(ge=1, le=MAX_ID, description="The user who may open the lock.")
    valid_from: datetime | None = Field(None, alias="from", description=(
        "Start of the window, ISO 8601 (no offset: UTC); missing: from now on, without end."))
    valid_until: datetime | None = Field(None, alias="until", description=(
        "End of the window (exclusive); missing: until revoked."))

    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"userid": 1, "from": "2026-01-05T08:00:00Z", "until": "2026-01-05T18:00:00Z"},
        {"userid": 1}]})


class GrantItem(BaseModel):
    grantid: int
    lockid: str
    userid: int
    username: str | None
    valid_from: str | None = Field(alias="from", description="Start of the window (UTC); null: always.")
    valid_until: str | None = Field(alias="until", description="End of the window (UTC, exclusive); "
                                    "null: until revoked.")
    active: bool = Field(description="Whether the window holds now.")
    created_date: str | None


class Granted(Answer):
    grant: GrantItem


class AccessList(Answer):
    lockid: str
    totalCount: int
    accesslist: list[GrantItem] = Field(description="In the order they were given.")


class Revoked(Answer):
    lockid: str
    grantid: int


def _grant_json(grant: Any, lockid: str, username: str | None, now: datetime) -> dict[str, Any]:
    return {"grantid": grant.id, "lockid": lockid, "userid": grant.user_id, "username": username,
            "from": vendor_date(grant.valid_from), "until": vendor_date(grant.valid_until),
            "active": valid_now(grant, now), "created_date": vendor_date(grant.created_at)}


router = smart_lock_router()


@router.post("/api/locks/{lockid}/access", status_code=201, summary="Grant a user access to a lock",
             response_model=Granted)
async def grant_access(lockid: LockId, body: GrantRequest, caller: Manager, access: Access) -> dict[str, Any]:
    start, end = utc(body.valid_from), utc(body.valid_until)
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "BadWindow", "from must be before until")
    identity, grant, username = await access.grant(lockid, caller, body.userid, start, end, actor(caller))
    return ok("access granted", grant=_grant_json(grant, identity, username, now_utc()))


@router.get("/api/locks/{lockid}/access", summary="Who may open a lock, and when", response_model=AccessList)
async def list_access(lockid: LockId, caller: AdminReader, access: Access) -> dict[str, Any]:
    identity, grants = await access.of_lock(lockid, caller)
    now = now_utc()
    return ok(lockid=identity, totalCount=len(grants),
              accesslist=[_grant_json(g, identity, g.username, now) for g in grants])


@router.delete("/api/locks/{lockid}/access/{grantid}", summary="Revoke a grant", response_model=Revoked)
async def revoke_access(lockid: LockId, grantid: GrantId, caller: Manager, access: Access) -> dict[str, Any]:
    identity = await access.revoke(lockid, grantid, caller, actor(caller))
    return ok("access revoked", lockid=identity, grantid=grantid)
