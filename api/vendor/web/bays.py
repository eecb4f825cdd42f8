"""Bays: lockers with their device and assigned user, and (un)assigning them (seed 000; the
records: :mod:`lockers.backoffice.bays`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    Body,
    FilterId,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    examples,
    served,
    web_router,
)
from api.vendor.web.devices import LockerId
from lockers.backoffice.bays import BayService

router = web_router()
Bays = Annotated[BayService, served(BayService)]


class BayOut(BaseModel):
    lockerId: int
    identity: str
    bankId: int
    bank: str
    bay: int
    deviceId: int | None
    deviceCode: str | None
    assignedUserId: int | None
    assignedUsername: str | None


LOCKER_NOT_FOUND = {404: "`LockerNotFound`"}


@router.get("/api/bays", tags=["bays"], summary="List bays (lockers with their device and user)",
            response_model=Paged[BayOut], responses=declare({}))
async def list_bays(_: Reader, bays: Bays, page: Paging, q: Search = None, bankId: FilterId = None,
                    deviceId: FilterId = None,
                    assigned: Annotated[bool | None, Query(description="Only bays with (true) or "
                                                                    "without (false) a user.")] = None
                    ) -> dict[str, Any]:
    return await bays.page(page, q, bankId, deviceId, assigned)


class AssignDevice(Body):
    model_config = examples({"deviceId": 1})

    deviceId: RefId


class AssignUser(Body):
    model_config = examples({"userId": 1})

    userId: RefId | None = Field(description="null unassigns the bay's user.")


@router.post("/api/bays/{lockerId}/assign-device", tags=["bays"], summary="Assign a device to a bay",
             response_model=BayOut, responses=declare({404: "`LockerNotFound`; `DeviceNotFound`"}))
async def assign_device(body: AssignDevice, caller: Operator, bays: Bays,
                        locker_id: LockerId) -> dict[str, Any]:
    await bays.assign_device(caller, locker_id, body.deviceId)
    return await bays.get(locker_id)


@router.post("/api/bays/{lockerId}/unassign-device", tags=["bays"],
             summary="Unassign a bay's device", response_model=BayOut, responses=declare(LOCKER_NOT_FOUND))
async def unassign_device(caller: Operator, bays: Bays, locker_id: LockerId) -> dict[str, Any]:
    await bays.assign_device(caller, locker_id, None)
    return await bays.get(locker_id)


@router.post("/api/bays/{lockerId}/assign-user", tags=["bays"], summary="Assign a user to a bay",
             response_model=BayOut,
             responses=declare({404: "`LockerNotFound`; `UserNotFound`",
                                409: "`BayAssigned`: another user has it (unassign first); `UserInactive`"}))
async def assign_user(body: AssignUser, caller: Operator, bays: Bays,
                      locker_id: LockerId) -> dict[str, Any]:
    await bays.assign_user(caller, locker_id, body.userId)
    return await bays.get(locker_id)
