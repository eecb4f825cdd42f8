"""The services' results in the doc's shapes, and a failed open as the doc's refusal."""

from __future__ import annotations

import json
from typing import Any, cast

from api.vendor.gateway.schemas import (
    BankType,
    BankTypeAssociation,
    BankTypeWithAssociations,
    Door,
    LockController,
    Locker,
    LockerCodes,
    LockerConfig,
    LockerOperationResponse,
    LockerState,
    LockerType,
    LockerTypeSummary,
    LogEntry,
    TransactionResponse,
)
from csms.timeutil import iso
from lockers.gateway.bank_types import BankTypeWithLinks
from lockers.gateway.locker_types import CountedType
from lockers.gateway.opening import Opened
from lockers.gateway.rows import LockerView


# -- lockers -------------------------------------------------------------------------------------
def type_summary(row: Any, id_column: str = "locker_type_id", name_column: str = "type_name"
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


def locker_json(view: LockerView) -> Locker:
    row = view.row
    active = None
    if row.rental_id is not None:
        active = TransactionResponse(id=row.rental_id, lockerId=row.id, lockerIdentity=row.identity,
                                     userId=row.rental_user_id, reference=row.rental_reference,
                                     active=True, createdAt=iso(row.rental_created_at) or "",
                                     releasedAt=None)
    return Locker(id=row.id, identity=row.identity, bankId=row.bank_id, bank=row.bank_name, bay=row.bay,
                  lockerType=type_summary(row), deviceId=row.device_id,
                  assignedUserId=row.assigned_user_id,
                  outOfService=view.out_of_service, reasonCode=row.reason_code,
                  reason=row.reason, brokenLock=bool(row.broken_lock), available=view.available,
                  state=_state(view.live), activeTransaction=active)


def config_json(view: LockerView, device_code: str | None) -> LockerConfig:
    row, live = view.row, view.live
    codes = None if live is None else LockerCodes(
        openCode=live["open_code"], statusCode=live["status_code"],
        startChargingCode=live["start_charging_code"], stopChargingCode=live["stop_charging_code"],
        chargingStatusCode=live["charging_status_code"])
    return LockerConfig(lockerId=row.id, identity=row.identity, bankId=row.bank_id, bank=row.bank_name,
                        bankTypeId=row.bank_type_id, comPort=row.port, address=row.address, bay=row.bay,
                        lockerType=type_summary(row), deviceId=row.device_id, deviceCode=device_code,
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


def log_entry(row: Any) -> LogEntry:
    return LogEntry(id=row.id, at=iso(row.at) or "", actor=row.actor, action=row.action,
                    lockerId=row.locker_id, deviceId=row.device_id, details=_details(row.details))


# -- rentals -------------------------------------------------------------------------------------
def tx_json(row: Any) -> TransactionResponse:
    return TransactionResponse(id=row.id, lockerId=row.locker_id, lockerIdentity=row.locker_identity,
                               userId=row.user_id, reference=row.reference,
                               active=row.released_at is None, createdAt=iso(row.created_at) or "",
                               releasedAt=iso(row.released_at))


# -- types ---------------------------------------------------------------------------------------
def type_json(counted: CountedType) -> LockerType:
    row = counted.row
    return LockerType(id=row.id, name=row.name, size=row.size, hasCharging=bool(row.has_charging),
                      alwaysOos=bool(row.always_oos), description=row.description,
                      lockers=counted.lockers, available=counted.available)


def bank_type_json(row: Any) -> BankType:
    return BankType(id=row.id, name=row.name, description=row.description,
                    lockerCount=int(row.locker_count), banks=int(row.bank_count))


def bank_type_with_associations(found: BankTypeWithLinks) -> BankTypeWithAssociations:
    associations = []
    for link in found.links:
        summary = type_summary(link, "type_id")
        assert summary is not None  # joined: the type exists
        associations.append(BankTypeAssociation(lockerTypeId=link.type_id, lockerType=summary,
                                                count=link.count))
    return BankTypeWithAssociations(**bank_type_json(found.row).model_dump(), associations=associations)


# -- opening -------------------------------------------------------------------------------------
def open_json(opened: Opened) -> LockerOperationResponse:
    result = opened.result
    return LockerOperationResponse(
        success=result.success, lockerId=opened.locker_id, transactionId=opened.transaction_id,
        door=cast(Door | None, result.door), sensorIgnored=result.sensor_ignored, code=opened.code, error=result.error,
        message=opened.message)


def answer_open(opened: Opened) -> LockerOperationResponse:
    """The doc's answer to one open: the outcome, or (when it failed) the refusal with the
    outcome's fields beside its code and message."""
    outcome = open_json(opened)
    if opened.kind is not None:
        extra = outcome.model_dump(exclude={"code", "message"})
        raise opened.kind(outcome.code or "OpenFailed", outcome.message, **extra)
    return outcome
