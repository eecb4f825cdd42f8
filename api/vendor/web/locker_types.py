"""Locker types in the back office (seed 000; the records: :mod:`lockers.backoffice.locker_types`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    Body,
    Description,
    Name,
    Omittable,
    Operator,
    Paging,
    Reader,
    Search,
    Size,
    examples,
    served,
    web_router,
)
from api.vendor.web.devices import LockerTypeId
from lockers.backoffice.locker_types import LockerTypeService

router = web_router()
LockerTypes = Annotated[LockerTypeService, served(LockerTypeService)]


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

    name: Omittable[Name] = None
    size: Omittable[Size] = None
    hasCharging: Omittable[bool] = None
    alwaysOos: Omittable[bool] = None
    description: Description | None = None


class LockerTypeOut(BaseModel):
    id: int
    name: str
    size: str
    hasCharging: bool
    alwaysOos: bool = Field(description="Never rented (a screen, say).")
    description: str | None


TYPE_NOT_FOUND = {404: "`LockerTypeNotFound`"}


@router.get("/api/admin/locker-types", tags=["lockers"], summary="Locker types",
            response_model=Paged[LockerTypeOut], responses=declare({}))
async def list_locker_types(_: Reader, types: LockerTypes, page: Paging, q: Search = None) -> dict[str, Any]:
    return await types.page(page, q)


@router.post("/api/admin/locker-types", tags=["lockers"], status_code=201, summary="Add a locker type",
             response_model=LockerTypeOut, responses=declare({409: "`LockerTypeExists`"}))
async def add_locker_type(body: LockerTypeIn, caller: Operator, types: LockerTypes) -> dict[str, Any]:
    return await types.get(await types.add(caller, body.model_dump()))


@router.get("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Get a locker type",
            response_model=LockerTypeOut, responses=declare(TYPE_NOT_FOUND))
async def get_locker_type(_: Reader, types: LockerTypes, type_id: LockerTypeId) -> dict[str, Any]:
    return await types.get(type_id)


@router.patch("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Edit a locker type",
              response_model=LockerTypeOut,
              responses=declare({**TYPE_NOT_FOUND, 409: "`LockerTypeExists`"}))
async def update_locker_type(body: LockerTypePatch, caller: Operator, types: LockerTypes,
                             type_id: LockerTypeId) -> dict[str, Any]:
    """A change of `alwaysOos` puts its lockers' bays into maintenance or takes them out of it."""
    await types.update(caller, type_id, body.model_dump(exclude_unset=True))
    return await types.get(type_id)
