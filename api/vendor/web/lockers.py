"""The locker back office's hardware: devices and their status, bays, lockers, locker types, banks,
and the audit log, under ``/api/…`` (conventions: :mod:`api.vendor.web.conventions`)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.vendor.web.conventions import (
    AREA,
    BANK,
    BANK_TYPE,
    BANKS,
    DEVICE,
    DEVICES,
    IDENT,
    LOCATION,
    LOCKER,
    LOCKER_TYPE,
    LOCKERS,
    MAX_ID,
    NOT_FOUND,
    PRINTABLE,
    TOKENS,
    TYPES,
    USER,
    USERS,
    BankName,
    BayNumber,
    BoardAddress,
    Body,
    Code,
    Description,
    Engine,
    FilterId,
    LockerReader,
    Name,
    Operator,
    Paging,
    Password,
    PortName,
    Reader,
    RefId,
    Search,
    Size,
    Unique,
    examples,
    hashed,
    json_list,
    revoke_tokens,
)
from api.crud import (
    create,
    free,
    insert,
    log,
    one,
    page_of,
    patch,
    remove,
    row_or_404,
    unreferenced,
    write,
)
from api.deps import jsonable
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import actor, scoped, sites
from csms.timeutil import iso, now_utc, utc
from locker_bridge.service import BridgeService
from lockers.models import AuditEntry, Rental
from lockers.audit import audit
from lockers.bays import Position

router = APIRouter(route_class=GuardedRoute)

AUDIT, RENTALS = AuditEntry.__table__, Rental.__table__

ONLINE_WINDOW = timedelta(minutes=2)  # a device is online if its last heartbeat is this recent

DeviceId = Annotated[int, Path(alias="deviceId", ge=1, le=MAX_ID)]
LockerId = Annotated[int, Path(alias="lockerId", ge=1, le=MAX_ID)]
LockerTypeId = Annotated[int, Path(alias="lockerTypeId", ge=1, le=MAX_ID)]
BankId = Annotated[int, Path(alias="bankId", ge=1, le=MAX_ID)]


# ================================================================================================
# Devices
# ================================================================================================
class DeviceIn(Body):
    model_config = examples({"code": "KIOSK-1", "name": "Lobby kiosk", "kind": "kiosk",
                             "ports": ["COM2"], "password": "kiosk secret 1"})

    code: Code = Field(description="Unique; what a kiosk logs in with.")
    name: Name
    kind: Literal["kiosk", "controller"] = "kiosk"
    locationId: RefId | None = None
    areaId: RefId | None = Field(None, description="An area of the location (sets the location "
                                                   "if none is given).")
    ports: Annotated[list[PortName], Unique] = Field([], max_length=16,
                                                     description="Its serial ports (COM2, …).")
    password: Password | None = Field(None, description="For the kiosk login; never shown again.")


class DevicePatch(Body):
    model_config = examples({"name": "Lobby kiosk (east)"}, {"password": "a new kiosk secret"})

    code: Code = Field(None)
    name: Name = Field(None)
    kind: Literal["kiosk", "controller"] = Field(None)
    locationId: RefId | None = None
    areaId: RefId | None = None
    ports: Annotated[list[PortName], Unique] = Field(None, max_length=16)
    password: Password | None = Field(None, description="null removes it (no kiosk login); "
                                                        "a change logs the device's kiosks out.")


def _online(last: datetime | None, now: datetime) -> bool:
    """Online: a heartbeat within :data:`ONLINE_WINDOW` (a device beating every minute may miss
    one without flapping to offline)."""
    at = utc(last)
    return at is not None and at >= now - ONLINE_WINDOW


def _device(row: Any) -> dict[str, Any]:
    now = now_utc()
    last = utc(row.last_heartbeat_at)
    try:
        heartbeat = json.loads(row.heartbeat) if row.heartbeat else None
    except ValueError:
        heartbeat = None
    return {"id": row.id, "code": row.code, "name": row.name, "kind": row.kind,
            "locationId": row.location_id, "areaId": row.area_id, "ports": json_list(row.ports),
            "hasPassword": row.password_hash is not None, "online": _online(last, now),
            "lastHeartbeatAt": iso(last), "heartbeat": heartbeat, "createdAt": iso(row.created_at)}


async def _place(conn: AsyncConnection, location_id: int | None, area_id: int | None) -> int | None:
    """Check a (location, area) pair; returns the location (the area's, when none was given)."""
    await row_or_404(conn, LOCATION, location_id)
    area = await row_or_404(conn, AREA, area_id)
    if area is None:
        return location_id
    if location_id is not None and area.location_id != location_id:
        raise ApiError(422, "AreaNotInLocation", f"area {area_id} is not in location {location_id}")
    return int(area.location_id)


@router.get("/api/devices", tags=["devices"], summary="List devices")
async def list_devices(_: Reader, eng: Engine, page: Paging, q: Search = None,
                       kind: Literal["kiosk", "controller"] | None = None,
                       locationId: FilterId = None) -> dict[str, Any]:
    return await page_of(eng, page, select(DEVICES).order_by(DEVICES.c.code), q,
                         [DEVICES.c.code, DEVICES.c.name], _device,
                         where=[(DEVICES.c.kind, kind), (DEVICES.c.location_id, locationId)])


@router.get("/api/devices/status", tags=["devices"],
            summary="Devices status: online when a heartbeat came within the last 2 minutes")
async def devices_status(_: Reader, eng: Engine, page: Paging, q: Search = None,
                         online: bool | None = Query(None, description="Only online (true) or "
                                                                      "offline (false).")
                         ) -> dict[str, Any]:
    cutoff = now_utc() - ONLINE_WINDOW
    is_online = DEVICES.c.last_heartbeat_at >= cutoff
    query = select(DEVICES.c.id, DEVICES.c.code, DEVICES.c.name, DEVICES.c.kind,
                   DEVICES.c.last_heartbeat_at).order_by(DEVICES.c.code)
    if online is not None:
        query = query.where(is_online if online else or_(DEVICES.c.last_heartbeat_at.is_(None),
                                                         DEVICES.c.last_heartbeat_at < cutoff))
    now = now_utc()

    def shape(row: Any) -> dict[str, Any]:
        last = utc(row.last_heartbeat_at)
        return {"id": row.id, "code": row.code, "name": row.name, "kind": row.kind,
                "online": _online(last, now), "lastHeartbeatAt": iso(last),
                "secondsSinceHeartbeat": None if last is None else max(0, int((now - last).total_seconds()))}

    result = await page_of(eng, page, query, q, [DEVICES.c.code, DEVICES.c.name], shape)
    async with eng.connect() as conn:
        total_online = (await conn.execute(
            select(func.count()).select_from(DEVICES).where(is_online))).scalar_one()
    return {**result, "onlineWindowSeconds": int(ONLINE_WINDOW.total_seconds()), "online": total_online}


@router.post("/api/devices", tags=["devices"], status_code=201, summary="Add a device",
             responses={**NOT_FOUND, 409: {"description": "`DeviceExists`: the code is taken"},
                        422: {"description": "`ValidationError`; `AreaNotInLocation`"}})
async def add_device(body: DeviceIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    password_hash = await hashed(body.password)

    async def work(conn: AsyncConnection) -> int:
        await free(conn, DEVICE, body.code)
        location_id = await _place(conn, body.locationId, body.areaId)
        values = {**body.model_dump(exclude={"password"}), "locationId": location_id,
                  "password_hash": password_hash, "created_at": now_utc()}
        return await insert(conn, caller, DEVICE, values, code=body.code, name=body.name,
                            kind=body.kind, ports=body.ports, password=body.password is not None)

    return await get_device(caller, eng, await write(eng, work, DEVICE.duplicate(body.code)))


@router.get("/api/devices/{deviceId}", tags=["devices"], summary="Get a device", responses=NOT_FOUND)
async def get_device(_: Reader, eng: Engine, device_id: DeviceId) -> dict[str, Any]:
    return await one(eng, DEVICE, device_id, shape=_device)


@router.patch("/api/devices/{deviceId}", tags=["devices"], summary="Update (edit) a device",
              responses={**NOT_FOUND, 409: {"description": "`DeviceExists`"},
                         422: {"description": "`ValidationError`; `AreaNotInLocation`"}})
async def update_device(body: DevicePatch, caller: Operator, eng: Engine,
                        device_id: DeviceId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if "password" in values:
        values["password_hash"] = await hashed(values.pop("password"))

    async def work(conn: AsyncConnection) -> None:
        row = await row_or_404(conn, DEVICE, device_id)
        if "code" in values:
            await free(conn, DEVICE, values["code"], device_id)
        changes = {k: v for k, v in values.items() if k not in ("locationId", "areaId")}
        if "locationId" in values or "areaId" in values:
            area_id = values.get("areaId", row.area_id)
            location_id = values.get("locationId", row.location_id)
            if "locationId" in values and "areaId" not in values and location_id != row.location_id:
                area_id = None  # moved elsewhere: its old area no longer applies
            changes["locationId"] = await _place(conn, location_id, area_id)
            changes["areaId"] = area_id
        if not changes:
            return
        await conn.execute(update(DEVICES).where(DEVICES.c.id == device_id)
                           .values(DEVICE.columns(changes)))
        if "password_hash" in changes:
            await revoke_tokens(conn, TOKENS.c.device_id == device_id)
        await log(conn, caller, DEVICE, "edit", device_id,
                  **{k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "password"},
                  **({"password": "changed"} if "password_hash" in changes else {}))

    await write(eng, work, DEVICE.conflict())
    return await get_device(caller, eng, device_id)


@router.delete("/api/devices/{deviceId}", tags=["devices"], status_code=204, summary="Delete a device",
               responses=NOT_FOUND)
async def delete_device(caller: Operator, eng: Engine, device_id: DeviceId) -> None:
    """Its lockers and banks stay (unassigned), its shift entries go, its kiosks are logged out."""
    await remove(eng, caller, DEVICE, device_id,
                 also=lambda conn, _: revoke_tokens(conn, TOKENS.c.device_id == device_id))


# ================================================================================================
# Lockers, bays
# ================================================================================================
# a locker of an always-out-of-service type is out of service whatever its own flag says (as the
# locker gateway shows it)
OUT_OF_SERVICE = or_(LOCKERS.c.out_of_service.is_(True), TYPES.c.always_oos.is_(True))


def _locker_query() -> Select[Any]:
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bank_id.label("bankId"),
                   BANKS.c.name.label("bank"), BANKS.c.port, BANKS.c.address, LOCKERS.c.bay,
                   LOCKERS.c.locker_type_id.label("lockerTypeId"), TYPES.c.name.label("lockerType"),
                   LOCKERS.c.device_id.label("deviceId"), DEVICES.c.code.label("deviceCode"),
                   LOCKERS.c.assigned_user_id.label("assignedUserId"),
                   USERS.c.username.label("assignedUsername"),
                   OUT_OF_SERVICE.label("outOfService"), LOCKERS.c.reason_code.label("reasonCode"),
                   LOCKERS.c.reason, LOCKERS.c.broken_lock.label("brokenLock"),
                   LOCKERS.c.door_open.label("doorOpen"), LOCKERS.c.door_changed_at.label("doorChangedAt"),
                   LOCKERS.c.created_at.label("createdAt"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(DEVICES, DEVICES.c.id == LOCKERS.c.device_id)
                         .outerjoin(USERS, USERS.c.id == LOCKERS.c.assigned_user_id)))


def _bridge(request: Request) -> BridgeService | None:
    return sites(request).bridge


def _locker_shape(request: Request) -> Any:
    service = sites(request)

    def shape(row: Any) -> dict[str, Any]:
        out = jsonable(row)
        out["outOfService"] = bool(out["outOfService"])
        door = out.pop("doorOpen")
        out["door"] = None if door is None else ("open" if door else "closed")
        out["driven"] = service.local(row.identity) is not None
        return out

    return shape


async def _locker(request: Request, eng: Engine, caller: Caller, locker_id: int) -> dict[str, Any]:
    return await one(eng, LOCKER, locker_id, scoped(_locker_query(), caller), _locker_shape(request))


def _bay(row: Any) -> dict[str, Any]:
    return {"lockerId": row.id, "identity": row.identity, "bankId": row.bankId, "bank": row.bank,
            "bay": row.bay, "deviceId": row.deviceId, "deviceCode": row.deviceCode,
            "assignedUserId": row.assignedUserId, "assignedUsername": row.assignedUsername}


async def _bay_of(eng: Engine, locker_id: int) -> dict[str, Any]:
    return await one(eng, LOCKER, locker_id, _locker_query(), _bay)


@router.get("/api/bays", tags=["bays"], summary="List bays (lockers with their device and user)")
async def list_bays(_: Reader, eng: Engine, page: Paging, q: Search = None, bankId: FilterId = None,
                    deviceId: FilterId = None,
                    assigned: bool | None = Query(None, description="Only bays with (true) or "
                                                                    "without (false) a user.")
                    ) -> dict[str, Any]:
    query = _locker_query().order_by(BANKS.c.name, LOCKERS.c.bay)
    if assigned is not None:
        column = LOCKERS.c.assigned_user_id
        query = query.where(column.is_not(None) if assigned else column.is_(None))
    return await page_of(eng, page, query, q, [LOCKERS.c.identity, BANKS.c.name], _bay,
                         where=[(LOCKERS.c.bank_id, bankId), (LOCKERS.c.device_id, deviceId)])


class AssignDevice(Body):
    model_config = examples({"deviceId": 1})

    deviceId: RefId


class AssignUser(Body):
    model_config = examples({"userId": 1})

    userId: RefId | None = Field(description="null unassigns the bay's user.")


@router.post("/api/bays/{lockerId}/assign-device", tags=["bays"], summary="Assign a device to a bay",
             responses=NOT_FOUND)
async def assign_device(body: AssignDevice, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        await row_or_404(conn, DEVICE, body.deviceId)
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=body.deviceId))
        await audit(conn, actor(caller), "bay.assign_device", locker_id=locker_id,
                    device_id=body.deviceId, previous=locker.device_id)
    return await _bay_of(eng, locker_id)


@router.post("/api/bays/{lockerId}/unassign-device", tags=["bays"],
             summary="Unassign a bay's device", responses=NOT_FOUND)
async def unassign_device(caller: Operator, eng: Engine, locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=None))
        await audit(conn, actor(caller), "bay.unassign_device", locker_id=locker_id,
                    device_id=locker.device_id)
    return await _bay_of(eng, locker_id)


@router.post("/api/bays/{lockerId}/assign-user", tags=["bays"], summary="Assign a user to a bay",
             responses={**NOT_FOUND, 409: {"description": "`BayAssigned`: another user has it (unassign "
                                                          "first); `UserInactive`"}})
async def assign_user(body: AssignUser, caller: Operator, eng: Engine,
                      locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await row_or_404(conn, LOCKER, locker_id)
        if body.userId is not None:
            user = await row_or_404(conn, USER, body.userId)
            if not user.active:
                raise ApiError(409, "UserInactive", f"user {user.username!r} is not active")
            if locker.assigned_user_id not in (None, body.userId):
                raise ApiError(409, "BayAssigned", f"locker {locker_id} is assigned to user "
                                                   f"{locker.assigned_user_id}; unassign it first")
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
            assigned_user_id=body.userId))
        await audit(conn, actor(caller), "bay.assign_user" if body.userId else "bay.unassign_user",
                    locker_id=locker_id, device_id=locker.device_id, user_id=body.userId,
                    previous=locker.assigned_user_id)
    return await _bay_of(eng, locker_id)


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


# ================================================================================================
# Locker types
# ================================================================================================
class LockerTypeIn(Body):
    model_config = examples({"name": "Medium with outlet", "size": "M", "hasCharging": True},
                            {"name": "Screen", "size": "L", "alwaysOos": True,
                             "description": "the kiosk screen; never rented"})

    name: Name
    size: Size = "M"
    hasCharging: bool = False
    alwaysOos: bool = Field(False, description="Never rented (a screen, say).")
    description: Description | None = None


class LockerTypePatch(Body):
    model_config = examples({"hasCharging": False})

    name: Name = Field(None)
    size: Size = Field(None)
    hasCharging: bool = Field(None)
    alwaysOos: bool = Field(None)
    description: Description | None = None


def _locker_type(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "size": row.size, "hasCharging": row.has_charging,
            "alwaysOos": row.always_oos, "description": row.description}


@router.get("/api/admin/locker-types", tags=["lockers"], summary="Locker types")
async def list_locker_types(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, select(TYPES).order_by(TYPES.c.name), q,
                         [TYPES.c.name, TYPES.c.description], _locker_type)


@router.post("/api/admin/locker-types", tags=["lockers"], status_code=201, summary="Add a locker type",
             responses={409: {"description": "`LockerTypeExists`"}})
async def add_locker_type(body: LockerTypeIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    return await get_locker_type(caller, eng, await create(eng, caller, LOCKER_TYPE, body.model_dump()))


@router.get("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Get a locker type",
            responses=NOT_FOUND)
async def get_locker_type(_: Reader, eng: Engine, type_id: LockerTypeId) -> dict[str, Any]:
    return await one(eng, LOCKER_TYPE, type_id, shape=_locker_type)


@router.patch("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Edit a locker type",
              responses={**NOT_FOUND, 409: {"description": "`LockerTypeExists`"}})
async def update_locker_type(request: Request, body: LockerTypePatch, caller: Operator,
                             eng: Engine, type_id: LockerTypeId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    await patch(eng, caller, LOCKER_TYPE, type_id, values)
    if "alwaysOos" in values:  # its lockers' bays go into maintenance or come out of it
        async with eng.connect() as conn:
            identities = (await conn.execute(select(LOCKERS.c.identity).where(
                LOCKERS.c.locker_type_id == type_id))).scalars().all()
        for identity in identities:
            await sites(request).apply_service_state(identity)
    return await get_locker_type(caller, eng, type_id)


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
                     port: str | None = Query(None, max_length=32, pattern=PRINTABLE)) -> dict[str, Any]:
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


# ================================================================================================
# Log
# ================================================================================================
def _log(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"raw": row.details}
    return {"id": row.id, "at": iso(row.at), "actor": row.actor, "action": row.action,
            "lockerId": row.locker_id, "deviceId": row.device_id, "details": details}


@router.get("/api/logs", tags=["logs"], summary="Log list: the audit log, newest first")
async def list_logs(_: Reader, eng: Engine, page: Paging,
                    action: str | None = Query(None, max_length=48, pattern=PRINTABLE,
                                               description="Exact, or a prefix ending in `.` (`locker.`)."),
                    lockerId: FilterId = None, deviceId: FilterId = None,
                    actor_: str | None = Query(None, alias="actor", max_length=100, pattern=PRINTABLE),
                    since: datetime | None = Query(None, description="From this time (inclusive)."),
                    until: datetime | None = Query(None, description="Before this time.")) -> dict[str, Any]:
    query = select(AUDIT).order_by(AUDIT.c.id.desc())
    if action:
        query = query.where(AUDIT.c.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AUDIT.c.action == action)
    if since is not None:
        query = query.where(AUDIT.c.at >= utc(since))
    if until is not None:
        query = query.where(AUDIT.c.at < utc(until))
    return await page_of(eng, page, query, None, [], _log,
                         where=[(AUDIT.c.locker_id, lockerId), (AUDIT.c.device_id, deviceId),
                                (AUDIT.c.actor, actor_)])
