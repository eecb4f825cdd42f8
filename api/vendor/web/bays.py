"""Bays: lockers with their device and assigned user, and (un)assigning them (seed 000)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import Select, or_, select, update

from api.auth import Caller
from api.crud import (
    one,
    page_of,
    row_or_404,
)
from api.deps import jsonable
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import actor, scoped, sites
from api.vendor.web.conventions import (
    BANKS,
    DEVICE,
    DEVICES,
    LOCKER,
    LOCKERS,
    NOT_FOUND,
    TYPES,
    USER,
    USERS,
    Body,
    Engine,
    FilterId,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    examples,
)
from api.vendor.web.devices import LockerId
from locker_bridge.service import BridgeService
from lockers.audit import audit

router = APIRouter(route_class=GuardedRoute)


# ================================================================================================
# Lockers, bays
# ================================================================================================
# a locker of an always-out-of-service type is out of service whatever its own flag says (as the
# locker gateway shows it)
OUT_OF_SERVICE = or_(LOCKERS.c.out_of_service.is_(True), TYPES.c.always_oos.is_(True))


def _locker_query() -> Select[Any]:
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bank_id.label("bankId"),
                   BANKS.c.name.label("bank"), BANKS.c.port, BANKS.c.address, LOCKERS.c.bay,
                   LOCKERS.c.locker_type_id.label("lockerTypeId"), TYPES.c.name.label("lockerType"),
                   LOCKERS.c.device_id.label("deviceId"), DEVICES.c.code.label("deviceCode"),
                   LOCKERS.c.assigned_user_id.label("assignedUserId"),
                   USERS.c.username.label("assignedUsername"),
                   OUT_OF_SERVICE.label("outOfService"), LOCKERS.c.reason_code.label("reasonCode"),
                   LOCKERS.c.reason, LOCKERS.c.broken_lock.label("brokenLock"),
                   LOCKERS.c.door_open.label("doorOpen"), LOCKERS.c.door_changed_at.label("doorChangedAt"),
                   LOCKERS.c.created_at.label("createdAt"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(DEVICES, DEVICES.c.id == LOCKERS.c.device_id)
                         .outerjoin(USERS, USERS.c.id == LOCKERS.c.assigned_user_id)))


def _bridge(request: Request) -> BridgeService | None:
    return sites(request).bridge


def _locker_shape(request: Request) -> Any:
    service = sites(request)

    def shape(row: Any) -> dict[str, Any]:
        out = jsonable(row)
        out["outOfService"] = bool(out["outOfService"])
        door = out.pop("doorOpen")
        out["door"] = None if door is None else ("open" if door else "closed")
        out["driven"] = service.local(row.identity) is not None
        return out

    return shape


async def _locker(request: Request, eng: Engine, caller: Caller, locker_id: int) -> dict[str, Any]:
    return await one(eng, LOCKER, locker_id, scoped(_locker_query(), caller), _locker_shape(request))


def _bay(row: Any) -> dict[str, Any]:
    return {"lockerId": row.id, "identity": row.identity, "bankId": row.bankId, "bank": row.bank,
            "bay": row.bay, "deviceId": row.deviceId, "deviceCode": row.deviceCode,
            "assignedUserId": row.assignedUserId, "assignedUsername": row.assignedUsername}


async def _bay_of(eng: Engine, locker_id: int) -> dict[str, Any]:
    return await one(eng, LOCKER, locker_id, _locker_query(), _bay)


@router.get("/api/bays", tags=["bays"], summary="List bays (lockers with their device and user)")
async def list_bays(_: Reader, eng: Engine, page: Paging, q: Search = None, bankId: FilterId = None,
                    deviceId: FilterId = None,
                    assigned: Annotated[bool | None, Query(description="Only bays with (true) or "
                                                                    "without (false) a user.")] = None
                    ) -> dict[str, Any]:
    query = _locker_query().order_by(BANKS.c.name, LOCKERS.c.bay)
    if assigned is not None:
        column = LOCKERS.c.assigned_user_id
        query = query.where(column.is_not(None) if assigned else column.is_(None))
    return await page_of(eng, page, query, q, [LOCKERS.c.identity, BANKS.c.name], _bay,
                         where=[(LOCKERS.c.bank_id, bankId), (LOCKERS.c.device_id, deviceId)])


class AssignDevice(Body):
    model_config = examples({"deviceId": 1})

    deviceId: RefId


class AssignUser(Body):
    model_config = examples({"userId": 1})

    userId: RefId | None = Field(description="null unassigns the bay's user.")


@router.post("/api/bays/{lockerId}/assign-device", tags=["bays"], summary="Assign a device to a bay",
             responses=NOT_FOUND)
async def assign_device(body: AssignDevice, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        await row_or_404(conn, DEVICE, body.deviceId)
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=body.deviceId))
        await audit(conn, actor(caller), "bay.assign_device", locker_id=locker_id,
                    device_id=body.deviceId, previous=locker.device_id)
    return await _bay_of(eng, locker_id)


@router.post("/api/bays/{lockerId}/unassign-device", tags=["bays"],
             summary="Unassign a bay's device", responses=NOT_FOUND)
async def unassign_device(caller: Operator, eng: Engine, locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=None))
        await audit(conn, actor(caller), "bay.unassign_device", locker_id=locker_id,
                    device_id=locker.device_id)
    return await _bay_of(eng, locker_id)


@router.post("/api/bays/{lockerId}/assign-user", tags=["bays"], summary="Assign a user to a bay",
             responses={**NOT_FOUND, 409: {"description": "`BayAssigned`: another user has it (unassign "
                                                          "first); `UserInactive`"}})
async def assign_user(body: AssignUser, caller: Operator, eng: Engine,
                      locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        if body.userId is not None:
            user = await row_or_404(conn, USER, body.userId)
            if not user.active:
                raise ApiError(409, "UserInactive", f"user {user.username!r} is not active")
            if locker.assigned_user_id not in (None, body.userId):
                raise ApiError(409, "BayAssigned", f"locker {locker_id} is assigned to user "
                                                   f"{locker.assigned_user_id}; unassign it first")
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
            assigned_user_id=body.userId))
        await audit(conn, actor(caller), "bay.assign_user" if body.userId else "bay.unassign_user",
                    locker_id=locker_id, device_id=locker.device_id, user_id=body.userId,
                    previous=locker.assigned_user_id)
    return await _bay_of(eng, locker_id)

