"""Bank types: which locker types a column of lockers holds, and how many of each."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.auth import Caller
from api.vendor.gateway.common import (
    ADMIN,
    READ,
    BankTypesService,
    Page,
    PageSize,
    _error,
    gateway_router,
)
from api.vendor.gateway.locker_types import TypeIdPath
from api.vendor.gateway.schemas import (
    BankTypeCreate,
    BankTypeList,
    BankTypeWithAssociations,
)
from api.vendor.gateway.shaping import bank_type_json, bank_type_with_associations

router = gateway_router()

# -- bank types ----------------------------------------------------------------------------------
@router.get("/bank-types", summary="List all bank types", response_model=BankTypeList)
async def list_bank_types(*, service: BankTypesService, page: Page = 1, pageSize: PageSize = 100,
                          caller: Annotated[Caller, Depends(READ)]) -> BankTypeList:
    rows, total = await service.find(page=page, page_size=pageSize)
    return BankTypeList(items=[bank_type_json(r) for r in rows], total=total, page=page, pageSize=pageSize)


@router.get("/bank-types/{bankTypeId}", summary="Get bank type with associations",
             response_model=BankTypeWithAssociations, responses={404: _error("`BankTypeNotFound`")})
async def get_bank_type(bankTypeId: TypeIdPath, service: BankTypesService,
                        caller: Annotated[Caller, Depends(READ)]) -> BankTypeWithAssociations:
    return bank_type_with_associations(await service.get(bankTypeId))


@router.post("/bank-types", status_code=201, response_model=BankTypeWithAssociations,
              summary="Create a bank type with its associations (extension to the doc; admin)",
              responses={400: _error("`ValidationError`, `DuplicateAssociation` (a locker type twice)"),
                         404: _error("`LockerTypeNotFound`: an association names no locker type"),
                         409: _error("`BankTypeExists`: the name is taken")})
async def create_bank_type(body: BankTypeCreate, service: BankTypesService,
                           caller: Annotated[Caller, Depends(ADMIN)]) -> BankTypeWithAssociations:
    return bank_type_with_associations(await service.create(
        caller, name=body.name, description=body.description,
        associations=[(a.lockerTypeId, a.count) for a in body.associations]))
