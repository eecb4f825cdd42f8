"""Bank types: which locker types a column of lockers holds, and how many of each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import (
    ADMIN,
    ASSOCIATIONS,
    BANK_TYPES,
    BANKS,
    READ,
    TYPES,
    Page,
    PageSize,
    _error,
    engine_of,
    gateway_router,
)
from api.vendor.gateway.locker_types import TypeIdPath
from api.vendor.gateway.schemas import (
    BankType,
    BankTypeAssociation,
    BankTypeCreate,
    BankTypeList,
    BankTypeWithAssociations,
)
from api.vendor.gateway.shaping import _type_summary
from api.vendor.sites import actor
from lockers.audit import audit

router = gateway_router()

# -- bank types ----------------------------------------------------------------------------------
def _bank_type_query() -> Any:
    lockers = (select(func.coalesce(func.sum(ASSOCIATIONS.c.count), 0))
               .where(ASSOCIATIONS.c.bank_type_id == BANK_TYPES.c.id).scalar_subquery())
    banks = select(func.count()).where(BANKS.c.bank_type_id == BANK_TYPES.c.id).scalar_subquery()
    return select(BANK_TYPES, lockers.label("locker_count"), banks.label("bank_count"))


def _bank_type_json(row: Any) -> BankType:
    return BankType(id=row.id, name=row.name, description=row.description,
                    lockerCount=int(row.locker_count), banks=int(row.bank_count))


async def _bank_type_with_associations(conn: AsyncConnection, bank_type_id: int) -> BankTypeWithAssociations:
    row = (await conn.execute(_bank_type_query().where(BANK_TYPES.c.id == bank_type_id))).first()
    if row is None:
        raise ApiError(404, "BankTypeNotFound", f"no bank type {bank_type_id}")
    links = (await conn.execute(
        select(ASSOCIATIONS.c.count, TYPES.c.id.label("type_id"), TYPES.c.name.label("type_name"),
               TYPES.c.size, TYPES.c.has_charging, TYPES.c.always_oos)
        .join(TYPES, TYPES.c.id == ASSOCIATIONS.c.locker_type_id)
        .where(ASSOCIATIONS.c.bank_type_id == bank_type_id).order_by(TYPES.c.id))).all()
    associations = []
    for link in links:
        summary = _type_summary(link, "type_id")
        assert summary is not None  # joined: the type exists
        associations.append(BankTypeAssociation(lockerTypeId=link.type_id, lockerType=summary,
                                                count=link.count))
    return BankTypeWithAssociations(**_bank_type_json(row).model_dump(), associations=associations)


@router.get("/bank-types", summary="List all bank types", response_model=BankTypeList)
async def list_bank_types(*, request: Request, page: Page = 1, pageSize: PageSize = 100,
                          caller: Annotated[Caller, Depends(READ)]) -> BankTypeList:
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(BANK_TYPES))).scalar_one()
        rows = (await conn.execute(_bank_type_query().order_by(BANK_TYPES.c.id).limit(pageSize)
                                   .offset((page - 1) * pageSize))).all()
    return BankTypeList(items=[_bank_type_json(r) for r in rows], total=total, page=page,
                        pageSize=pageSize)


@router.get("/bank-types/{bankTypeId}", summary="Get bank type with associations",
             response_model=BankTypeWithAssociations, responses={404: _error("`BankTypeNotFound`")})
async def get_bank_type(bankTypeId: TypeIdPath, request: Request,
                        caller: Annotated[Caller, Depends(READ)]) -> BankTypeWithAssociations:
    async with engine_of(request).connect() as conn:
        return await _bank_type_with_associations(conn, bankTypeId)


@router.post("/bank-types", status_code=201, response_model=BankTypeWithAssociations,
              summary="Create a bank type with its associations (extension to the doc; admin)",
              responses={400: _error("`ValidationError`, `DuplicateAssociation` (a locker type twice)"),
                         404: _error("`LockerTypeNotFound`: an association names no locker type"),
                         409: _error("`BankTypeExists`: the name is taken")})
async def create_bank_type(body: BankTypeCreate, request: Request,
                           caller: Annotated[Caller, Depends(ADMIN)]) -> BankTypeWithAssociations:
    type_ids = [a.lockerTypeId for a in body.associations]
    if len(set(type_ids)) != len(type_ids):
        raise ApiError(400, "DuplicateAssociation", "each locker type may appear once; give its count")
    async with engine_of(request).begin() as conn:
        taken = (await conn.execute(select(BANK_TYPES.c.id).where(BANK_TYPES.c.name == body.name))).first()
        if taken is not None:
            raise ApiError(409, "BankTypeExists", f"a bank type {body.name!r} exists", id=taken.id)
        known = set((await conn.execute(select(TYPES.c.id).where(TYPES.c.id.in_(type_ids)))).scalars()) \
            if type_ids else set()
        missing = [t for t in type_ids if t not in known]
        if missing:
            raise ApiError(404, "LockerTypeNotFound", f"no locker type {missing[0]}", lockerTypeIds=missing)
        try:
            result = await conn.execute(BANK_TYPES.insert().values(name=body.name,
                                                                  description=body.description))
        except IntegrityError:
            raise ApiError(409, "BankTypeExists", f"a bank type {body.name!r} exists") from None
        bank_type_id = int(result.inserted_primary_key[0])
        if body.associations:
            await conn.execute(ASSOCIATIONS.insert(), [
                {"bank_type_id": bank_type_id, "locker_type_id": a.lockerTypeId, "count": a.count}
                for a in body.associations])
        await audit(conn, actor(caller), "bank_type.create", bankTypeId=bank_type_id, **body.model_dump())
        return await _bank_type_with_associations(conn, bank_type_id)


