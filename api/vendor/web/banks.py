"""Banks: a column of lockers on one controller board (port + address) (seed 000)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api.crud import (
    free,
    insert,
    log,
    one,
    page_of,
    remove,
    row_or_404,
    unreferenced,
    write,
)
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import sites
from api.vendor.web.bays import _bridge
from api.vendor.web.conventions import (
    BANK,
    BANK_TYPE,
    BANKS,
    DEVICE,
    LOCATION,
    LOCKERS,
    NOT_FOUND,
    PRINTABLE,
    BankName,
    BoardAddress,
    Body,
    Engine,
    Operator,
    Paging,
    PortName,
    Reader,
    RefId,
    Search,
    examples,
)
from api.vendor.web.devices import BankId
from api.vendor.web.lockers import _bridge_conflict, _drive

router = APIRouter(route_class=GuardedRoute)


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

    name: BankName = Field(None)
    port: PortName = Field(None)
    address: BoardAddress = Field(None)
    bankTypeId: RefId | None = None
    deviceId: RefId | None = None
    locationId: RefId | None = None


def _bank_shape(request: Request) -> Any:
    bridge = _bridge(request)

    def shape(row: Any) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, "port": row.port, "address": row.address,
                "bankTypeId": row.bank_type_id, "deviceId": row.device_id,
                "locationId": row.location_id, "lockers": row.lockers,
                "portKnown": bridge is not None and row.port in bridge.buses}

    return shape


def _bank_query() -> Select[Any]:
    count = (select(func.count()).where(LOCKERS.c.bank_id == BANKS.c.id)
             .correlate(BANKS).scalar_subquery())
    return select(BANKS, count.label("lockers"))


async def _bank_refs(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await row_or_404(conn, BANK_TYPE, values.get("bankTypeId"))
    await row_or_404(conn, DEVICE, values.get("deviceId"))
    await row_or_404(conn, LOCATION, values.get("locationId"))


async def _board_taken(conn: AsyncConnection, port: str, address: int, except_id: int | None) -> None:
    query = select(BANKS.c.name).where(BANKS.c.port == port, BANKS.c.address == address)
    if except_id is not None:
        query = query.where(BANKS.c.id != except_id)
    found = (await conn.execute(query)).first()
    if found is not None:
        raise ApiError(409, "BankExists", f"bank {found.name!r} is {port} board {address}")


def _bank_exists() -> ApiError:
    """A bank the database found duplicate: its name or its board (port + address)."""
    return ApiError(409, "BankExists", "the bank exists")


@router.get("/api/admin/banks", tags=["lockers"], summary="List banks")
async def list_banks(request: Request, _: Reader, eng: Engine, page: Paging, q: Search = None,
                     port: Annotated[str | None, Query(max_length=32, pattern=PRINTABLE)] = None) -> dict[str, Any]:
    return await page_of(eng, page, _bank_query().order_by(BANKS.c.name), q,
                         [BANKS.c.name, BANKS.c.port], _bank_shape(request), where=[(BANKS.c.port, port)])


@router.post("/api/admin/banks", tags=["lockers"], status_code=201, summary="Add a bank",
             responses={**NOT_FOUND, 409: {"description": "`BankExists` (port + address); `BankNameTaken`"}})
async def add_bank(request: Request, body: BankIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        await _bank_refs(conn, body.model_dump())
        await free(conn, BANK, body.name)
        await _board_taken(conn, body.port, body.address, None)
        return await insert(conn, caller, BANK, body.model_dump(), device_id=body.deviceId,
                            **body.model_dump())

    return await get_bank(request, caller, eng, await write(eng, work, _bank_exists()))


@router.get("/api/admin/banks/{bankId}", tags=["lockers"], summary="Get a bank", responses=NOT_FOUND)
async def get_bank(request: Request, _: Reader, eng: Engine, bank_id: BankId) -> dict[str, Any]:
    return await one(eng, BANK, bank_id, _bank_query(), _bank_shape(request))


@router.patch("/api/admin/banks/{bankId}", tags=["lockers"], summary="Edit a bank",
              responses={**NOT_FOUND, 409: {"description": "`BankExists`; `BankNameTaken`; `BankDriven`: "
                                                          "the bridge drives its lockers at the old board; "
                                                          "`BayDrivenByBridge`"}})
async def update_bank(request: Request, body: BankPatch, caller: Operator, eng: Engine,
                      bank_id: BankId) -> dict[str, Any]:
    """Moving a bank (port, address) is refused while the bridge drives its lockers where they
    were; moved to a port the bridge has, its lockers are driven there at once."""
    values = body.model_dump(exclude_unset=True)
    bridge = _bridge(request)

    async def work(conn: AsyncConnection) -> tuple[tuple[str, str, int] | None, list[Any]]:
        bank = await row_or_404(conn, BANK, bank_id)
        await _bank_refs(conn, values)
        if "name" in values:
            await free(conn, BANK, values["name"], bank_id)
        port, address = values.get("port", bank.port), values.get("address", bank.address)
        lockers = (await conn.execute(select(LOCKERS.c.identity, LOCKERS.c.bay).where(
            LOCKERS.c.bank_id == bank_id))).all()
        moved = (port, address) != (bank.port, bank.address)
        if moved:
            await _board_taken(conn, port, address, bank_id)
            if bridge is not None and any(row.identity in bridge.cps for row in lockers):
                raise ApiError(409, "BankDriven", f"the bridge drives bank {bank.name!r} at "
                               f"{bank.port} board {bank.address}; it cannot move while it runs")
            for row in lockers:
                conflict = _bridge_conflict(request, row.identity, port, address, row.bay)
                if conflict is not None:
                    raise conflict
        if values:
            await conn.execute(update(BANKS).where(BANKS.c.id == bank_id).values(BANK.columns(values)))
            await log(conn, caller, BANK, "edit", bank_id, device_id=values.get("deviceId"), **values)
        return ((values.get("name", bank.name), port, address) if moved else None), lockers

    board, lockers = await write(eng, work, _bank_exists())
    if board is not None:
        for row in lockers:
            _drive(request, row.identity, *board, row.bay)
    if "name" in values:  # the bridge's cabins are listed by locker name
        sites(request).rename_bank([row.identity for row in lockers], values["name"])
    return await get_bank(request, caller, eng, bank_id)


@router.delete("/api/admin/banks/{bankId}", tags=["lockers"], status_code=204, summary="Delete a bank",
               responses={**NOT_FOUND, 409: {"description": "`BankInUse`: it has lockers"}})
async def delete_bank(caller: Operator, eng: Engine, bank_id: BankId) -> None:
    await remove(eng, caller, BANK, bank_id, also=unreferenced(
        LOCKERS.c.bank_id, "BankInUse",
        lambda bank, count: f"bank {bank.name!r} has {count} locker(s); delete them first"))


