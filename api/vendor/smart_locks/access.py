"""Access grants: who may open a lock, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from api.errors import ApiError
from api.vendor.sites import actor, sites
from api.vendor.smart_locks.common import (
    GRANTS,
    MAX_ID,
    USERS,
    AdminReader,
    GrantId,
    LockId,
    Manager,
    _lock_or_404,
    ok,
    smart_lock_router,
    vendor_date,
)
from api.vendor.smart_locks.unlock import _valid_now
from csms.timeutil import now_utc, utc
from lockers.audit import audit
from lockers.service import SiteService


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


def _grant_json(grant: Any, lockid: str, username: str | None, now: datetime) -> dict[str, Any]:
    return {"grantid": grant.id, "lockid": lockid, "userid": grant.user_id, "username": username,
            "from": vendor_date(grant.valid_from), "until": vendor_date(grant.valid_until),
            "active": _valid_now(grant, now), "created_date": vendor_date(grant.created_at)}


router = smart_lock_router()


@router.post("/api/locks/{lockid}/access", status_code=201, summary="Grant a user access to a lock")
async def grant_access(lockid: LockId, body: GrantRequest, caller: Manager,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    start, end = utc(body.valid_from), utc(body.valid_until)
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "BadWindow", "from must be before until")
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        user = (await conn.execute(select(USERS.c.id, USERS.c.username)
                                   .where(USERS.c.id == body.userid))).first()
        if user is None:
            raise ApiError(404, "UserNotFound", f"no user {body.userid}")
        created = await conn.execute(GRANTS.insert().values(
            locker_id=row.id, user_id=user.id, valid_from=start, valid_until=end, created_at=now_utc()))
        grant_id = int(created.inserted_primary_key[0])
        await audit(conn, actor(caller), "lock.grant", locker_id=row.id, device_id=row.device_id,
                    grantid=grant_id, userid=user.id, username=user.username,
                    valid_from=start, valid_until=end)
        grant = (await conn.execute(select(GRANTS).where(GRANTS.c.id == grant_id))).one()
    return ok("access granted", grant=_grant_json(grant, row.identity, user.username, now_utc()))


@router.get("/api/locks/{lockid}/access", summary="Who may open a lock, and when")
async def list_access(lockid: LockId, caller: AdminReader,
                      svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        grants = (await conn.execute(
            select(GRANTS, USERS.c.username).join(USERS, USERS.c.id == GRANTS.c.user_id)
            .where(GRANTS.c.locker_id == row.id).order_by(GRANTS.c.id))).all()
    now = now_utc()
    return ok(lockid=row.identity, totalCount=len(grants),
              accesslist=[_grant_json(g, row.identity, g.username, now) for g in grants])


@router.delete("/api/locks/{lockid}/access/{grantid}", summary="Revoke a grant")
async def revoke_access(lockid: LockId, grantid: GrantId, caller: Manager,
                        svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        grant = (await conn.execute(select(GRANTS).where(
            GRANTS.c.id == grantid, GRANTS.c.locker_id == row.id))).first()
        if grant is None:
            raise ApiError(404, "GrantNotFound", f"no grant {grantid} on lock {lockid!r}")
        await conn.execute(delete(GRANTS).where(GRANTS.c.id == grantid))
        await audit(conn, actor(caller), "lock.revoke", locker_id=row.id, device_id=row.device_id,
                    grantid=grantid, userid=grant.user_id)
    return ok("access revoked", lockid=row.identity, grantid=grantid)


