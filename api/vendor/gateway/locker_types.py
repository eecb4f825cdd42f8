"""Locker types, with how many lockers of each there are and how many are free."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import (
    ADMIN,
    LOCKERS,
    READ,
    TYPES,
    Page,
    PageSize,
    _error,
    engine_of,
    gateway_router,
)
from api.vendor.gateway.schemas import MAX_ID, LockerType, LockerTypeCreate, LockerTypeList
from api.vendor.gateway.shaping import _available, _locker_query
from api.vendor.sites import actor, scoped, sites
from lockers.audit import audit

router = gateway_router()

# -- locker types --------------------------------------------------------------------------------
async def _type_counts(conn: AsyncConnection, request: Request, caller: Caller
                       ) -> dict[int, tuple[int, int]]:
    """Per locker type: (lockers, available), over the lockers the caller can see."""
    rows = (await conn.execute(scoped(_locker_query().where(LOCKERS.c.locker_type_id.isnot(None)),
                                      caller))).all()
    service = sites(request)
    counts: dict[int, tuple[int, int]] = {}
    for r in rows:
        total, free = counts.get(r.locker_type_id, (0, 0))
        counts[r.locker_type_id] = (total + 1, free + _available(r, service.live(r.identity)))
    return counts


def _type_json(row: Any, counts: dict[int, tuple[int, int]]) -> LockerType:
    total, free = counts.get(row.id, (0, 0))
    return LockerType(id=row.id, name=row.name, size=row.size, hasCharging=bool(row.has_charging),
                      alwaysOos=bool(row.always_oos), description=row.description, lockers=total,
                      available=free)


@router.get("/locker-types", summary="List all locker types", response_model=LockerTypeList)
async def list_locker_types(*, request: Request, page: Page = 1, pageSize: PageSize = 100,
                            caller: Annotated[Caller, Depends(READ)]) -> LockerTypeList:
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(TYPES))).scalar_one()
        rows = (await conn.execute(select(TYPES).order_by(TYPES.c.id).limit(pageSize)
                                   .offset((page - 1) * pageSize))).all()
        counts = await _type_counts(conn, request, caller)
    return LockerTypeList(items=[_type_json(r, counts) for r in rows], total=total, page=page,
                          pageSize=pageSize)


TypeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/locker-types/{lockerTypeId}", summary="Get locker type details",
             response_model=LockerType, responses={404: _error("`LockerTypeNotFound`")})
async def get_locker_type(lockerTypeId: TypeIdPath, request: Request,
                          caller: Annotated[Caller, Depends(READ)]) -> LockerType:
    async with engine_of(request).connect() as conn:
        row = (await conn.execute(select(TYPES).where(TYPES.c.id == lockerTypeId))).first()
        if row is None:
            raise ApiError(404, "LockerTypeNotFound", f"no locker type {lockerTypeId}")
        return _type_json(row, await _type_counts(conn, request, caller))


@router.post("/locker-types", status_code=201, response_model=LockerType,
              summary="Create a locker type (extension to the doc; admin)",
              responses={409: _error("`LockerTypeExists`: the name is taken")})
async def create_locker_type(body: LockerTypeCreate, request: Request,
                             caller: Annotated[Caller, Depends(ADMIN)]) -> LockerType:
    async with engine_of(request).begin() as conn:
        taken = (await conn.execute(select(TYPES.c.id).where(TYPES.c.name == body.name))).first()
        if taken is not None:
            raise ApiError(409, "LockerTypeExists", f"a locker type {body.name!r} exists", id=taken.id)
        try:
            result = await conn.execute(TYPES.insert().values(
                name=body.name, size=body.size, has_charging=body.hasCharging,
                always_oos=body.alwaysOos, description=body.description))
        except IntegrityError:  # created concurrently under the same name
            raise ApiError(409, "LockerTypeExists", f"a locker type {body.name!r} exists") from None
        type_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "locker_type.create", lockerTypeId=type_id,
                    **body.model_dump())
        row = (await conn.execute(select(TYPES).where(TYPES.c.id == type_id))).one()
    return _type_json(row, {})


