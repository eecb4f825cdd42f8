"""Banks: a column of lockers on one controller board (port + address) (seed 000; the records:
:mod:`lockers.backoffice.banks`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    PRINTABLE,
    BankName,
    BoardAddress,
    Body,
    Omittable,
    Operator,
    Paging,
    PortName,
    Reader,
    RefId,
    Search,
    examples,
    served,
    web_router,
)
from api.vendor.web.devices import BankId
from lockers.backoffice.banks import BankService

router = web_router()
Banks = Annotated[BankService, served(BankService)]


# ================================================================================================
# Banks (a column of lockers on one controller board: port + address)
# ================================================================================================
class BankIn(Body):
    model_config = examples({"name": "LOCKER-B", "port": "COM2", "address": 2})

    name: BankName = Field(description="Lockers added without an identity are `{name}-{bay:02d}`.")
    port: PortName = Field(description="A serial port name as the bridge knows it (COM2, …).")
    address: BoardAddress
    bankTypeId: RefId | None = None
    deviceId: RefId | None = None
    locationId: RefId | None = None


class BankPatch(Body):
    model_config = examples({"locationId": 1}, {"port": "COM3"})

    name: Omittable[BankName] = None
    port: Omittable[PortName] = None
    address: Omittable[BoardAddress] = None
    bankTypeId: RefId | None = None
    deviceId: RefId | None = None
    locationId: RefId | None = None


class BankOut(BaseModel):
    id: int
    name: str
    port: str
    address: int
    bankTypeId: int | None
    deviceId: int | None
    locationId: int | None
    lockers: int = Field(description="How many lockers it has.")
    portKnown: bool = Field(description="Whether the bridge in this process has its port.")


BANK_NOT_FOUND = {404: "`BankNotFound`"}
REFS = "`BankTypeNotFound`, `DeviceNotFound`, `LocationNotFound` (ids in the body)"


@router.get("/api/admin/banks", tags=["lockers"], summary="List banks", response_model=Paged[BankOut],
            responses=declare({}))
async def list_banks(_: Reader, banks: Banks, page: Paging, q: Search = None,
                     port: Annotated[str | None, Query(max_length=32, pattern=PRINTABLE)] = None) -> dict[str, Any]:
    return await banks.page(page, q, port)


@router.post("/api/admin/banks", tags=["lockers"], status_code=201, summary="Add a bank", response_model=BankOut,
             responses=declare({404: REFS, 409: "`BankExists` (port + address); `BankNameTaken`"}))
async def add_bank(body: BankIn, caller: Operator, banks: Banks) -> dict[str, Any]:
    return await banks.get(await banks.add(caller, body.model_dump()))


@router.get("/api/admin/banks/{bankId}", tags=["lockers"], summary="Get a bank", response_model=BankOut,
            responses=declare(BANK_NOT_FOUND))
async def get_bank(_: Reader, banks: Banks, bank_id: BankId) -> dict[str, Any]:
    return await banks.get(bank_id)


@router.patch("/api/admin/banks/{bankId}", tags=["lockers"], summary="Edit a bank", response_model=BankOut,
              responses=declare({404: "`BankNotFound`; " + REFS,
                                 409: "`BankExists`; `BankNameTaken`; `BankDriven`: the bridge drives its "
                                      "lockers at the old board; `BayDrivenByBridge`"}))
async def update_bank(body: BankPatch, caller: Operator, banks: Banks, bank_id: BankId) -> dict[str, Any]:
    """Moving a bank (port, address) is refused while the bridge drives its lockers where they
    were; moved to a port the bridge has, its lockers are driven there at once."""
    await banks.update(caller, bank_id, body.model_dump(exclude_unset=True))
    return await banks.get(bank_id)


@router.delete("/api/admin/banks/{bankId}", tags=["lockers"], status_code=204, summary="Delete a bank",
               responses=declare({**BANK_NOT_FOUND, 409: "`BankInUse`: it has lockers"}))
async def delete_bank(caller: Operator, banks: Banks, bank_id: BankId) -> None:
    await banks.delete(caller, bank_id)
