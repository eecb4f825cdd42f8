"""The gateway's bodies and answers, under the names of the doc (seed 004)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from lockers.gateway.lockers import LOCKER_EVENTS

MAX_ID = 2**63 - 1  # a BIGINT: larger ids cannot exist, and would overflow the driver
Door = Literal["open", "closed"]  # as the bridge reads a door back


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
    door: Door | None
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
    door: Door | None = Field(description="The door as read back after the open.")
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


