"""Unlock and lock: open a door through the bridge for a user with a grant; is it shut now?"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.errors import ApiError
from api.vendor.sites import actor, sites
from api.vendor.smart_locks.common import (
    GRANTS,
    MAX_ID,
    USERS,
    Actor,
    LockId,
    _door,
    _lock_or_404,
    ok,
    smart_lock_router,
    vendor_date,
)
from csms.timeutil import now_utc, utc
from lockers.audit import audit
from lockers.service import SiteService


# -- lock and unlock ------------------------------------------------------------------------------
class UnlockRequest(BaseModel):
    userid: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "Unlock for this user: refused unless they hold a grant on the lock valid now."))

    model_config = ConfigDict(json_schema_extra={"examples": [{"userid": 1}, {}]})


def _window(grant: Any) -> str:
    start, end = vendor_date(grant.valid_from), vendor_date(grant.valid_until)
    return f"from {start or 'always'} until {end or 'revoked'}"


def _valid_now(grant: Any, now: datetime) -> bool:
    start, end = utc(grant.valid_from), utc(grant.valid_until)
    return (start is None or start <= now) and (end is None or now < end)


async def _check_access(svc: SiteService, row: Any, userid: int, who: str) -> None:
    """May this user open this lock now? Audited either way; raises with the reason if not."""
    now = now_utc()
    async with svc.engine.begin() as conn:
        user = (await conn.execute(select(USERS.c.id, USERS.c.username, USERS.c.active)
                                   .where(USERS.c.id == userid))).first()
        if user is None:
            raise ApiError(404, "UserNotFound", f"no user {userid}")
        grants = (await conn.execute(select(GRANTS).where(
            GRANTS.c.locker_id == row.id, GRANTS.c.user_id == userid).order_by(GRANTS.c.id))).all()
        valid = next((g for g in grants if _valid_now(g, now)), None)
        if not user.active:
            reason = f"user {userid} is disabled"
        elif valid is not None:
            reason = None
        elif not grants:
            reason = f"user {userid} has no access to lock {row.identity!r}"
        else:
            windows = "; ".join(_window(g) for g in grants)
            reason = (f"user {userid}'s access to lock {row.identity!r} is outside its time window "
                      f"(now {vendor_date(now)} UTC; access {windows})")
        await audit(conn, who, "lock.access", locker_id=row.id, device_id=row.device_id,
                    userid=userid, username=user.username, allowed=reason is None,
                    grantid=valid.id if valid is not None else None, reason=reason)
    if reason is not None:
        raise ApiError(403, "AccessDenied", reason, lockid=row.identity)


router = smart_lock_router()


@router.post("/api/locks/{lockid}/unlock", summary="Unlock: open the locker door through the bridge",
             responses={409: {"description": "`UnlockFailed`: the door did not open (the reason says "
                              "why: no bridge, no answer, board refused, door stayed shut)"}})
async def unlock(*, lockid: LockId,
                 body: Annotated[UnlockRequest | None, Body(openapi_examples={
                     "user": {"summary": "For a user: checked against their grants",
                              "value": {"userid": 1}},
                     "operator": {"summary": "On the caller's own authority", "value": {}}})] = None,
                 caller: Actor, svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
    userid = body.userid if body is not None else None
    if userid is not None:
        await _check_access(svc, row, userid, actor(caller))
    result = await svc.open(row, actor(caller))
    fields = {"lockid": row.identity, "userid": userid, "door": result.door}
    if not result.success:
        raise ApiError(409, "UnlockFailed", f"the lock did not open: {result.error}",
                       lock_open_status=1 if result.door == "open" else 0, **fields)
    note = " (the door sensor is ignored: the lock is marked broken)" if result.sensor_ignored else ""
    return ok(f"the lock is open{note}", lock_open_status=1, **fields)


@router.post("/api/locks/{lockid}/lock", summary="Lock: a locker door latches when shut; is it shut now?",
             responses={409: {"description": "`DoorOpen`: close the door by hand; `DoorUnknown`: no "
                              "reading of the door yet"}})
async def lock(lockid: LockId, caller: Actor, svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        door, source = _door(row, svc.live(row.identity))
        await audit(conn, actor(caller), "lock.lock", locker_id=row.id, device_id=row.device_id,
                    door=None if door is None else ("open" if door else "closed"), source=source)
    unsent = "a locker door latches by itself when shut, so nothing was sent to the board"
    if door is None:
        raise ApiError(409, "DoorUnknown", f"the door state is not known yet; {unsent}",
                       lockid=row.identity, lock_open_status=0)
    if door:
        raise ApiError(409, "DoorOpen", f"the door is open: close it by hand to lock it; {unsent}",
                       lockid=row.identity, lock_open_status=1)
    return ok(f"the door is closed and locked; {unsent}", lockid=row.identity, lock_open_status=0)


