"""Lockers in the back office: a kiosk's own, the maintenance list, adding, retyping and
deleting them, driven by the bridge at once (seed 000)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api.crud import (
    free,
    insert,
    log,
    page_of,
    remove,
    row_or_404,
    write,
)
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import scoped, sites
from api.vendor.web.bays import OUT_OF_SERVICE, _bridge, _locker, _locker_query, _locker_shape
from api.vendor.web.conventions import (
    BANK,
    BANKS,
    DEVICE,
    IDENT,
    LOCKER,
    LOCKER_TYPE,
    LOCKERS,
    NOT_FOUND,
    BayNumber,
    Body,
    Code,
    Engine,
    FilterId,
    LockerReader,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    examples,
)
from api.vendor.web.devices import RENTALS, LockerId
from csms.timeutil import now_utc
from lockers.bays import Position


class LockerIn(Body):
    model_config = examples({"bankId": 1, "bay": 5, "lockerTypeId": 1},
                            {"bankId": 1, "bay": 6, "identity": "LOCKER-A-SCREEN", "deviceId": 1})

    bankId: RefId
    bay: BayNumber
    lockerTypeId: RefId | None = None
    identity: Code = Field(None, description="Its charge point id; default `{bank}-{bay:02d}`.")
    deviceId: RefId | None = Field(None, description="Default: the bank's device.")


class LockerPatch(Body):
    model_config = examples({"lockerTypeId": 1})

    lockerTypeId: RefId | None = None


def _bridge_conflict(request: Request, identity: str, port: str, address: int,
                     bay: int) -> ApiError | None:
    """The bridge cannot drive this locker as entered: the identity drives another bay, or the
    bay is driven under another identity (a locker deleted here keeps its bay until a restart)."""
    conflict = sites(request).bay_conflict(identity, Position(port, address, bay))
    return None if conflict is None else ApiError(409, *conflict)


def _drive(request: Request, identity: str, bank: str, port: str, address: int, bay: int) -> str | None:
    """Have the bridge drive the locker; None when it does, else why not (for the answer)."""
    service = sites(request)
    if service.drive(identity, bank, port, address, bay):
        return None
    if service.bridge is None:
        return "no locker bridge runs here: the locker is recorded, nothing can open it yet"
    return (f"the bridge has no port {port!r}: the locker is recorded, but nothing can open it "
            "until the bridge is configured with that port")


router = APIRouter(route_class=GuardedRoute)


@router.get("/api/admin/lockers", tags=["lockers"], summary="Locker list (a kiosk: its device's lockers)")
async def list_lockers(request: Request, caller: LockerReader, eng: Engine, page: Paging,
                       q: Search = None, bankId: FilterId = None, deviceId: FilterId = None,
                       lockerTypeId: FilterId = None, outOfService: bool | None = None) -> dict[str, Any]:
    return await page_of(eng, page, scoped(_locker_query(), caller).order_by(BANKS.c.name, LOCKERS.c.bay),
                         q, [LOCKERS.c.identity, BANKS.c.name], _locker_shape(request),
                         where=[(LOCKERS.c.bank_id, bankId), (LOCKERS.c.device_id, deviceId),
                                (LOCKERS.c.locker_type_id, lockerTypeId),
                                (OUT_OF_SERVICE, outOfService)])


@router.get("/api/admin/lockers/maintenance", tags=["lockers"],
            summary="Maintenance list: lockers out of service or with a broken lock")
async def maintenance_list(request: Request, _: Reader, eng: Engine, page: Paging,
                           q: Search = None) -> dict[str, Any]:
    query = (_locker_query().where(or_(OUT_OF_SERVICE, LOCKERS.c.broken_lock.is_(True)))
             .order_by(BANKS.c.name, LOCKERS.c.bay))
    return await page_of(eng, page, query, q, [LOCKERS.c.identity, BANKS.c.name, LOCKERS.c.reason,
                                               LOCKERS.c.reason_code], _locker_shape(request))


@router.post("/api/admin/lockers", tags=["lockers"], status_code=201,
             summary="Add a locker (a bay of a bank); the bridge drives it at once",
             responses={**NOT_FOUND,
                        409: {"description": "`BayTaken`; `LockerExists` (identity); "
                                             "`IdentityDrivenElsewhere`, `BayDrivenByBridge`"},
                        422: {"description": "`ValidationError`; `IdentityRequired`: the bank's name "
                                             "makes no valid default identity"}})
async def add_locker(request: Request, body: LockerIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    """``driven`` says whether the bridge drives it; if not, ``message`` says why."""

    async def work(conn: AsyncConnection) -> tuple[int, Any, str]:
        bank = await row_or_404(conn, BANK, body.bankId)
        await row_or_404(conn, LOCKER_TYPE, body.lockerTypeId)
        await row_or_404(conn, DEVICE, body.deviceId)
        identity = body.identity or f"{bank.name}-{body.bay:02d}"
        if len(identity) > 48 or not re.fullmatch(IDENT[1:-1], identity):
            raise ApiError(422, "IdentityRequired", f"{identity!r} is no valid identity: give one")
        if (await conn.execute(select(LOCKERS.c.identity).where(
                LOCKERS.c.bank_id == bank.id, LOCKERS.c.bay == body.bay))).first() is not None:
            raise ApiError(409, "BayTaken", f"bank {bank.name!r} bay {body.bay} is a locker already")
        await free(conn, LOCKER, identity)
        conflict = _bridge_conflict(request, identity, bank.port, bank.address, body.bay)
        if conflict is not None:
            raise conflict
        device_id = body.deviceId or bank.device_id
        values = {"identity": identity, "bankId": bank.id, "bay": body.bay,
                  "lockerTypeId": body.lockerTypeId, "deviceId": device_id, "created_at": now_utc()}
        locker_id = await insert(conn, caller, LOCKER, values, device_id=device_id, identity=identity,
                                 bank=bank.name, bay=body.bay, lockerTypeId=body.lockerTypeId)
        return locker_id, bank, identity

    locker_id, bank, identity = await write(eng, work, LOCKER.conflict())
    why = _drive(request, identity, bank.name, bank.port, bank.address, body.bay)
    out = await _locker(request, eng, caller, locker_id)
    return {**out, "message": why or f"the bridge drives {identity}"}


@router.get("/api/admin/lockers/{lockerId}", tags=["lockers"],
            summary="Get a locker, with the bridge's live view when it drives it", responses=NOT_FOUND)
async def get_locker(request: Request, caller: LockerReader, eng: Engine,
                     locker_id: LockerId) -> dict[str, Any]:
    out = await _locker(request, eng, caller, locker_id)
    return {**out, "live": sites(request).live(out["identity"])}


@router.patch("/api/admin/lockers/{lockerId}", tags=["lockers"], summary="Change a locker's type",
              responses=NOT_FOUND)
async def update_locker(request: Request, body: LockerPatch, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    """Service state (out of service, broken lock) is the locker gateway's `PATCH /lockers/{id}`."""
    values = body.model_dump(exclude_unset=True)
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        if "lockerTypeId" in values:
            await row_or_404(conn, LOCKER_TYPE, body.lockerTypeId)
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
                locker_type_id=body.lockerTypeId))
            await log(conn, caller, LOCKER, "edit", locker_id, device_id=locker.device_id, **values)
    if "lockerTypeId" in values:  # a type that is always out of service: maintenance at the bay
        await sites(request).apply_service_state(locker.identity)
    return await _locker(request, eng, caller, locker_id)


@router.delete("/api/admin/lockers/{lockerId}", tags=["lockers"], summary="Delete a locker",
               responses={**NOT_FOUND, 409: {"description": "`LockerInUse`: a rental holds it"}})
async def delete_locker(request: Request, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    """The bridge has no way to let go of a bay while it runs: it keeps driving a deleted locker
    until it restarts, and a bay from its YAML comes back then (``stillDriven`` says so)."""
    async def not_rented(conn: AsyncConnection, _: Any) -> None:
        rental = (await conn.execute(select(RENTALS.c.id).where(
            RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None)))).first()
        if rental is not None:
            raise ApiError(409, "LockerInUse", f"rental {rental.id} holds locker {locker_id}; "
                                               "release it first")

    locker = await remove(eng, caller, LOCKER, locker_id, also=not_rented,
                          details=lambda row: {"device_id": row.device_id, "identity": row.identity})
    bridge = _bridge(request)
    driven = bridge is not None and locker.identity in bridge.cps
    return {"id": locker_id, "identity": locker.identity, "deleted": True, "stillDriven": driven,
            "message": ("the bridge drives this bay until it restarts (a bay from its "
                        "configuration file comes back then)") if driven else "deleted"}


