"""The locker gateway of seed 004 ("Harbor Gateway"): rentals (the doc's "transactions"), lockers and
their service state, locker and bank types, device heartbeats.

The doc's paths (at the root of the app) and camelCase shapes, on the one locker domain model.
Why the rules are what they are:

* An out-of-service locker takes no new transaction but keeps its existing ones, and may still be
  opened for them: a user's belongings must stay reachable while the locker awaits repair.
* Every open goes through :meth:`SiteService.open` (the bridge's bus queue, a read-back, the audit
  log); ``brokenLock`` turns a door sensor that still reads "closed" into a success that says so
  (``sensorIgnored``), the doc's GPIO-expander workaround.
* A bad path, query or body is 400 (the doc's status, not FastAPI's 422), code ``ValidationError``;
  every 4xx carries a stable ``code``.
* A kiosk token sees only its own device's lockers and their transactions (others are 404), and
  of a locker's audit entries only those of no device or its own (not a previous owner's).
* ``GET /admin``, the doc's admin interface, is the operator dashboard: a redirect to its locker
  page, which asks for a login. It is tagged with ``/health`` and is not one of the gateway's API
  calls (no token, none of their error answers).

Extensions to the doc: ``POST /locker-types`` and ``POST /bank-types`` (admin), so that types can
be set up; list endpoints share one page envelope (``items``, ``total``, ``page``, ``pageSize``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator
from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.auth import Caller, require
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.web.lockers import ONLINE_WINDOW
from api.vendor.sites import actor, locker_or_404, scoped, sites
from api.ui.routes import PAGES
from csms.timeutil import iso
from lockers.models import (
    AuditEntry,
    Bank,
    BankType as BankTypeRow,
    BankTypeLockerType,
    Device,
    Locker as LockerRow,
    LockerType as LockerTypeRow,
    Rental,
    User,
)
from lockers.audit import audit, now_utc
from lockers.bays import OpenResult
from lockers.service import SiteService

LOCKERS = LockerRow.__table__
BANKS = Bank.__table__
TYPES = LockerTypeRow.__table__
BANK_TYPES = BankTypeRow.__table__
ASSOCIATIONS = BankTypeLockerType.__table__
RENTALS = Rental.__table__
DEVICES = Device.__table__
USERS = User.__table__
AUDIT = AuditEntry.__table__
ACTIVE = RENTALS.alias("active_rental")

MAX_ID = 2**63 - 1  # a BIGINT: larger ids cannot exist, and would overflow the driver
HEARTBEAT_MAX_BYTES = 16_384
NOT_OPERATIONAL = ("Faulted", "Unavailable")  # bridge statuses under which a locker is not rented
LOCKER_EVENTS = 20  # audit entries in a locker's details: enough to see what just happened
DASHBOARD_LOCKERS = next(page.path for page in PAGES if page.key == "lockers")


class GatewayRoute(GuardedRoute):
    """Answers a request that fails validation with 400, the doc's status for a bad request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                fields = [{"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]}
                          for e in exc.errors()]
                return JSONResponse({"code": "ValidationError", "message": "the request is not valid",
                                     "fields": fields}, status_code=400)

        return route


# -- schemas (the doc's names) ------------------------------------------------------------------
class Error(BaseModel):
    """Every 4xx/5xx body: a stable ``code``, a message for a person, sometimes more fields."""

    code: str
    message: str

    model_config = ConfigDict(extra="allow")


class OperationResponse(BaseModel):
    success: bool
    message: str | None = None


class System(OperationResponse):
    """The answer to a heartbeat: what was recorded, and our clock, so a device can see its drift."""

    serverTime: str = Field(description="Our clock when the heartbeat was recorded (ISO 8601, UTC).")
    deviceId: str = Field(description="The device's code, as in the request.")
    onlineWindowSeconds: int = Field(description="A device counts as online while its last heartbeat "
                                                 "is at most this old: beat well within it.")


class LockerTypeSummary(BaseModel):
    id: int
    name: str
    size: str
    hasCharging: bool
    alwaysOos: bool = Field(description="Never rented and never returned to service (a screen, say).")


class LockerType(LockerTypeSummary):
    description: str | None
    lockers: int = Field(description="Lockers of this type (that the caller can see).")
    available: int = Field(description="Of those, how many a new transaction could take now.")


class TransactionResponse(BaseModel):
    id: int
    lockerId: int
    lockerIdentity: str
    userId: int | None
    reference: str | None = Field(description="The caller's own id for this rental.")
    active: bool
    createdAt: str
    releasedAt: str | None


class LockerState(BaseModel):
    """What the locker bridge sees now (the board is the truth)."""

    status: str = Field(description="The bay's OCPP status (Available, Preparing, Charging, Faulted…).")
    errorCode: str | None
    faultInfo: str | None
    connected: bool
    door: Literal["open", "closed"] | None
    item: Literal["occupied", "empty"] | None
    charging: str | None = Field(description="The outlet: off, charging, idle or fault (None: not read yet).")
    powerW: float | None
    energyWh: float | None
    chargingTransactionId: int | None = Field(description="The bay's OCPP charging transaction, if any.")


class LogEntry(BaseModel):
    """One audit-log entry: who did what, when, to which locker or device."""

    id: int
    at: str
    actor: str = Field(description="A token's name, a user, a device, or `board` for a door event.")
    action: str = Field(description="e.g. locker.open, locker.service, door.opened, transaction.create.")
    lockerId: int | None
    deviceId: int | None
    details: dict[str, Any]


class Locker(BaseModel):
    id: int
    identity: str = Field(description="The bay's charge point identity at the bridge.")
    bankId: int
    bank: str
    bay: int
    lockerType: LockerTypeSummary | None
    deviceId: int | None
    assignedUserId: int | None
    outOfService: bool = Field(description="Set by PATCH, or always for an always_oos type.")
    reasonCode: str | None
    reason: str | None
    brokenLock: bool
    available: bool = Field(description="A new transaction could take it now: in service, operational, "
                                        "not assigned, no active transaction.")
    state: LockerState | None = Field(description="Live state; None when no bridge drives the locker.")
    activeTransaction: TransactionResponse | None


class LockerDetails(Locker):
    """One locker with its recent history; the list leaves the history out to stay lean."""

    events: list[LogEntry] = Field(description=f"Its latest audit entries, newest first, at most "
                                               f"{LOCKER_EVENTS}.")


class LockerCodes(BaseModel):
    """The vendor's per-bay hex frames, as the bridge sends them."""

    openCode: str
    statusCode: str
    startChargingCode: str
    stopChargingCode: str
    chargingStatusCode: str


class LockController(BaseModel):
    """The board that drives a locker: where it sits on the serial bus, and whether it answers."""

    comPort: str
    address: int = Field(description="The board's address on the port.")
    bay: int = Field(description="The locker's bay on the board.")
    driven: bool = Field(description="Whether the bridge drives this locker (has its port).")
    online: bool | None = Field(description="The board answers the bridge's polls (false after three "
                                            "unanswered in a row); None when not driven.")


class LockerConfig(BaseModel):
    lockerId: int
    identity: str
    bankId: int
    bank: str
    bankTypeId: int | None
    comPort: str
    address: int = Field(description="The board's address on the port.")
    bay: int
    lockerType: LockerTypeSummary | None
    deviceId: int | None
    deviceCode: str | None
    driven: bool = Field(description="Whether the bridge drives this locker (has its port).")
    lockController: LockController
    codes: LockerCodes | None


class LockerOperationResponse(BaseModel):
    success: bool
    lockerId: int
    transactionId: int | None = None
    door: Literal["open", "closed"] | None = Field(description="The door as read back after the open.")
    sensorIgnored: bool = Field(description="brokenLock: the sensor still read closed; counted as success.")
    code: str | None = Field(description="Why not, as a stable code (None on success).")
    error: str | None
    message: str


class MultiStatusOperationResponse(BaseModel):
    """One result per locker; ``success`` only when every one succeeded."""

    success: bool
    total: int
    succeeded: int
    failed: int
    results: list[LockerOperationResponse]


class OpenAllLockersResponse(MultiStatusOperationResponse):
    skipped: list[int] = Field(description="Lockers of an always_oos type: nothing to open.")


class BankType(BaseModel):
    id: int
    name: str
    description: str | None
    lockerCount: int = Field(description="Lockers in one bank of this type (sum of the associations).")
    banks: int = Field(description="Banks of this type.")


class BankTypeAssociation(BaseModel):
    lockerTypeId: int
    lockerType: LockerTypeSummary
    count: int


class BankTypeWithAssociations(BankType):
    associations: list[BankTypeAssociation]


class TransactionList(BaseModel):
    items: list[TransactionResponse]
    total: int
    page: int
    pageSize: int


class LockerList(BaseModel):
    items: list[Locker]
    total: int
    page: int
    pageSize: int


class LockerTypeList(BaseModel):
    items: list[LockerType]
    total: int
    page: int
    pageSize: int


class BankTypeList(BaseModel):
    items: list[BankType]
    total: int
    page: int
    pageSize: int


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TransactionCreate(BaseModel):
    """Rent a locker: a given one (``lockerId``) or any free one of a type (``lockerTypeId``)."""

    lockerId: Id | None = None
    lockerTypeId: Id | None = None
    userId: Id | None = None
    reference: str | None = Field(None, max_length=100)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lockerId": 1, "reference": "booking-4711"},
        {"lockerTypeId": 1, "reference": "walk-in-0815"}]})

    @model_validator(mode="after")
    def one_target(self) -> TransactionCreate:
        if (self.lockerId is None) == (self.lockerTypeId is None):
            raise ValueError("give exactly one of lockerId and lockerTypeId")
        return self


class LockerServiceUpdate(BaseModel):
    """The doc's PATCH body; a field left out is left alone (but see ``outOfService: false``)."""

    outOfService: StrictBool = Field(None, description="false also clears reasonCode and reason "  # type: ignore[assignment]
                                                       "unless they are given.")
    reasonCode: str | None = Field(None, max_length=48)
    reason: str | None = Field(None, max_length=2000)
    brokenLock: StrictBool = Field(None, description="Ignore door sensor failures on open.")  # type: ignore[assignment]

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outOfService": True, "reasonCode": "LOCK_MALFUNCTION", "reason": "Lock solenoid not responding"},
        {"outOfService": False},
        {"brokenLock": True}]})


class LockerTypeCreate(BaseModel):
    name: Name
    size: Literal["S", "M", "L", "XL"] = "M"
    hasCharging: StrictBool = False
    alwaysOos: StrictBool = False
    description: str | None = Field(None, max_length=2000)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Phone charging S", "size": "S", "hasCharging": True, "alwaysOos": False,
         "description": "Small compartment with a USB-C outlet"}]})


class BankTypeAssociationCreate(BaseModel):
    lockerTypeId: Id
    count: int = Field(ge=1, le=1000)

    model_config = ConfigDict(extra="forbid")


class BankTypeCreate(BaseModel):
    name: Name
    description: str | None = Field(None, max_length=2000)
    associations: list[BankTypeAssociationCreate] = Field(default_factory=list, max_length=100)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Column 12", "description": "Ten small bays and a screen",
         "associations": [{"lockerTypeId": 1, "count": 10}]}]})


class DeviceHeartbeatRequest(BaseModel):
    """A device's periodic report. Fields beyond these are kept as sent (the whole body is stored)."""

    deviceId: str = Field(min_length=1, max_length=48, description="The device's code.")
    timestamp: datetime | None = Field(None, description="The device's clock (stored, not trusted).")
    status: str | None = Field(None, max_length=32, description="e.g. ok, degraded, error.")
    uptimeSeconds: int | None = Field(None, ge=0, le=MAX_ID)
    firmwareVersion: str | None = Field(None, max_length=64)
    ipAddress: str | None = Field(None, max_length=64)
    errors: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=50)

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"deviceId": "KIOSK-01", "timestamp": "2026-02-20T22:56:40Z", "status": "ok",
         "uptimeSeconds": 86400, "firmwareVersion": "2.4.1", "ipAddress": "10.0.0.21"}]})


# -- the router ----------------------------------------------------------------------------------
def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


# What app.py includes: /admin, and the gateway's routes (added to it at the end of this module).
router = APIRouter(route_class=GuardedRoute)
gateway = APIRouter(tags=["locker gateway"], route_class=GatewayRoute, responses={
    400: _error("`ValidationError`: a bad path, query or body (see `fields`)"),
    401: _error("`Unauthorized`: no token, or an unknown or revoked one"),
    403: _error("`Forbidden`: the token's role may not do this"),
    "4XX": _error("Any other client error, with a stable `code`"),
})

READ = require("operator", "viewer", "kiosk")
RENT = require("operator", "kiosk")  # rent, release, open by transaction
OPEN = require("operator", "kiosk")
CHANGE = require("operator")
ADMIN = require("admin")
HEARTBEAT = require("operator", "kiosk")

Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
LockerIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

NOT_FOUND_LOCKER = {404: _error("`LockerNotFound`")}
OPEN_ERRORS = {
    409: _error("`DoorDidNotOpen` (acknowledged, the door still reads closed, no brokenLock), "
                "`BoardRefused` (the board answered an error status), `LockerNotDriven` (no bridge "
                "drives this locker); the body also holds the LockerOperationResponse fields"),
    503: _error("`BoardUnavailable`: the board did not answer, or its port is down"),
}


def engine_of(request: Request) -> AsyncEngine:
    return request.app.state.central.engine  # type: ignore[no-any-return]


# -- shaping rows --------------------------------------------------------------------------------
def _locker_query() -> Any:
    """Lockers with their bank, type and active rental (if any), in id order."""
    return (select(LOCKERS, BANKS.c.name.label("bank_name"), BANKS.c.port, BANKS.c.address,
                   BANKS.c.bank_type_id, TYPES.c.name.label("type_name"), TYPES.c.size,
                   TYPES.c.has_charging, TYPES.c.always_oos,
                   ACTIVE.c.id.label("rental_id"), ACTIVE.c.user_id.label("rental_user_id"),
                   ACTIVE.c.reference.label("rental_reference"),
                   ACTIVE.c.created_at.label("rental_created_at"))
            .join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
            .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
            .outerjoin(ACTIVE, and_(ACTIVE.c.locker_id == LOCKERS.c.id, ACTIVE.c.released_at.is_(None)))
            .order_by(LOCKERS.c.id))


async def _locker(conn: AsyncConnection, locker_id: int, caller: Caller) -> Any:
    row = (await conn.execute(scoped(_locker_query().where(LOCKERS.c.id == locker_id), caller))).first()
    if row is None:
        raise ApiError(404, "LockerNotFound", f"no locker {locker_id}")
    return row


def _type_summary(row: Any, id_column: str = "locker_type_id", name_column: str = "type_name"
                  ) -> LockerTypeSummary | None:
    type_id = getattr(row, id_column)
    if type_id is None:
        return None
    return LockerTypeSummary(id=type_id, name=getattr(row, name_column), size=row.size,
                             hasCharging=bool(row.has_charging), alwaysOos=bool(row.always_oos))


def _state(live: dict[str, Any] | None) -> LockerState | None:
    if live is None:
        return None
    return LockerState(status=live["status"], errorCode=live.get("errorCode"),
                       faultInfo=live.get("faultInfo"), connected=bool(live.get("connected")),
                       door=live.get("door"), item=live.get("item"), charging=live.get("outlet"),
                       powerW=live.get("powerW"), energyWh=live.get("energyWh"),
                       chargingTransactionId=live.get("transactionId"))


def _operational(live: dict[str, Any] | None) -> bool:
    """Not known to be broken: a locker no bridge drives is taken at its word."""
    return live is None or live.get("status") not in NOT_OPERATIONAL


def _available(row: Any, live: dict[str, Any] | None) -> bool:
    return (not row.out_of_service and not row.always_oos and row.rental_id is None
            and row.assigned_user_id is None and _operational(live))


def _locker_json(row: Any, live: dict[str, Any] | None) -> Locker:
    active = None
    if row.rental_id is not None:
        active = TransactionResponse(id=row.rental_id, lockerId=row.id, lockerIdentity=row.identity,
                                     userId=row.rental_user_id, reference=row.rental_reference,
                                     active=True, createdAt=iso(row.rental_created_at) or "",
                                     releasedAt=None)
    return Locker(id=row.id, identity=row.identity, bankId=row.bank_id, bank=row.bank_name, bay=row.bay,
                  lockerType=_type_summary(row), deviceId=row.device_id,
                  assignedUserId=row.assigned_user_id,
                  outOfService=bool(row.out_of_service or row.always_oos), reasonCode=row.reason_code,
                  reason=row.reason, brokenLock=bool(row.broken_lock), available=_available(row, live),
                  state=_state(live), activeTransaction=active)


def _tx_query() -> Any:
    return (select(RENTALS, LOCKERS.c.identity.label("locker_identity"),
                   LOCKERS.c.device_id.label("locker_device_id"))
            .join(LOCKERS, LOCKERS.c.id == RENTALS.c.locker_id))


def _tx_json(row: Any) -> TransactionResponse:
    return TransactionResponse(id=row.id, lockerId=row.locker_id, lockerIdentity=row.locker_identity,
                               userId=row.user_id, reference=row.reference,
                               active=row.released_at is None, createdAt=iso(row.created_at) or "",
                               releasedAt=iso(row.released_at))


async def _transaction(conn: AsyncConnection, transaction_id: int, caller: Caller) -> Any:
    row = (await conn.execute(scoped(_tx_query().where(RENTALS.c.id == transaction_id), caller))).first()
    if row is None:
        raise ApiError(404, "TransactionNotFound", f"no transaction {transaction_id}")
    return row


# -- opening -------------------------------------------------------------------------------------
def _open_outcome(result: OpenResult) -> tuple[int, str | None, str]:
    """(HTTP status, stable code, message) for what an open did."""
    if result.success:
        if result.sensor_ignored:
            return 200, None, "lock fired; the door sensor still reads closed and is ignored (brokenLock)"
        return 200, None, "door opened"
    if not result.driven:
        return 409, "LockerNotDriven", result.error or "no locker bridge drives this locker"
    if result.door is not None:
        return 409, "DoorDidNotOpen", "the board acknowledged the open but the door still reads closed"
    if (result.error or "").startswith("board unavailable"):
        return 503, "BoardUnavailable", result.error or "the board did not answer"
    return 409, "BoardRefused", result.error or "the board refused to open"


async def _open(service: SiteService, row: Any, who: str, transaction_id: int | None = None
                ) -> tuple[int, LockerOperationResponse]:
    result = await service.open(row, who)
    status, code, message = _open_outcome(result)
    return status, LockerOperationResponse(
        success=result.success, lockerId=row.id, transactionId=transaction_id, door=result.door,
        sensorIgnored=result.sensor_ignored, code=code, error=result.error, message=message)


def _answer_open(status: int, outcome: LockerOperationResponse) -> LockerOperationResponse:
    if status != 200:
        extra = outcome.model_dump(exclude={"code", "message"})
        raise ApiError(status, outcome.code or "OpenFailed", outcome.message, **extra)
    return outcome


# -- health & status: GET /health is the app's own (api/routes/system.py) ------------------------
@router.get("/admin", tags=["system"], summary="Admin interface", response_class=RedirectResponse,
            status_code=307, response_description="To the operator dashboard's locker page, which "
                                                  "asks for a login when there is no session")
async def admin_interface() -> RedirectResponse:
    """The doc's admin interface is our operator dashboard; its login and roles stay its own."""
    return RedirectResponse(DASHBOARD_LOCKERS, status_code=307)


# -- transactions --------------------------------------------------------------------------------
@gateway.get("/transactions", summary="List all transactions (rentals), newest first",
             response_model=TransactionList)
async def list_transactions(request: Request, page: Page = 1, pageSize: PageSize = 50,
                            active: bool | None = Query(None, description="Held (true) or released (false)."),
                            lockerId: IdQuery = None, userId: IdQuery = None,
                            caller: Caller = Depends(READ)) -> TransactionList:
    query = scoped(_tx_query(), caller)
    if active is not None:
        query = query.where(RENTALS.c.released_at.is_(None) if active else RENTALS.c.released_at.isnot(None))
    if lockerId is not None:
        query = query.where(RENTALS.c.locker_id == lockerId)
    if userId is not None:
        query = query.where(RENTALS.c.user_id == userId)
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        result = await conn.execute(query.order_by(RENTALS.c.id.desc())
                                    .limit(pageSize).offset((page - 1) * pageSize))
        items = [_tx_json(r) for r in result]
    return TransactionList(items=items, total=total, page=page, pageSize=pageSize)


async def _rent(conn: AsyncConnection, locker_id: int, user_id: int | None, reference: str | None
                ) -> int | None:
    """Insert the rental unless the locker already has an active one, in one statement (so two
    concurrent rentals of one locker cannot both succeed); None when it had one."""
    held = exists().where(RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None))
    values = select(literal(locker_id, RENTALS.c.locker_id.type), literal(user_id, RENTALS.c.user_id.type),
                    literal(reference, RENTALS.c.reference.type),
                    literal(now_utc(), RENTALS.c.created_at.type)).where(~held)
    try:
        async with conn.begin_nested():  # the unique index on active rentals settles a race
            result = await conn.execute(RENTALS.insert().from_select(
                ["locker_id", "user_id", "reference", "created_at"], values).returning(RENTALS.c.id))
            row = result.first()
    except IntegrityError:
        return None
    return None if row is None else int(row.id)


def _refusal(row: Any, live: dict[str, Any] | None, user_id: int | None) -> ApiError | None:
    """Why this locker cannot take a new transaction for ``user_id`` (None: it can)."""
    if row.always_oos:
        return ApiError(409, "LockerTypeAlwaysOutOfService",
                        f"locker {row.id} is of type {row.type_name!r}, which is never rented")
    if row.out_of_service:
        return ApiError(409, "LockerOutOfService", f"locker {row.id} is out of service",
                        reasonCode=row.reason_code, reason=row.reason)
    if row.rental_id is not None:
        return ApiError(409, "LockerInUse", f"locker {row.id} has an active transaction")
    if row.assigned_user_id is not None and row.assigned_user_id != user_id:
        return ApiError(409, "LockerAssigned", f"locker {row.id} is assigned to another user")
    if live is not None and not _operational(live):
        return ApiError(409, "LockerNotOperational", f"the bridge reports locker {row.id} {live['status']}")
    return None


@gateway.post("/transactions", status_code=201, summary="Create a transaction: rent a locker",
              response_model=TransactionResponse,
              responses={404: _error("`LockerNotFound`, `LockerTypeNotFound`, `UserNotFound`"),
                         409: _error("`LockerOutOfService`, `LockerTypeAlwaysOutOfService`, "
                                     "`LockerInUse`, `LockerAssigned`, `LockerNotOperational`, "
                                     "`NoLockerAvailable` (none of the type is free)")})
async def create_transaction(body: TransactionCreate, request: Request,
                             caller: Caller = Depends(RENT)) -> TransactionResponse:
    service = sites(request)
    async with engine_of(request).begin() as conn:
        if body.userId is not None and (await conn.execute(
                select(USERS.c.id).where(USERS.c.id == body.userId))).first() is None:
            raise ApiError(404, "UserNotFound", f"no user {body.userId}")
        if body.lockerId is not None:
            row = await _locker(conn, body.lockerId, caller)
            refusal = _refusal(row, service.live(row.identity), body.userId)
            if refusal is not None:
                raise refusal
            candidates = [row]
        else:
            kind = (await conn.execute(select(TYPES).where(TYPES.c.id == body.lockerTypeId))).first()
            if kind is None:
                raise ApiError(404, "LockerTypeNotFound", f"no locker type {body.lockerTypeId}")
            if kind.always_oos:
                raise ApiError(409, "LockerTypeAlwaysOutOfService",
                               f"locker type {kind.name!r} is never rented")
            rows = (await conn.execute(scoped(_locker_query().where(
                LOCKERS.c.locker_type_id == body.lockerTypeId), caller))).all()
            candidates = [r for r in rows if _refusal(r, service.live(r.identity), body.userId) is None]
            # the user's own assigned locker first, then the lowest id
            candidates.sort(key=lambda r: (r.assigned_user_id is None, r.id))
        for row in candidates:
            rental_id = await _rent(conn, row.id, body.userId, body.reference)
            if rental_id is not None:
                break
        else:
            if body.lockerId is not None:
                raise ApiError(409, "LockerInUse", f"locker {body.lockerId} has an active transaction")
            raise ApiError(409, "NoLockerAvailable",
                           f"no locker of type {body.lockerTypeId} is available")
        await audit(conn, actor(caller), "transaction.create", locker_id=row.id, device_id=row.device_id,
                    transactionId=rental_id, userId=body.userId, reference=body.reference,
                    lockerTypeId=body.lockerTypeId)
        created = await _transaction(conn, rental_id, caller)
    return _tx_json(created)


TxIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@gateway.get("/transactions/{transactionId}", summary="Get transaction details",
             response_model=TransactionResponse, responses={404: _error("`TransactionNotFound`")})
async def get_transaction(transactionId: TxIdPath, request: Request,
                          caller: Caller = Depends(READ)) -> TransactionResponse:
    async with engine_of(request).connect() as conn:
        return _tx_json(await _transaction(conn, transactionId, caller))


@gateway.post("/transactions/{transactionId}/release", summary="Release transaction: the user gives the locker back",
              response_model=TransactionResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`: released already")})
async def release_transaction(transactionId: TxIdPath, request: Request,
                              caller: Caller = Depends(RENT)) -> TransactionResponse:
    async with engine_of(request).begin() as conn:
        row = await _transaction(conn, transactionId, caller)
        done = await conn.execute(update(RENTALS).where(
            RENTALS.c.id == transactionId, RENTALS.c.released_at.is_(None)).values(released_at=now_utc()))
        if not done.rowcount:
            raise ApiError(409, "TransactionNotActive", f"transaction {transactionId} was released already")
        await audit(conn, actor(caller), "transaction.release", locker_id=row.locker_id,
                    device_id=row.locker_device_id, transactionId=transactionId)
        return _tx_json(await _transaction(conn, transactionId, caller))


@gateway.post("/transactions/{transactionId}/open", summary="Open locker by transaction ID",
              response_model=LockerOperationResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`, or an open failure (see `POST "
                                     "/lockers/{lockerId}/open`)"),
                         503: OPEN_ERRORS[503]})
async def open_by_transaction(transactionId: TxIdPath, request: Request,
                              caller: Caller = Depends(RENT)) -> LockerOperationResponse:
    """Only for an active transaction; an out-of-service locker still opens for its holder."""
    async with engine_of(request).connect() as conn:
        tx = await _transaction(conn, transactionId, caller)
        if tx.released_at is not None:
            raise ApiError(409, "TransactionNotActive", f"transaction {transactionId} was released")
        row = await locker_or_404(conn, tx.locker_id, caller)
    status, outcome = await _open(sites(request), row, actor(caller), transactionId)
    async with engine_of(request).begin() as conn:
        await audit(conn, actor(caller), "transaction.open", locker_id=row.id, device_id=row.device_id,
                    transactionId=transactionId, success=outcome.success, code=outcome.code)
    return _answer_open(status, outcome)


# -- lockers -------------------------------------------------------------------------------------
@gateway.get("/lockers", summary="List all lockers, with live state and active transaction",
             response_model=LockerList)
async def list_lockers(request: Request, page: Page = 1, pageSize: PageSize = 100,
                       bankId: IdQuery = None, lockerTypeId: IdQuery = None, deviceId: IdQuery = None,
                       outOfService: bool | None = None, brokenLock: bool | None = None,
                       available: bool | None = Query(None, description="Could take a new transaction now."),
                       caller: Caller = Depends(READ)) -> LockerList:
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


@gateway.post("/lockers/open-all", summary="Open all lockers (one result per locker)",
              response_model=OpenAllLockersResponse,
              responses={207: {"model": MultiStatusOperationResponse,
                               "description": "Multi-status: at least one locker did not open; each "
                                              "result has its own `success` and `code`. The body is "
                                              "the 200 one (an OpenAllLockersResponse, with "
                                              "`skipped`)"}})
async def open_all(request: Request, bankId: IdQuery = None, deviceId: IdQuery = None,
                   caller: Caller = Depends(OPEN)) -> JSONResponse:
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


@gateway.get("/lockers/{lockerId}/config", summary="Get locker configuration (board, bank, bay, type, codes)",
             response_model=LockerConfig, responses=NOT_FOUND_LOCKER)
async def locker_config(lockerId: LockerIdPath, request: Request,
                        caller: Caller = Depends(READ)) -> LockerConfig:
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


@gateway.get("/lockers/{lockerId}", summary="Get locker details (live state, active transaction, "
              "recent audit entries)", response_model=LockerDetails, responses=NOT_FOUND_LOCKER)
async def get_locker(lockerId: LockerIdPath, request: Request,
                     caller: Caller = Depends(READ)) -> LockerDetails:
    async with engine_of(request).connect() as conn:
        row = await _locker(conn, lockerId, caller)
        events = await _events(conn, lockerId, caller)
    return LockerDetails(**_locker_json(row, sites(request).live(row.identity)).model_dump(), events=events)


@gateway.patch("/lockers/{lockerId}", summary="Update locker service state",
               response_model=OperationResponse, response_model_exclude_none=True,
               responses={400: _error("`ValidationError` (bad body), `NothingToUpdate` (empty body)"),
                          404: _error("`LockerNotFound`"),
                          409: _error("`LockerTypeAlwaysOutOfService`: its type is always out of "
                                      "service, so it cannot be returned to service")})
async def update_locker(lockerId: LockerIdPath, body: LockerServiceUpdate, request: Request,
                        caller: Caller = Depends(CHANGE)) -> OperationResponse:
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


@gateway.post("/lockers/{lockerId}/open", summary="Open locker by ID (through the bridge, read back)",
              response_model=LockerOperationResponse, responses={**NOT_FOUND_LOCKER, **OPEN_ERRORS})
async def open_locker(lockerId: LockerIdPath, request: Request,
                      caller: Caller = Depends(OPEN)) -> LockerOperationResponse:
    async with engine_of(request).connect() as conn:
        row = await locker_or_404(conn, lockerId, caller)
    return _answer_open(*await _open(sites(request), row, actor(caller)))


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


@gateway.get("/locker-types", summary="List all locker types", response_model=LockerTypeList)
async def list_locker_types(request: Request, page: Page = 1, pageSize: PageSize = 100,
                            caller: Caller = Depends(READ)) -> LockerTypeList:
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(TYPES))).scalar_one()
        rows = (await conn.execute(select(TYPES).order_by(TYPES.c.id).limit(pageSize)
                                   .offset((page - 1) * pageSize))).all()
        counts = await _type_counts(conn, request, caller)
    return LockerTypeList(items=[_type_json(r, counts) for r in rows], total=total, page=page,
                          pageSize=pageSize)


TypeIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@gateway.get("/locker-types/{lockerTypeId}", summary="Get locker type details",
             response_model=LockerType, responses={404: _error("`LockerTypeNotFound`")})
async def get_locker_type(lockerTypeId: TypeIdPath, request: Request,
                          caller: Caller = Depends(READ)) -> LockerType:
    async with engine_of(request).connect() as conn:
        row = (await conn.execute(select(TYPES).where(TYPES.c.id == lockerTypeId))).first()
        if row is None:
            raise ApiError(404, "LockerTypeNotFound", f"no locker type {lockerTypeId}")
        return _type_json(row, await _type_counts(conn, request, caller))


@gateway.post("/locker-types", status_code=201, response_model=LockerType,
              summary="Create a locker type (extension to the doc; admin)",
              responses={409: _error("`LockerTypeExists`: the name is taken")})
async def create_locker_type(body: LockerTypeCreate, request: Request,
                             caller: Caller = Depends(ADMIN)) -> LockerType:
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


@gateway.get("/bank-types", summary="List all bank types", response_model=BankTypeList)
async def list_bank_types(request: Request, page: Page = 1, pageSize: PageSize = 100,
                          caller: Caller = Depends(READ)) -> BankTypeList:
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(BANK_TYPES))).scalar_one()
        rows = (await conn.execute(_bank_type_query().order_by(BANK_TYPES.c.id).limit(pageSize)
                                   .offset((page - 1) * pageSize))).all()
    return BankTypeList(items=[_bank_type_json(r) for r in rows], total=total, page=page,
                        pageSize=pageSize)


@gateway.get("/bank-types/{bankTypeId}", summary="Get bank type with associations",
             response_model=BankTypeWithAssociations, responses={404: _error("`BankTypeNotFound`")})
async def get_bank_type(bankTypeId: TypeIdPath, request: Request,
                        caller: Caller = Depends(READ)) -> BankTypeWithAssociations:
    async with engine_of(request).connect() as conn:
        return await _bank_type_with_associations(conn, bankTypeId)


@gateway.post("/bank-types", status_code=201, response_model=BankTypeWithAssociations,
              summary="Create a bank type with its associations (extension to the doc; admin)",
              responses={400: _error("`ValidationError`, `DuplicateAssociation` (a locker type twice)"),
                         404: _error("`LockerTypeNotFound`: an association names no locker type"),
                         409: _error("`BankTypeExists`: the name is taken")})
async def create_bank_type(body: BankTypeCreate, request: Request,
                           caller: Caller = Depends(ADMIN)) -> BankTypeWithAssociations:
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


# -- system --------------------------------------------------------------------------------------
@gateway.post("/system/heartbeat", summary="Receive heartbeat from external device",
              response_model=System,
              responses={400: _error("`ValidationError`, `HeartbeatTooLarge` (over 16 KiB)"),
                         404: _error("`DeviceNotFound`: no device with this code (or not the "
                                     "kiosk token's own)")})
async def heartbeat(body: DeviceHeartbeatRequest, request: Request,
                    caller: Caller = Depends(HEARTBEAT)) -> System:
    """Records when (by our clock) and what the device last said. Only a first heartbeat or a
    change of ``status`` is audited: a heartbeat a minute per device would bury the log."""
    report = body.model_dump(mode="json", exclude_none=True)
    text = json.dumps(report, separators=(",", ":"), default=str)
    if len(text.encode()) > HEARTBEAT_MAX_BYTES:
        raise ApiError(400, "HeartbeatTooLarge", f"a heartbeat body may hold {HEARTBEAT_MAX_BYTES} bytes")
    now = now_utc()
    async with engine_of(request).begin() as conn:
        device = (await conn.execute(select(DEVICES.c.id, DEVICES.c.heartbeat).where(
            DEVICES.c.code == body.deviceId))).first()
        if device is None or (caller.role == "kiosk" and device.id != caller.device_id):
            raise ApiError(404, "DeviceNotFound", f"no device {body.deviceId!r}")
        await conn.execute(update(DEVICES).where(DEVICES.c.id == device.id).values(
            last_heartbeat_at=now, heartbeat=text))
        previous = _heartbeat_status(device.heartbeat)
        if device.heartbeat is None or previous != body.status:
            await audit(conn, actor(caller), "device.heartbeat", device_id=device.id,
                        status=body.status, previousStatus=previous)
    return System(success=True, message="heartbeat recorded", serverTime=iso(now) or "",
                  deviceId=body.deviceId, onlineWindowSeconds=int(ONLINE_WINDOW.total_seconds()))


def _heartbeat_status(stored: str | None) -> str | None:
    try:
        value = json.loads(stored) if stored else None
    except ValueError:
        return None
    return value.get("status") if isinstance(value, dict) else None


router.include_router(gateway)  # last: including copies the routes defined so far
