"""Lockers: their list with live state, configuration, service state, and opening them."""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import Depends, Query
from fastapi.responses import JSONResponse

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import (
    CHANGE,
    NOT_FOUND_LOCKER,
    OPEN,
    OPEN_ERRORS,
    READ,
    IdQuery,
    LockerIdPath,
    LockersService,
    Page,
    PageSize,
    _error,
    gateway_router,
)
from api.vendor.gateway.schemas import (
    LockerConfig,
    LockerDetails,
    LockerList,
    LockerOperationResponse,
    LockerServiceUpdate,
    MultiStatusOperationResponse,
    OpenAllLockersResponse,
    OperationResponse,
)
from api.vendor.gateway.shaping import answer_open, config_json, locker_json, log_entry, open_json

router = gateway_router()

# the PATCH body's fields, as the service names them
SERVICE_FIELDS = {"outOfService": "out_of_service", "reasonCode": "reason_code", "reason": "reason",
                  "brokenLock": "broken_lock"}


# -- lockers -------------------------------------------------------------------------------------
@router.get("/lockers", summary="List all lockers, with live state and active transaction",
             response_model=LockerList)
async def list_lockers(*, service: LockersService, page: Page = 1, pageSize: PageSize = 100,
                       bankId: IdQuery = None, lockerTypeId: IdQuery = None, deviceId: IdQuery = None,
                       outOfService: bool | None = None, brokenLock: bool | None = None,
                       available: Annotated[bool | None, Query(description="Could take a new transaction now.")] = None,
                       caller: Annotated[Caller, Depends(READ)]) -> LockerList:
    views, total = await service.find(caller, page=page, page_size=pageSize, bank_id=bankId,
                                      locker_type_id=lockerTypeId, device_id=deviceId,
                                      broken_lock=brokenLock, out_of_service=outOfService,
                                      available=available)
    return LockerList(items=[locker_json(v) for v in views], total=total, page=page, pageSize=pageSize)


@router.post("/lockers/open-all", summary="Open all lockers (one result per locker)",
              response_model=OpenAllLockersResponse,
              responses={207: {"model": MultiStatusOperationResponse,
                               "description": "Multi-status: at least one locker did not open; each "
                                              "result has its own `success` and `code`. The body is "
                                              "the 200 one (an OpenAllLockersResponse, with "
                                              "`skipped`)"}})
async def open_all(*, service: LockersService, bankId: IdQuery = None, deviceId: IdQuery = None,
                   caller: Annotated[Caller, Depends(OPEN)]) -> JSONResponse:
    """One after the other, not all at once: every lock fired together would load the supply."""
    done = await service.open_all(caller, bank_id=bankId, device_id=deviceId)
    results = [open_json(r) for r in done.results]
    body = OpenAllLockersResponse(success=done.succeeded == len(results), total=len(results),
                                  succeeded=done.succeeded, failed=len(results) - done.succeeded,
                                  results=results, skipped=done.skipped)
    return JSONResponse(body.model_dump(), status_code=200 if body.success else 207)


@router.get("/lockers/{lockerId}/config", summary="Get locker configuration (board, bank, bay, type, codes)",
             response_model=LockerConfig, responses=NOT_FOUND_LOCKER)
async def locker_config(lockerId: LockerIdPath, service: LockersService,
                        caller: Annotated[Caller, Depends(READ)]) -> LockerConfig:
    return config_json(*await service.config(lockerId, caller))


@router.get("/lockers/{lockerId}", summary="Get locker details (live state, active transaction, "
              "recent audit entries)", response_model=LockerDetails, responses=NOT_FOUND_LOCKER)
async def get_locker(lockerId: LockerIdPath, service: LockersService,
                     caller: Annotated[Caller, Depends(READ)]) -> LockerDetails:
    view, events = await service.details(lockerId, caller)
    return LockerDetails(**locker_json(view).model_dump(), events=[log_entry(e) for e in events])


@router.patch("/lockers/{lockerId}", summary="Update locker service state",
               response_model=OperationResponse, response_model_exclude_none=True,
               responses={400: _error("`ValidationError` (bad body), `NothingToUpdate` (empty body)"),
                          404: _error("`LockerNotFound`"),
                          409: _error("`LockerTypeAlwaysOutOfService`: its type is always out of "
                                      "service, so it cannot be returned to service")})
async def update_locker(lockerId: LockerIdPath, body: LockerServiceUpdate, service: LockersService,
                        caller: Annotated[Caller, Depends(CHANGE)]) -> OperationResponse:
    """Out of service: no new transactions (existing ones stay). Back in service: reasonCode and
    reason are cleared unless given. brokenLock: door sensor failures on open count as success."""
    given = {SERVICE_FIELDS[name]: getattr(body, name) for name in SERVICE_FIELDS
             if name in body.model_fields_set}
    await service.set_service_state(lockerId, caller, given)
    return OperationResponse(success=True)


@router.patch("/lockers/", summary="Update locker service state: the locker's id is missing",
               status_code=400, response_model=None,  # it only ever refuses: no 200 to document
               responses={400: _error("`LockerIdRequired`: the path is `PATCH /lockers/{lockerId}` (the "
                                      "vendor's own sample request leaves the id out)")})
async def update_locker_without_id(caller: Annotated[Caller, Depends(CHANGE)]) -> NoReturn:
    """The vendor's sample request, as written: a clear 400 rather than a redirect (307) to a path
    that has no PATCH (issue #20)."""
    raise ApiError(400, "LockerIdRequired", "name the locker: PATCH /lockers/{lockerId}, e.g. /lockers/12")


@router.post("/lockers/{lockerId}/open", summary="Open locker by ID (through the bridge, read back)",
              response_model=LockerOperationResponse, responses={**NOT_FOUND_LOCKER, **OPEN_ERRORS})
async def open_locker(lockerId: LockerIdPath, service: LockersService,
                      caller: Annotated[Caller, Depends(OPEN)]) -> LockerOperationResponse:
    return answer_open(await service.open(lockerId, caller))
