"""Lockers: their list with live state, configuration, service state, and opening them."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import (
    AUDIT,
    CHANGE,
    DEVICES,
    LOCKERS,
    NOT_FOUND_LOCKER,
    OPEN,
    OPEN_ERRORS,
    READ,
    IdQuery,
    LockerIdPath,
    Page,
    PageSize,
    _error,
    engine_of,
    gateway_router,
)
from api.vendor.gateway.schemas import (
    LOCKER_EVENTS,
    LockController,
    LockerCodes,
    LockerConfig,
    LockerDetails,
    LockerList,
    LockerOperationResponse,
    LockerServiceUpdate,
    LogEntry,
    MultiStatusOperationResponse,
    OpenAllLockersResponse,
    OperationResponse,
)
from api.vendor.gateway.shaping import _answer_open, _locker, _locker_json, _locker_query, _open, _type_summary
from api.vendor.sites import actor, locker_or_404, scoped, sites
from csms.timeutil import iso
from lockers.audit import audit

router = gateway_router()

# -- lockers -------------------------------------------------------------------------------------
@router.get("/lockers", summary="List all lockers, with live state and active transaction",
             response_model=LockerList)
async def list_lockers(*, request: Request, page: Page = 1, pageSize: PageSize = 100,
                       bankId: IdQuery = None, lockerTypeId: IdQuery = None, deviceId: IdQuery = None,
                       outOfService: bool | None = None, brokenLock: bool | None = None,
                       available: Annotated[bool | None, Query(description="Could take a new transaction now.")] = None,
                       caller: Annotated[Caller, Depends(READ)]) -> LockerList:
    query = scoped(_locker_query(), caller)
    if bankId is not None:
        query = query.where(LOCKERS.c.bank_id == bankId)
    if lockerTypeId is not None:
        query = query.where(LOCKERS.c.locker_type_id == lockerTypeId)
    if deviceId is not None:
        query = query.where(LOCKERS.c.device_id == deviceId)
    if brokenLock is not None:
        query = query.where(LOCKERS.c.broken_lock.is_(brokenLock))
    async with engine_of(request).connect() as conn:
        rows = (await conn.execute(query)).all()
    service = sites(request)
    # outOfService and available depend on the type and the bridge's live view: filtered here
    lockers = [_locker_json(r, service.live(r.identity)) for r in rows]
    lockers = [x for x in lockers if (outOfService is None or x.outOfService == outOfService)
               and (available is None or x.available == available)]
    start = (page - 1) * pageSize
    return LockerList(items=lockers[start:start + pageSize], total=len(lockers), page=page,
                      pageSize=pageSize)


@router.post("/lockers/open-all", summary="Open all lockers (one result per locker)",
              response_model=OpenAllLockersResponse,
              responses={207: {"model": MultiStatusOperationResponse,
                               "description": "Multi-status: at least one locker did not open; each "
                                              "result has its own `success` and `code`. The body is "
                                              "the 200 one (an OpenAllLockersResponse, with "
                                              "`skipped`)"}})
async def open_all(*, request: Request, bankId: IdQuery = None, deviceId: IdQuery = None,
                   caller: Annotated[Caller, Depends(OPEN)]) -> JSONResponse:
    """One after the other, not all at once: every lock fired together would load the supply."""
    query = scoped(_locker_query(), caller)
    if bankId is not None:
        query = query.where(LOCKERS.c.bank_id == bankId)
    if deviceId is not None:
        query = query.where(LOCKERS.c.device_id == deviceId)
    async with engine_of(request).connect() as conn:
        rows = (await conn.execute(query)).all()
    service, who = sites(request), actor(caller)
    results: list[LockerOperationResponse] = []
    skipped: list[int] = []
    for row in rows:
        if row.always_oos:
            skipped.append(row.id)
            continue
        results.append((await _open(service, row, who))[1])
    succeeded = sum(r.success for r in results)
    body = OpenAllLockersResponse(success=succeeded == len(results), total=len(results),
                                  succeeded=succeeded, failed=len(results) - succeeded,
                                  results=results, skipped=skipped)
    async with engine_of(request).begin() as conn:
        await audit(conn, who, "locker.open_all", bankId=bankId, deviceId=deviceId, total=body.total,
                    succeeded=body.succeeded, failed=[r.lockerId for r in results if not r.success],
                    skipped=skipped)
    return JSONResponse(body.model_dump(), status_code=200 if body.success else 207)


@router.get("/lockers/{lockerId}/config", summary="Get locker configuration (board, bank, bay, type, codes)",
             response_model=LockerConfig, responses=NOT_FOUND_LOCKER)
async def locker_config(lockerId: LockerIdPath, request: Request,
                        caller: Annotated[Caller, Depends(READ)]) -> LockerConfig:
    async with engine_of(request).connect() as conn:
        row = await _locker(conn, lockerId, caller)
        device = None
        if row.device_id is not None:
            device = (await conn.execute(select(DEVICES.c.code).where(
                DEVICES.c.id == row.device_id))).scalar_one_or_none()
    live = sites(request).live(row.identity)
    codes = None if live is None else LockerCodes(
        openCode=live["open_code"], statusCode=live["status_code"],
        startChargingCode=live["start_charging_code"], stopChargingCode=live["stop_charging_code"],
        chargingStatusCode=live["charging_status_code"])
    return LockerConfig(lockerId=row.id, identity=row.identity, bankId=row.bank_id, bank=row.bank_name,
                        bankTypeId=row.bank_type_id, comPort=row.port, address=row.address, bay=row.bay,
                        lockerType=_type_summary(row), deviceId=row.device_id, deviceCode=device,
                        driven=live is not None, codes=codes,
                        lockController=LockController(
                            comPort=row.port, address=row.address, bay=row.bay, driven=live is not None,
                            online=None if live is None else live["vendorErrorCode"] != "BOARD_SILENT"))


def _details(stored: str | None) -> dict[str, Any]:
    """Our writers store a JSON object; anything else is shown, not allowed to fail the read."""
    try:
        value = json.loads(stored or "{}")
    except ValueError:
        return {"raw": stored}
    return value if isinstance(value, dict) else {"value": value}


def _log_entry(row: Any) -> LogEntry:
    return LogEntry(id=row.id, at=iso(row.at) or "", actor=row.actor, action=row.action,
                    lockerId=row.locker_id, deviceId=row.device_id, details=_details(row.details))


async def _events(conn: AsyncConnection, locker_id: int, caller: Caller) -> list[LogEntry]:
    """The locker's latest audit entries. A kiosk sees none of another device's: a locker moved
    to it keeps its history, which is not the kiosk's to read."""
    query = select(AUDIT).where(AUDIT.c.locker_id == locker_id)
    if caller.role == "kiosk":
        query = query.where(AUDIT.c.device_id.is_(None) | (AUDIT.c.device_id == caller.device_id))
    rows = await conn.execute(query.order_by(AUDIT.c.id.desc()).limit(LOCKER_EVENTS))
    return [_log_entry(r) for r in rows]


@router.get("/lockers/{lockerId}", summary="Get locker details (live state, active transaction, "
              "recent audit entries)", response_model=LockerDetails, responses=NOT_FOUND_LOCKER)
async def get_locker(lockerId: LockerIdPath, request: Request,
                     caller: Annotated[Caller, Depends(READ)]) -> LockerDetails:
    async with engine_of(request).connect() as conn:
        row = await _locker(conn, lockerId, caller)
        events = await _events(conn, lockerId, caller)
    return LockerDetails(**_locker_json(row, sites(request).live(row.identity)).model_dump(), events=events)


@router.patch("/lockers/{lockerId}", summary="Update locker service state",
               response_model=OperationResponse, response_model_exclude_none=True,
               responses={400: _error("`ValidationError` (bad body), `NothingToUpdate` (empty body)"),
                          404: _error("`LockerNotFound`"),
                          409: _error("`LockerTypeAlwaysOutOfService`: its type is always out of "
                                      "service, so it cannot be returned to service")})
async def update_locker(lockerId: LockerIdPath, body: LockerServiceUpdate, request: Request,
                        caller: Annotated[Caller, Depends(CHANGE)]) -> OperationResponse:
    """Out of service: no new transactions (existing ones stay). Back in service: reasonCode and
    reason are cleared unless given. brokenLock: door sensor failures on open count as success."""
    given = body.model_fields_set
    if not given:
        raise ApiError(400, "NothingToUpdate", "give at least one of outOfService, reasonCode, reason, "
                       "brokenLock")
    async with engine_of(request).begin() as conn:
        row = await _locker(conn, lockerId, caller)
        values: dict[str, Any] = {}
        if "outOfService" in given:
            if not body.outOfService and row.always_oos:
                raise ApiError(409, "LockerTypeAlwaysOutOfService",
                               f"locker {lockerId} is of type {row.type_name!r}, which is always out "
                               "of service")
            values["out_of_service"] = body.outOfService
            if not body.outOfService:
                values.update(reason_code=None, reason=None)
        if "reasonCode" in given:
            values["reason_code"] = body.reasonCode
        if "reason" in given:
            values["reason"] = body.reason
        if "brokenLock" in given:
            values["broken_lock"] = body.brokenLock
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == lockerId).values(**values))
        before = {"out_of_service": row.out_of_service, "reason_code": row.reason_code,
                  "reason": row.reason, "broken_lock": row.broken_lock}
        await audit(conn, actor(caller), "locker.service", locker_id=lockerId, device_id=row.device_id,
                    changes={k: [before[k], v] for k, v in values.items() if before[k] != v})
    if "out_of_service" in values and values["out_of_service"] != row.out_of_service:
        await sites(request).set_out_of_service(row.identity, values["out_of_service"])
    return OperationResponse(success=True)


@router.post("/lockers/{lockerId}/open", summary="Open locker by ID (through the bridge, read back)",
              response_model=LockerOperationResponse, responses={**NOT_FOUND_LOCKER, **OPEN_ERRORS})
async def open_locker(lockerId: LockerIdPath, request: Request,
                      caller: Annotated[Caller, Depends(OPEN)]) -> LockerOperationResponse:
    async with engine_of(request).connect() as conn:
        row = await locker_or_404(conn, lockerId, caller)
    return _answer_open(*await _open(sites(request), row, actor(caller)))


