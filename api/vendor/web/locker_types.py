"""Locker types in the back office (seed 000)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import select

from api.crud import (
    create,
    one,
    page_of,
    patch,
)
from api.gate import GuardedRoute
from api.vendor.sites import sites
from api.vendor.web.conventions import (
    LOCKER_TYPE,
    LOCKERS,
    NOT_FOUND,
    TYPES,
    Body,
    Description,
    Engine,
    Name,
    Operator,
    Paging,
    Reader,
    Search,
    Size,
    examples,
)
from api.vendor.web.devices import LockerTypeId

router = APIRouter(route_class=GuardedRoute)


# ================================================================================================
# Locker types
# ================================================================================================
class LockerTypeIn(Body):
    model_config = examples({"name": "Medium with outlet", "size": "M", "hasCharging": True},
                            {"name": "Screen", "size": "L", "alwaysOos": True,
                             "description": "the kiosk screen; never rented"})

    name: Name
    size: Size = "M"
    hasCharging: bool = False
    alwaysOos: bool = Field(False, description="Never rented (a screen, say).")
    description: Description | None = None


class LockerTypePatch(Body):
    model_config = examples({"hasCharging": False})

    name: Name = Field(None)
    size: Size = Field(None)
    hasCharging: bool = Field(None)
    alwaysOos: bool = Field(None)
    description: Description | None = None


def _locker_type(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "size": row.size, "hasCharging": row.has_charging,
            "alwaysOos": row.always_oos, "description": row.description}


@router.get("/api/admin/locker-types", tags=["lockers"], summary="Locker types")
async def list_locker_types(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, select(TYPES).order_by(TYPES.c.name), q,
                         [TYPES.c.name, TYPES.c.description], _locker_type)


@router.post("/api/admin/locker-types", tags=["lockers"], status_code=201, summary="Add a locker type",
             responses={409: {"description": "`LockerTypeExists`"}})
async def add_locker_type(body: LockerTypeIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    return await get_locker_type(caller, eng, await create(eng, caller, LOCKER_TYPE, body.model_dump()))


@router.get("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Get a locker type",
            responses=NOT_FOUND)
async def get_locker_type(_: Reader, eng: Engine, type_id: LockerTypeId) -> dict[str, Any]:
    return await one(eng, LOCKER_TYPE, type_id, shape=_locker_type)


@router.patch("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Edit a locker type",
              responses={**NOT_FOUND, 409: {"description": "`LockerTypeExists`"}})
async def update_locker_type(request: Request, body: LockerTypePatch, caller: Operator,
                             eng: Engine, type_id: LockerTypeId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    await patch(eng, caller, LOCKER_TYPE, type_id, values)
    if "alwaysOos" in values:  # its lockers' bays go into maintenance or come out of it
        async with eng.connect() as conn:
            identities = (await conn.execute(select(LOCKERS.c.identity).where(
                LOCKERS.c.locker_type_id == type_id))).scalars().all()
        for identity in identities:
            await sites(request).apply_service_state(identity)
    return await get_locker_type(caller, eng, type_id)


