"""Rows to the doc's shapes, and what an open did to the doc's status and code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import ACTIVE, BANKS, LOCKERS, NOT_OPERATIONAL, RENTALS, TYPES
from api.vendor.gateway.schemas import (
    Locker,
    LockerOperationResponse,
    LockerState,
    LockerTypeSummary,
    TransactionResponse,
)
from api.vendor.sites import scoped
from csms.timeutil import iso
from lockers.bays import OpenResult
from lockers.service import SiteService


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


