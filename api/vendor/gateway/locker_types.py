"""Locker types, with how many lockers of each there are and how many are free."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.auth import Caller
from api.vendor.gateway.common import (
    ADMIN,
    READ,
    LockerTypesService,
    Page,
    PageSize,
    _error,
    gateway_router,
)
from api.vendor.gateway.schemas import MAX_ID, LockerType, LockerTypeCreate, LockerTypeList
from api.vendor.gateway.shaping import type_json

router = gateway_router()

# -- locker types --------------------------------------------------------------------------------
@router.get("/locker-types", summary="List all locker types", response_model=LockerTypeList)
async def list_locker_types(*, service: LockerTypesService, page: Page = 1, pageSize: PageSize = 100,
                            caller: Annotated[Caller, Depends(READ)]) -> LockerTypeList:
    types, total = await service.find(caller, page=page, page_size=pageSize)
    return LockerTypeList(items=[type_json(t) for t in types], total=total, page=page, pageSize=pageSize)


TypeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/locker-types/{lockerTypeId}", summary="Get locker type details",
             response_model=LockerType, responses={404: _error("`LockerTypeNotFound`")})
async def get_locker_type(lockerTypeId: TypeIdPath, service: LockerTypesService,
                          caller: Annotated[Caller, Depends(READ)]) -> LockerType:
    return type_json(await service.get(lockerTypeId, caller))


@router.post("/locker-types", status_code=201, response_model=LockerType,
              summary="Create a locker type (extension to the doc; admin)",
              responses={409: _error("`LockerTypeExists`: the name is taken")})
async def create_locker_type(body: LockerTypeCreate, service: LockerTypesService,
                             caller: Annotated[Caller, Depends(ADMIN)]) -> LockerType:
    return type_json(await service.create(caller, name=body.name, size=body.size, has_charging=body.hasCharging,
                                          always_oos=body.alwaysOos, description=body.description))
