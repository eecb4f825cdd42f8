"""Unlock and lock: open a door through the bridge for a user with a grant; is it shut now?"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.vendor.sites import actor
from api.vendor.smart_locks.common import (
    MAX_ID,
    Actor,
    Answer,
    LockId,
    Locks,
    VendorError,
    ok,
    smart_lock_router,
)


# -- lock and unlock ------------------------------------------------------------------------------
class UnlockRequest(BaseModel):
    userid: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "Unlock for this user: refused unless they hold a grant on the lock valid now."))

    model_config = ConfigDict(json_schema_extra={"examples": [{"userid": 1}, {}]})


class Unlocked(Answer):
    lock_open_status: Literal[1] = Field(description="1: the door is open.")
    lockid: str
    userid: int | None = Field(description="The user it was opened for; null: on the caller's own authority.")
    door: str | None = Field(description="The door as read back (open, or closed when the lock is "
                             "marked broken); null: not read.")


class Locked(Answer):
    lockid: str
    lock_open_status: Literal[0] = Field(description="0: the door is closed.")


router = smart_lock_router()


@router.post("/api/locks/{lockid}/unlock", summary="Unlock: open the locker door through the bridge",
             response_model=Unlocked,
             responses={409: {"model": VendorError,
                              "description": "`UnlockFailed`: the door did not open (the reason says "
                                             "why: no bridge, no answer, board refused, door stayed shut)"}})
async def unlock(*, lockid: LockId,
                 body: Annotated[UnlockRequest | None, Body(openapi_examples={
                     "user": {"summary": "For a user: checked against their grants",
                              "value": {"userid": 1}},
                     "operator": {"summary": "On the caller's own authority", "value": {}}})] = None,
                 caller: Actor, locks: Locks) -> dict[str, Any]:
    userid = body.userid if body is not None else None
    row, result = await locks.unlock(lockid, caller, userid, actor(caller))
    fields = {"lockid": row.identity, "userid": userid, "door": result.door}
    if not result.success:
        raise ApiError(409, "UnlockFailed", f"the lock did not open: {result.error}",
                       lock_open_status=1 if result.door == "open" else 0, **fields)
    note = " (the door sensor is ignored: the lock is marked broken)" if result.sensor_ignored else ""
    return ok(f"the lock is open{note}", lock_open_status=1, **fields)


@router.post("/api/locks/{lockid}/lock", summary="Lock: a locker door latches when shut; is it shut now?",
             response_model=Locked,
             responses={409: {"model": VendorError,
                              "description": "`DoorOpen`: close the door by hand; `DoorUnknown`: no "
                                             "reading of the door yet"}})
async def lock(lockid: LockId, caller: Actor, locks: Locks) -> dict[str, Any]:
    found = await locks.lock(lockid, caller, actor(caller))
    identity, door = found.row.identity, found.door
    unsent = "a locker door latches by itself when shut, so nothing was sent to the board"
    if door is None:
        raise ApiError(409, "DoorUnknown", f"the door state is not known yet; {unsent}",
                       lockid=identity, lock_open_status=0)
    if door:
        raise ApiError(409, "DoorOpen", f"the door is open: close it by hand to lock it; {unsent}",
                       lockid=identity, lock_open_status=1)
    return ok(f"the door is closed and locked; {unsent}", lockid=identity, lock_open_status=0)
