"""The locker back office (seed 000 "Web"): shifts, shift devices, devices, bays, lockers, locker
types, banks, users, groups, locations, roles, countries and the audit log, under ``/api/…``.

Conventions:

- Bodies and answers use camelCase, as the vendor's API does; lists take ``page``/``page_size``
  and a ``q`` search (case-insensitive substring) and answer ``{items, total, page, page_size}``.
- Errors are ``{code, message}``: 404 ``<Thing>NotFound`` (also for an id named in a body), 409 for
  duplicates and for changes the current state forbids, 422 ``ValidationError``.
- Every change is written to the audit log in the same database transaction, the caller as actor.
- Roles: admin everything; operator manages devices, bays, lockers, banks, locker types, shifts,
  groups and locations; viewer (and operator) reads everything, users and roles included (never a
  password hash); only admins change users and roles; integrator tokens have no back-office
  access; kiosk tokens read only their own device's lockers (``/api/admin/lockers``).
- Lockers and the bridge are one truth: a locker added here (or a bank moved to a port the bridge
  has) is driven by the bridge at once, through :meth:`SiteService.drive`.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.auth import Caller, require
from api.deps import Page, jsonable, page_params, paginate
from api.errors import ApiError
from api.models import ApiToken
from api.routes.locker_auth import PERMISSIONS, load_permissions
from api.sites import actor, scoped, sites
from common.passwords import hash_password
from csms.timeutil import iso, now_utc, utc
from locker_bridge.service import BridgeService
from locker_bridge.sites.models import (
    Area,
    AuditEntry,
    Bank,
    BankType,
    Country,
    Device,
    Location,
    Locker,
    LockerType,
    Rental,
    Role,
    Shift,
    ShiftDevice,
    User,
    UserGroup,
    UserGroupMember,
)
from locker_bridge.sites.service import audit

router = APIRouter()

AREAS, AUDIT, BANKS, BANK_TYPES = Area.__table__, AuditEntry.__table__, Bank.__table__, BankType.__table__
COUNTRIES, DEVICES, LOCATIONS = Country.__table__, Device.__table__, Location.__table__
LOCKERS, TYPES, RENTALS, ROLES = Locker.__table__, LockerType.__table__, Rental.__table__, Role.__table__
SHIFTS, SHIFT_DEVICES, USERS = Shift.__table__, ShiftDevice.__table__, User.__table__
GROUPS, MEMBERS, TOKENS = UserGroup.__table__, UserGroupMember.__table__, ApiToken.__table__

ONLINE_WINDOW = timedelta(minutes=2)  # a device is online if its last heartbeat is this recent
MAX_ID = 2**63 - 1

# -- roles ---------------------------------------------------------------------------------------
Reader = Annotated[Caller, Depends(require("operator", "viewer"))]
Operator = Annotated[Caller, Depends(require("operator"))]
Admin = Annotated[Caller, Depends(require("admin"))]
LockerReader = Annotated[Caller, Depends(require("operator", "viewer", "kiosk"))]

# -- shared types --------------------------------------------------------------------------------
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL in text)
_IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # safe in a URL path and as an OCPP identity


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                        pattern=_PRINTABLE)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000,
                                               pattern=_PRINTABLE)]
RoleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48,
                                            pattern=_PRINTABLE)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48,
                                        pattern=_IDENT)]
BankName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                            pattern=_IDENT)]
PortName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/-]+$")]
Username = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                            max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=_PRINTABLE)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200,
                                         pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32,
                                         pattern=r"^\+?[0-9 ()-]+$")]
CountryCode = Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Annotated[int, Field(ge=1, le=7)]
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]
Permission = Literal["admin", "operate", "view"]
Size = Literal["S", "M", "L", "XL"]
BoardAddress = Annotated[int, Field(ge=1, le=31, description="The board's RS-485 address.")]
BayNumber = Annotated[int, Field(ge=1, le=48, description="The bay (door) number on its board.")]

Search = Annotated[str | None, Query(max_length=100, pattern=_PRINTABLE,
                                     description="Case-insensitive substring search.")]
Paging = Annotated[Page, Depends(page_params)]


ShiftId = Annotated[int, Path(alias="shiftId", ge=1, le=MAX_ID)]
ShiftDeviceId = Annotated[int, Path(alias="shiftDeviceId", ge=1, le=MAX_ID)]
DeviceId = Annotated[int, Path(alias="deviceId", ge=1, le=MAX_ID)]
LockerId = Annotated[int, Path(alias="lockerId", ge=1, le=MAX_ID)]
LockerTypeId = Annotated[int, Path(alias="lockerTypeId", ge=1, le=MAX_ID)]
BankId = Annotated[int, Path(alias="bankId", ge=1, le=MAX_ID)]
UserId = Annotated[int, Path(alias="userId", ge=1, le=MAX_ID)]
GroupId = Annotated[int, Path(alias="groupId", ge=1, le=MAX_ID)]
LocationId = Annotated[int, Path(alias="locationId", ge=1, le=MAX_ID)]
RoleId = Annotated[int, Path(alias="roleId", ge=1, le=MAX_ID)]
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """Request bodies: unknown fields are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


def _unique(values: list[Any]) -> list[Any]:
    return sorted(set(values))


Unique = AfterValidator(_unique)  # lists are sets here: sorted, without repeats


def engine(request: Request) -> AsyncEngine:
    return request.app.state.central.engine  # type: ignore[no-any-return]


Engine = Annotated[AsyncEngine, Depends(engine)]


def _search(q: str | None, *columns: Any) -> Any:
    return or_(*(c.icontains(q, autoescape=True) for c in columns))


async def _must_exist(conn: AsyncConnection, table: Any, key: Any, code: str, what: str) -> Any:
    """The row ``key`` of ``table`` (by primary key), or 404 ``code``."""
    if key is None:
        return None
    pk = next(iter(table.primary_key.columns))
    row = (await conn.execute(select(table).where(pk == key))).first()
    if row is None:
        raise ApiError(404, code, f"no {what} {key}")
    return row


async def _taken(conn: AsyncConnection, table: Any, column: Any, value: Any,
                 except_id: int | None = None) -> bool:
    query = select(table.c.id).where(column == value)
    if except_id is not None:
        query = query.where(table.c.id != except_id)
    return (await conn.execute(query)).first() is not None


async def _revoke_tokens(conn: AsyncConnection, which: Any) -> None:
    """Log users (or kiosks) out: the login tokens ``which`` selects stop working at once.
    Tokens made with /api/v1/tokens have no user or device, so no clause here reaches them."""
    await conn.execute(update(TOKENS).where(TOKENS.c.revoked_at.is_(None), which)
                       .values(revoked_at=now_utc()))


async def _write(eng: AsyncEngine, work: Any, code: str, message: str) -> Any:
    """Run ``work(conn)`` in one transaction; a constraint violation becomes 409 ``code``."""
    try:
        async with eng.begin() as conn:
            return await work(conn)
    except IntegrityError:
        raise ApiError(409, code, message) from None


async def _one(eng: AsyncEngine, query: Any, shape: Any, code: str, message: str) -> dict[str, Any]:
    async with eng.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise ApiError(404, code, message)
    return shape(row)  # type: ignore[no-any-return]


def _json_list(raw: str | None) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


NOT_FOUND = {404: {"description": "`…NotFound`: the resource, or one an id in the body names"}}


# ================================================================================================
# Shifts
# ================================================================================================
class ShiftIn(Body):
    model_config = _examples({"name": "Morning", "starts": "06:00", "ends": "14:00", "days": [1, 2, 3, 4, 5]})

    name: Name
    starts: HHMM = Field(description="HH:MM, the site's local time.")
    ends: HHMM = Field(description="HH:MM; before `starts` for a shift over midnight.")
    days: Annotated[list[Weekday], Unique] = Field([1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7,
                                description="ISO weekdays, 1 = Monday.")


class ShiftPatch(Body):
    model_config = _examples({"ends": "15:00"}, {"days": [6, 7]})

    name: Name = Field(None)
    starts: HHMM = Field(None)
    ends: HHMM = Field(None)
    days: Annotated[list[Weekday], Unique] = Field(None, min_length=1, max_length=7)


def _shift(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "starts": row.starts, "ends": row.ends,
            "days": _json_list(row.days)}


def _shift_values(values: dict[str, Any]) -> dict[str, Any]:
    if "days" in values:
        values["days"] = json.dumps(values["days"])
    return values


@router.get("/api/shifts", tags=["shifts"], summary="Shift list")
async def list_shifts(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    query = select(SHIFTS).order_by(SHIFTS.c.starts, SHIFTS.c.name)
    if q:
        query = query.where(_search(q, SHIFTS.c.name))
    return await paginate(eng, query, page, _shift)


@router.post("/api/shifts", tags=["shifts"], status_code=201, summary="Add a shift",
             responses={409: {"description": "`ShiftExists`: the name is taken"}})
async def add_shift(body: ShiftIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, SHIFTS, SHIFTS.c.name, body.name):
            raise ApiError(409, "ShiftExists", f"a shift named {body.name!r} exists")
        result = await conn.execute(SHIFTS.insert().values(**_shift_values(body.model_dump())))
        shift_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "shift.add", shift_id=shift_id, **body.model_dump())
        return shift_id

    shift_id = await _write(eng, work, "ShiftExists", f"a shift named {body.name!r} exists")
    return await get_shift(caller, eng, shift_id)


@router.get("/api/shifts/{shiftId}", tags=["shifts"], summary="Get a shift", responses=NOT_FOUND)
async def get_shift(_: Reader, eng: Engine, shift_id: ShiftId) -> dict[str, Any]:
    return await _one(eng, select(SHIFTS).where(SHIFTS.c.id == shift_id), _shift,
                      "ShiftNotFound", f"no shift {shift_id}")


@router.patch("/api/shifts/{shiftId}", tags=["shifts"], summary="Update a shift",
              responses={**NOT_FOUND, 409: {"description": "`ShiftExists`"}})
async def update_shift(body: ShiftPatch, caller: Operator, eng: Engine,
                       shift_id: ShiftId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def work(conn: AsyncConnection) -> None:
        await _must_exist(conn, SHIFTS, shift_id, "ShiftNotFound", "shift")
        if "name" in values and await _taken(conn, SHIFTS, SHIFTS.c.name, values["name"], shift_id):
            raise ApiError(409, "ShiftExists", f"a shift named {values['name']!r} exists")
        if values:
            await conn.execute(update(SHIFTS).where(SHIFTS.c.id == shift_id).values(
                **_shift_values(dict(values))))
            await audit(conn, actor(caller), "shift.edit", shift_id=shift_id, **values)

    await _write(eng, work, "ShiftExists", "the shift name is taken")
    return await get_shift(caller, eng, shift_id)


@router.delete("/api/shifts/{shiftId}", tags=["shifts"], status_code=204, summary="Delete a shift",
               responses=NOT_FOUND)
async def delete_shift(caller: Operator, eng: Engine, shift_id: ShiftId) -> None:
    async with eng.begin() as conn:
        row = await _must_exist(conn, SHIFTS, shift_id, "ShiftNotFound", "shift")
        await conn.execute(delete(SHIFTS).where(SHIFTS.c.id == shift_id))  # its devices go with it
        await audit(conn, actor(caller), "shift.delete", shift_id=shift_id, name=row.name)


# ================================================================================================
# Shift devices
# ================================================================================================
class ShiftDeviceIn(Body):
    model_config = _examples({"shiftId": 1, "deviceId": 1})

    shiftId: RefId
    deviceId: RefId


class ShiftDevicePatch(Body):
    model_config = _examples({"deviceId": 2})

    shiftId: RefId = Field(None)
    deviceId: RefId = Field(None)


def _shift_device_query() -> Select[Any]:
    return (select(SHIFT_DEVICES.c.id, SHIFT_DEVICES.c.shift_id.label("shiftId"),
                   SHIFTS.c.name.label("shiftName"), SHIFT_DEVICES.c.device_id.label("deviceId"),
                   DEVICES.c.code.label("deviceCode"), DEVICES.c.name.label("deviceName"))
            .select_from(SHIFT_DEVICES.join(SHIFTS, SHIFTS.c.id == SHIFT_DEVICES.c.shift_id)
                         .join(DEVICES, DEVICES.c.id == SHIFT_DEVICES.c.device_id)))


async def _check_shift_device(conn: AsyncConnection, shift_id: int, device_id: int,
                              except_id: int | None = None) -> None:
    await _must_exist(conn, SHIFTS, shift_id, "ShiftNotFound", "shift")
    await _must_exist(conn, DEVICES, device_id, "DeviceNotFound", "device")
    query = select(SHIFT_DEVICES.c.id).where(SHIFT_DEVICES.c.shift_id == shift_id,
                                             SHIFT_DEVICES.c.device_id == device_id)
    if except_id is not None:
        query = query.where(SHIFT_DEVICES.c.id != except_id)
    if (await conn.execute(query)).first() is not None:
        raise ApiError(409, "ShiftDeviceExists", f"device {device_id} is already on shift {shift_id}")


@router.get("/api/shift-devices", tags=["shift devices"], summary="List shift devices")
async def list_shift_devices(_: Reader, eng: Engine, page: Paging, q: Search = None,
                             shiftId: FilterId = None, deviceId: FilterId = None) -> dict[str, Any]:
    query = _shift_device_query().order_by(SHIFT_DEVICES.c.id)
    if q:
        query = query.where(_search(q, SHIFTS.c.name, DEVICES.c.code, DEVICES.c.name))
    if shiftId is not None:
        query = query.where(SHIFT_DEVICES.c.shift_id == shiftId)
    if deviceId is not None:
        query = query.where(SHIFT_DEVICES.c.device_id == deviceId)
    return await paginate(eng, query, page)


@router.post("/api/shift-devices", tags=["shift devices"], status_code=201, summary="Add a shift device",
             responses={**NOT_FOUND, 409: {"description": "`ShiftDeviceExists`"}})
async def add_shift_device(body: ShiftDeviceIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        await _check_shift_device(conn, body.shiftId, body.deviceId)
        result = await conn.execute(SHIFT_DEVICES.insert().values(
            shift_id=body.shiftId, device_id=body.deviceId))
        new_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "shift_device.add", device_id=body.deviceId,
                    shift_device_id=new_id, shift_id=body.shiftId)
        return new_id

    new_id = await _write(eng, work, "ShiftDeviceExists", "the device is already on that shift")
    return await get_shift_device(caller, eng, new_id)


@router.get("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], summary="Get a shift device",
            responses=NOT_FOUND)
async def get_shift_device(_: Reader, eng: Engine,
                           shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    return await _one(eng, _shift_device_query().where(SHIFT_DEVICES.c.id == shift_device_id),
                      jsonable, "ShiftDeviceNotFound", f"no shift device {shift_device_id}")


@router.patch("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"],
              summary="Update a shift device",
              responses={**NOT_FOUND, 409: {"description": "`ShiftDeviceExists`"}})
async def update_shift_device(body: ShiftDevicePatch, caller: Operator, eng: Engine,
                              shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> None:
        row = await _must_exist(conn, SHIFT_DEVICES, shift_device_id, "ShiftDeviceNotFound",
                                "shift device")
        shift_id = body.shiftId or row.shift_id
        device_id = body.deviceId or row.device_id
        await _check_shift_device(conn, shift_id, device_id, shift_device_id)
        await conn.execute(update(SHIFT_DEVICES).where(SHIFT_DEVICES.c.id == shift_device_id)
                           .values(shift_id=shift_id, device_id=device_id))
        await audit(conn, actor(caller), "shift_device.edit", device_id=device_id,
                    shift_device_id=shift_device_id, shift_id=shift_id)

    await _write(eng, work, "ShiftDeviceExists", "the device is already on that shift")
    return await get_shift_device(caller, eng, shift_device_id)


@router.delete("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], status_code=204,
               summary="Delete a shift device", responses=NOT_FOUND)
async def delete_shift_device(caller: Operator, eng: Engine,
                              shift_device_id: ShiftDeviceId) -> None:
    async with eng.begin() as conn:
        row = await _must_exist(conn, SHIFT_DEVICES, shift_device_id, "ShiftDeviceNotFound",
                                "shift device")
        await conn.execute(delete(SHIFT_DEVICES).where(SHIFT_DEVICES.c.id == shift_device_id))
        await audit(conn, actor(caller), "shift_device.delete", device_id=row.device_id,
                    shift_device_id=shift_device_id, shift_id=row.shift_id)


# ================================================================================================
# Devices
# ================================================================================================
class DeviceIn(Body):
    model_config = _examples({"code": "KIOSK-1", "name": "Lobby kiosk", "kind": "kiosk",
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
    model_config = _examples({"name": "Lobby kiosk (east)"}, {"password": "a new kiosk secret"})

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
            "locationId": row.location_id, "areaId": row.area_id, "ports": _json_list(row.ports),
            "hasPassword": row.password_hash is not None, "online": _online(last, now),
            "lastHeartbeatAt": iso(last), "heartbeat": heartbeat, "createdAt": iso(row.created_at)}


async def _place(conn: AsyncConnection, location_id: int | None, area_id: int | None) -> int | None:
    """Check a (location, area) pair; returns the location (the area's, when none was given)."""
    await _must_exist(conn, LOCATIONS, location_id, "LocationNotFound", "location")
    area = await _must_exist(conn, AREAS, area_id, "AreaNotFound", "area")
    if area is None:
        return location_id
    if location_id is not None and area.location_id != location_id:
        raise ApiError(422, "AreaNotInLocation", f"area {area_id} is not in location {location_id}")
    return int(area.location_id)


@router.get("/api/devices", tags=["devices"], summary="List devices")
async def list_devices(_: Reader, eng: Engine, page: Paging, q: Search = None,
                       kind: Literal["kiosk", "controller"] | None = None,
                       locationId: FilterId = None) -> dict[str, Any]:
    query = select(DEVICES).order_by(DEVICES.c.code)
    if q:
        query = query.where(_search(q, DEVICES.c.code, DEVICES.c.name))
    if kind:
        query = query.where(DEVICES.c.kind == kind)
    if locationId is not None:
        query = query.where(DEVICES.c.location_id == locationId)
    return await paginate(eng, query, page, _device)


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
    if q:
        query = query.where(_search(q, DEVICES.c.code, DEVICES.c.name))
    if online is not None:
        query = query.where(is_online if online else or_(DEVICES.c.last_heartbeat_at.is_(None),
                                                         DEVICES.c.last_heartbeat_at < cutoff))
    now = now_utc()

    def shape(row: Any) -> dict[str, Any]:
        last = utc(row.last_heartbeat_at)
        return {"id": row.id, "code": row.code, "name": row.name, "kind": row.kind,
                "online": _online(last, now), "lastHeartbeatAt": iso(last),
                "secondsSinceHeartbeat": None if last is None else max(0, int((now - last).total_seconds()))}

    result = await paginate(eng, query, page, shape)
    async with eng.connect() as conn:
        total_online = (await conn.execute(
            select(func.count()).select_from(DEVICES).where(is_online))).scalar_one()
    return {**result, "onlineWindowSeconds": int(ONLINE_WINDOW.total_seconds()), "online": total_online}


@router.post("/api/devices", tags=["devices"], status_code=201, summary="Add a device",
             responses={**NOT_FOUND, 409: {"description": "`DeviceExists`: the code is taken"},
                        422: {"description": "`ValidationError`; `AreaNotInLocation`"}})
async def add_device(body: DeviceIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    password_hash = await asyncio.to_thread(hash_password, body.password) if body.password else None

    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, DEVICES, DEVICES.c.code, body.code):
            raise ApiError(409, "DeviceExists", f"a device with code {body.code!r} exists")
        location_id = await _place(conn, body.locationId, body.areaId)
        result = await conn.execute(DEVICES.insert().values(
            code=body.code, name=body.name, kind=body.kind, location_id=location_id,
            area_id=body.areaId, ports=json.dumps(body.ports), password_hash=password_hash,
            created_at=now_utc()))
        device_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "device.add", device_id=device_id, code=body.code,
                    name=body.name, kind=body.kind, ports=body.ports, password=body.password is not None)
        return device_id

    device_id = await _write(eng, work, "DeviceExists", f"a device with code {body.code!r} exists")
    return await get_device(caller, eng, device_id)


@router.get("/api/devices/{deviceId}", tags=["devices"], summary="Get a device", responses=NOT_FOUND)
async def get_device(_: Reader, eng: Engine, device_id: DeviceId) -> dict[str, Any]:
    return await _one(eng, select(DEVICES).where(DEVICES.c.id == device_id), _device,
                      "DeviceNotFound", f"no device {device_id}")


@router.patch("/api/devices/{deviceId}", tags=["devices"], summary="Update (edit) a device",
              responses={**NOT_FOUND, 409: {"description": "`DeviceExists`"},
                         422: {"description": "`ValidationError`; `AreaNotInLocation`"}})
async def update_device(body: DevicePatch, caller: Operator, eng: Engine,
                        device_id: DeviceId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if "password" in values:
        password = values.pop("password")
        values["password_hash"] = (await asyncio.to_thread(hash_password, password)
                                   if password is not None else None)

    async def work(conn: AsyncConnection) -> None:
        row = await _must_exist(conn, DEVICES, device_id, "DeviceNotFound", "device")
        if "code" in values and await _taken(conn, DEVICES, DEVICES.c.code, values["code"], device_id):
            raise ApiError(409, "DeviceExists", f"a device with code {values['code']!r} exists")
        changes = {k: v for k, v in values.items() if k not in ("locationId", "areaId", "ports")}
        if "ports" in values:
            changes["ports"] = json.dumps(values["ports"])
        if "locationId" in values or "areaId" in values:
            area_id = values.get("areaId", row.area_id)
            location_id = values.get("locationId", row.location_id)
            if "locationId" in values and "areaId" not in values and location_id != row.location_id:
                area_id = None  # moved elsewhere: its old area no longer applies
            changes["location_id"] = await _place(conn, location_id, area_id)
            changes["area_id"] = area_id
        if not changes:
            return
        await conn.execute(update(DEVICES).where(DEVICES.c.id == device_id).values(**changes))
        if "password_hash" in changes:
            await _revoke_tokens(conn, TOKENS.c.device_id == device_id)
        await audit(conn, actor(caller), "device.edit", device_id=device_id,
                    **{k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "password"},
                    **({"password": "changed"} if "password_hash" in changes else {}))

    await _write(eng, work, "DeviceExists", "the device code is taken")
    return await get_device(caller, eng, device_id)


@router.delete("/api/devices/{deviceId}", tags=["devices"], status_code=204, summary="Delete a device",
               responses=NOT_FOUND)
async def delete_device(caller: Operator, eng: Engine, device_id: DeviceId) -> None:
    """Its lockers and banks stay (unassigned), its shift entries go, its kiosks are logged out."""
    async with eng.begin() as conn:
        row = await _must_exist(conn, DEVICES, device_id, "DeviceNotFound", "device")
        await conn.execute(delete(DEVICES).where(DEVICES.c.id == device_id))
        await _revoke_tokens(conn, TOKENS.c.device_id == device_id)
        await audit(conn, actor(caller), "device.delete", device_id=device_id, code=row.code)


# ================================================================================================
# Lockers, bays
# ================================================================================================
def _locker_query() -> Select[Any]:
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bank_id.label("bankId"),
                   BANKS.c.name.label("bank"), BANKS.c.port, BANKS.c.address, LOCKERS.c.bay,
                   LOCKERS.c.locker_type_id.label("lockerTypeId"), TYPES.c.name.label("lockerType"),
                   LOCKERS.c.device_id.label("deviceId"), DEVICES.c.code.label("deviceCode"),
                   LOCKERS.c.assigned_user_id.label("assignedUserId"),
                   USERS.c.username.label("assignedUsername"),
                   LOCKERS.c.out_of_service.label("outOfService"), LOCKERS.c.reason_code.label("reasonCode"),
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
    bridge = _bridge(request)

    def shape(row: Any) -> dict[str, Any]:
        out = jsonable(row)
        door = out.pop("doorOpen")
        out["door"] = None if door is None else ("open" if door else "closed")
        out["driven"] = bridge is not None and row.identity in bridge.cps
        return out

    return shape


async def _locker(request: Request, eng: Engine, caller: Caller, locker_id: int) -> dict[str, Any]:
    return await _one(eng, scoped(_locker_query().where(LOCKERS.c.id == locker_id), caller),
                      _locker_shape(request), "LockerNotFound", f"no locker {locker_id}")


def _bay(row: Any) -> dict[str, Any]:
    return {"lockerId": row.id, "identity": row.identity, "bankId": row.bankId, "bank": row.bank,
            "bay": row.bay, "deviceId": row.deviceId, "deviceCode": row.deviceCode,
            "assignedUserId": row.assignedUserId, "assignedUsername": row.assignedUsername}


async def _bay_of(eng: Engine, locker_id: int) -> dict[str, Any]:
    return await _one(eng, _locker_query().where(LOCKERS.c.id == locker_id), _bay,
                      "LockerNotFound", f"no locker {locker_id}")


@router.get("/api/bays", tags=["bays"], summary="List bays (lockers with their device and user)")
async def list_bays(_: Reader, eng: Engine, page: Paging, q: Search = None, bankId: FilterId = None,
                    deviceId: FilterId = None,
                    assigned: bool | None = Query(None, description="Only bays with (true) or "
                                                                    "without (false) a user.")
                    ) -> dict[str, Any]:
    query = _locker_query().order_by(BANKS.c.name, LOCKERS.c.bay)
    if q:
        query = query.where(_search(q, LOCKERS.c.identity, BANKS.c.name))
    if bankId is not None:
        query = query.where(LOCKERS.c.bank_id == bankId)
    if deviceId is not None:
        query = query.where(LOCKERS.c.device_id == deviceId)
    if assigned is not None:
        column = LOCKERS.c.assigned_user_id
        query = query.where(column.is_not(None) if assigned else column.is_(None))
    return await paginate(eng, query, page, _bay)


class AssignDevice(Body):
    model_config = _examples({"deviceId": 1})

    deviceId: RefId


class AssignUser(Body):
    model_config = _examples({"userId": 1})

    userId: RefId | None = Field(description="null unassigns the bay's user.")


@router.post("/api/bays/{lockerId}/assign-device", tags=["bays"], summary="Assign a device to a bay",
             responses=NOT_FOUND)
async def assign_device(body: AssignDevice, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await _must_exist(conn, LOCKERS, locker_id, "LockerNotFound", "locker")
        await _must_exist(conn, DEVICES, body.deviceId, "DeviceNotFound", "device")
        await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=body.deviceId))
        await audit(conn, actor(caller), "bay.assign_device", locker_id=locker_id,
                    device_id=body.deviceId, previous=locker.device_id)
    return await _bay_of(eng, locker_id)


@router.post("/api/bays/{lockerId}/unassign-device", tags=["bays"],
             summary="Unassign a bay's device", responses=NOT_FOUND)
async def unassign_device(caller: Operator, eng: Engine, locker_id: LockerId) -> dict[str, Any]:
    async with eng.begin() as conn:
        locker = await _must_exist(conn, LOCKERS, locker_id, "LockerNotFound", "locker")
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
        locker = await _must_exist(conn, LOCKERS, locker_id, "LockerNotFound", "locker")
        if body.userId is not None:
            user = await _must_exist(conn, USERS, body.userId, "UserNotFound", "user")
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
    model_config = _examples({"bankId": 1, "bay": 5, "lockerTypeId": 1},
                             {"bankId": 1, "bay": 6, "identity": "LOCKER-A-SCREEN", "deviceId": 1})

    bankId: RefId
    bay: BayNumber
    lockerTypeId: RefId | None = None
    identity: Code = Field(None, description="Its charge point id; default `{bank}-{bay:02d}`.")
    deviceId: RefId | None = Field(None, description="Default: the bank's device.")


class LockerPatch(Body):
    model_config = _examples({"lockerTypeId": 1})

    lockerTypeId: RefId | None = None


def _bridge_conflict(bridge: BridgeService | None, identity: str, port: str, address: int,
                     bay: int) -> ApiError | None:
    """The bridge cannot drive this locker as entered: the identity drives another bay, or the
    bay is driven under another identity (a locker deleted here keeps its bay until a restart)."""
    if bridge is None:
        return None
    for cp_identity, cp in bridge.cps.items():
        same_bay = (cp.bay.port, cp.bay.address, cp.bay.number) == (port, address, bay)
        if cp_identity == identity and not same_bay:
            return ApiError(409, "IdentityDrivenElsewhere", f"the bridge drives {identity!r} at "
                            f"{cp.bay.port} board {cp.bay.address} bay {cp.bay.number}")
        if same_bay and cp_identity != identity:
            return ApiError(409, "BayDrivenByBridge", f"the bridge drives {port} board {address} "
                            f"bay {bay} as {cp_identity!r}")
    return None


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
    query = scoped(_locker_query(), caller).order_by(BANKS.c.name, LOCKERS.c.bay)
    if q:
        query = query.where(_search(q, LOCKERS.c.identity, BANKS.c.name))
    for column, value in ((LOCKERS.c.bank_id, bankId), (LOCKERS.c.device_id, deviceId),
                          (LOCKERS.c.locker_type_id, lockerTypeId), (LOCKERS.c.out_of_service, outOfService)):
        if value is not None:
            query = query.where(column == value)
    return await paginate(eng, query, page, _locker_shape(request))


@router.get("/api/admin/lockers/maintenance", tags=["lockers"],
            summary="Maintenance list: lockers out of service or with a broken lock")
async def maintenance_list(request: Request, _: Reader, eng: Engine, page: Paging,
                           q: Search = None) -> dict[str, Any]:
    query = (_locker_query().where(or_(LOCKERS.c.out_of_service.is_(True), LOCKERS.c.broken_lock.is_(True)))
             .order_by(BANKS.c.name, LOCKERS.c.bay))
    if q:
        query = query.where(_search(q, LOCKERS.c.identity, BANKS.c.name, LOCKERS.c.reason,
                                    LOCKERS.c.reason_code))
    return await paginate(eng, query, page, _locker_shape(request))


@router.post("/api/admin/lockers", tags=["lockers"], status_code=201,
             summary="Add a locker (a bay of a bank); the bridge drives it at once",
             responses={**NOT_FOUND,
                        409: {"description": "`BayTaken`; `LockerExists` (identity); "
                                             "`IdentityDrivenElsewhere`, `BayDrivenByBridge`"},
                        422: {"description": "`ValidationError`; `IdentityRequired`: the bank's name "
                                             "makes no valid default identity"}})
async def add_locker(request: Request, body: LockerIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    """``driven`` says whether the bridge drives it; if not, ``message`` says why."""
    bridge = _bridge(request)

    async def work(conn: AsyncConnection) -> tuple[int, Any, str]:
        bank = await _must_exist(conn, BANKS, body.bankId, "BankNotFound", "bank")
        await _must_exist(conn, TYPES, body.lockerTypeId, "LockerTypeNotFound", "locker type")
        await _must_exist(conn, DEVICES, body.deviceId, "DeviceNotFound", "device")
        identity = body.identity or f"{bank.name}-{body.bay:02d}"
        if len(identity) > 48 or not re.fullmatch(_IDENT[1:-1], identity):
            raise ApiError(422, "IdentityRequired", f"{identity!r} is no valid identity: give one")
        if (await conn.execute(select(LOCKERS.c.identity).where(
                LOCKERS.c.bank_id == bank.id, LOCKERS.c.bay == body.bay))).first() is not None:
            raise ApiError(409, "BayTaken", f"bank {bank.name!r} bay {body.bay} is a locker already")
        if await _taken(conn, LOCKERS, LOCKERS.c.identity, identity):
            raise ApiError(409, "LockerExists", f"a locker {identity!r} exists")
        conflict = _bridge_conflict(bridge, identity, bank.port, bank.address, body.bay)
        if conflict is not None:
            raise conflict
        result = await conn.execute(LOCKERS.insert().values(
            identity=identity, bank_id=bank.id, bay=body.bay, locker_type_id=body.lockerTypeId,
            device_id=body.deviceId or bank.device_id, created_at=now_utc()))
        locker_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "locker.add", locker_id=locker_id,
                    device_id=body.deviceId or bank.device_id, identity=identity, bank=bank.name,
                    bay=body.bay, lockerTypeId=body.lockerTypeId)
        return locker_id, bank, identity

    locker_id, bank, identity = await _write(eng, work, "LockerExists", "the locker exists")
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
        locker = await _must_exist(conn, LOCKERS, locker_id, "LockerNotFound", "locker")
        if "lockerTypeId" in values:
            await _must_exist(conn, TYPES, body.lockerTypeId, "LockerTypeNotFound", "locker type")
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
                locker_type_id=body.lockerTypeId))
            await audit(conn, actor(caller), "locker.edit", locker_id=locker_id,
                        device_id=locker.device_id, **values)
    return await _locker(request, eng, caller, locker_id)


@router.delete("/api/admin/lockers/{lockerId}", tags=["lockers"], summary="Delete a locker",
               responses={**NOT_FOUND, 409: {"description": "`LockerInUse`: a rental holds it"}})
async def delete_locker(request: Request, caller: Operator, eng: Engine,
                        locker_id: LockerId) -> dict[str, Any]:
    """The bridge has no way to let go of a bay while it runs: it keeps driving a deleted locker
    until it restarts, and a bay from its YAML comes back then (``stillDriven`` says so)."""
    async with eng.begin() as conn:
        locker = await _must_exist(conn, LOCKERS, locker_id, "LockerNotFound", "locker")
        rental = (await conn.execute(select(RENTALS.c.id).where(
            RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None)))).first()
        if rental is not None:
            raise ApiError(409, "LockerInUse", f"rental {rental.id} holds locker {locker_id}; "
                                               "release it first")
        await conn.execute(delete(LOCKERS).where(LOCKERS.c.id == locker_id))
        await audit(conn, actor(caller), "locker.delete", locker_id=locker_id,
                    device_id=locker.device_id, identity=locker.identity)
    bridge = _bridge(request)
    driven = bridge is not None and locker.identity in bridge.cps
    return {"id": locker_id, "identity": locker.identity, "deleted": True, "stillDriven": driven,
            "message": ("the bridge drives this bay until it restarts (a bay from its "
                        "configuration file comes back then)") if driven else "deleted"}


# ================================================================================================
# Locker types
# ================================================================================================
class LockerTypeIn(Body):
    model_config = _examples({"name": "Medium with outlet", "size": "M", "hasCharging": True},
                             {"name": "Screen", "size": "L", "alwaysOos": True,
                              "description": "the kiosk screen; never rented"})

    name: Name
    size: Size = "M"
    hasCharging: bool = False
    alwaysOos: bool = Field(False, description="Never rented (a screen, say).")
    description: Description | None = None


class LockerTypePatch(Body):
    model_config = _examples({"hasCharging": False})

    name: Name = Field(None)
    size: Size = Field(None)
    hasCharging: bool = Field(None)
    alwaysOos: bool = Field(None)
    description: Description | None = None


_TYPE_COLUMNS = {"name": "name", "size": "size", "hasCharging": "has_charging",
                 "alwaysOos": "always_oos", "description": "description"}


def _locker_type(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "size": row.size, "hasCharging": row.has_charging,
            "alwaysOos": row.always_oos, "description": row.description}


@router.get("/api/admin/locker-types", tags=["lockers"], summary="Locker types")
async def list_locker_types(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    query = select(TYPES).order_by(TYPES.c.name)
    if q:
        query = query.where(_search(q, TYPES.c.name, TYPES.c.description))
    return await paginate(eng, query, page, _locker_type)


@router.post("/api/admin/locker-types", tags=["lockers"], status_code=201, summary="Add a locker type",
             responses={409: {"description": "`LockerTypeExists`"}})
async def add_locker_type(body: LockerTypeIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, TYPES, TYPES.c.name, body.name):
            raise ApiError(409, "LockerTypeExists", f"a locker type {body.name!r} exists")
        result = await conn.execute(TYPES.insert().values(
            {_TYPE_COLUMNS[k]: v for k, v in body.model_dump().items()}))
        type_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "locker_type.add", locker_type_id=type_id, **body.model_dump())
        return type_id

    type_id = await _write(eng, work, "LockerTypeExists", f"a locker type {body.name!r} exists")
    return await get_locker_type(caller, eng, type_id)


@router.get("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Get a locker type",
            responses=NOT_FOUND)
async def get_locker_type(_: Reader, eng: Engine, type_id: LockerTypeId) -> dict[str, Any]:
    return await _one(eng, select(TYPES).where(TYPES.c.id == type_id), _locker_type,
                      "LockerTypeNotFound", f"no locker type {type_id}")


@router.patch("/api/admin/locker-types/{lockerTypeId}", tags=["lockers"], summary="Edit a locker type",
              responses={**NOT_FOUND, 409: {"description": "`LockerTypeExists`"}})
async def update_locker_type(body: LockerTypePatch, caller: Operator, eng: Engine,
                             type_id: LockerTypeId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def work(conn: AsyncConnection) -> None:
        await _must_exist(conn, TYPES, type_id, "LockerTypeNotFound", "locker type")
        if "name" in values and await _taken(conn, TYPES, TYPES.c.name, values["name"], type_id):
            raise ApiError(409, "LockerTypeExists", f"a locker type {values['name']!r} exists")
        if values:
            await conn.execute(update(TYPES).where(TYPES.c.id == type_id).values(
                {_TYPE_COLUMNS[k]: v for k, v in values.items()}))
            await audit(conn, actor(caller), "locker_type.edit", locker_type_id=type_id, **values)

    await _write(eng, work, "LockerTypeExists", "the locker type name is taken")
    return await get_locker_type(caller, eng, type_id)


# ================================================================================================
# Banks (a column of lockers on one controller board: port + address)
# ================================================================================================
class BankIn(Body):
    model_config = _examples({"name": "LOCKER-B", "port": "COM2", "address": 2})

    name: BankName = Field(description="Lockers added without an identity are `{name}-{bay:02d}`.")
    port: PortName = Field(description="A serial port name as the bridge knows it (COM2, …).")
    address: BoardAddress
    bankTypeId: RefId | None = None
    deviceId: RefId | None = None
    locationId: RefId | None = None


class BankPatch(Body):
    model_config = _examples({"locationId": 1}, {"port": "COM3"})

    name: BankName = Field(None)
    port: PortName = Field(None)
    address: BoardAddress = Field(None)
    bankTypeId: RefId | None = None
    deviceId: RefId | None = None
    locationId: RefId | None = None


_BANK_COLUMNS = {"name": "name", "port": "port", "address": "address", "bankTypeId": "bank_type_id",
                 "deviceId": "device_id", "locationId": "location_id"}


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
    await _must_exist(conn, BANK_TYPES, values.get("bankTypeId"), "BankTypeNotFound", "bank type")
    await _must_exist(conn, DEVICES, values.get("deviceId"), "DeviceNotFound", "device")
    await _must_exist(conn, LOCATIONS, values.get("locationId"), "LocationNotFound", "location")


async def _board_taken(conn: AsyncConnection, port: str, address: int, except_id: int | None) -> None:
    query = select(BANKS.c.name).where(BANKS.c.port == port, BANKS.c.address == address)
    if except_id is not None:
        query = query.where(BANKS.c.id != except_id)
    found = (await conn.execute(query)).first()
    if found is not None:
        raise ApiError(409, "BankExists", f"bank {found.name!r} is {port} board {address}")


@router.get("/api/admin/banks", tags=["lockers"], summary="List banks")
async def list_banks(request: Request, _: Reader, eng: Engine, page: Paging, q: Search = None,
                     port: str | None = Query(None, max_length=32, pattern=_PRINTABLE)) -> dict[str, Any]:
    query = _bank_query().order_by(BANKS.c.name)
    if q:
        query = query.where(_search(q, BANKS.c.name, BANKS.c.port))
    if port:
        query = query.where(BANKS.c.port == port)
    return await paginate(eng, query, page, _bank_shape(request))


@router.post("/api/admin/banks", tags=["lockers"], status_code=201, summary="Add a bank",
             responses={**NOT_FOUND, 409: {"description": "`BankExists` (port + address); `BankNameTaken`"}})
async def add_bank(request: Request, body: BankIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        await _bank_refs(conn, body.model_dump())
        if await _taken(conn, BANKS, BANKS.c.name, body.name):
            raise ApiError(409, "BankNameTaken", f"a bank named {body.name!r} exists")
        await _board_taken(conn, body.port, body.address, None)
        result = await conn.execute(BANKS.insert().values(
            {_BANK_COLUMNS[k]: v for k, v in body.model_dump().items()}))
        bank_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "bank.add", device_id=body.deviceId, bank_id=bank_id,
                    **body.model_dump())
        return bank_id

    bank_id = await _write(eng, work, "BankExists", "the bank exists")
    return await get_bank(request, caller, eng, bank_id)


@router.get("/api/admin/banks/{bankId}", tags=["lockers"], summary="Get a bank", responses=NOT_FOUND)
async def get_bank(request: Request, _: Reader, eng: Engine, bank_id: BankId) -> dict[str, Any]:
    return await _one(eng, _bank_query().where(BANKS.c.id == bank_id), _bank_shape(request),
                      "BankNotFound", f"no bank {bank_id}")


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
        bank = await _must_exist(conn, BANKS, bank_id, "BankNotFound", "bank")
        await _bank_refs(conn, values)
        if "name" in values and await _taken(conn, BANKS, BANKS.c.name, values["name"], bank_id):
            raise ApiError(409, "BankNameTaken", f"a bank named {values['name']!r} exists")
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
                conflict = _bridge_conflict(bridge, row.identity, port, address, row.bay)
                if conflict is not None:
                    raise conflict
        if values:
            await conn.execute(update(BANKS).where(BANKS.c.id == bank_id).values(
                {_BANK_COLUMNS[k]: v for k, v in values.items()}))
            await audit(conn, actor(caller), "bank.edit", device_id=values.get("deviceId"),
                        bank_id=bank_id, **values)
        return ((values.get("name", bank.name), port, address) if moved else None), lockers

    board, lockers = await _write(eng, work, "BankExists", "the bank exists")
    if board is not None:
        for row in lockers:
            _drive(request, row.identity, *board, row.bay)
    return await get_bank(request, caller, eng, bank_id)


@router.delete("/api/admin/banks/{bankId}", tags=["lockers"], status_code=204, summary="Delete a bank",
               responses={**NOT_FOUND, 409: {"description": "`BankInUse`: it has lockers"}})
async def delete_bank(caller: Operator, eng: Engine, bank_id: BankId) -> None:
    async with eng.begin() as conn:
        bank = await _must_exist(conn, BANKS, bank_id, "BankNotFound", "bank")
        count = (await conn.execute(select(func.count()).where(LOCKERS.c.bank_id == bank_id))).scalar_one()
        if count:
            raise ApiError(409, "BankInUse", f"bank {bank.name!r} has {count} locker(s); delete them first")
        await conn.execute(delete(BANKS).where(BANKS.c.id == bank_id))
        await audit(conn, actor(caller), "bank.delete", bank_id=bank_id, name=bank.name)


# ================================================================================================
# Users
# ================================================================================================
class UserIn(Body):
    model_config = _examples({"username": "alice", "name": "Alice Example", "email": "alice@example.com",
                              "roleId": 1, "password": "correct horse battery"})

    username: Username = Field(description="Stored lower case.")
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    roleId: RefId | None = None
    password: Password | None = Field(None, description="Without one the user cannot log in.")
    active: bool = True


class UserPatch(Body):
    model_config = _examples({"active": False}, {"password": "another good password"})

    username: Username = Field(None)
    name: Name = Field(None)
    email: Email | None = None
    phone: Phone | None = None
    roleId: RefId | None = None
    password: Password | None = Field(None, description="null: the user can no longer log in.")
    active: bool = Field(None)


_USER_COLUMNS = {"username": "username", "name": "name", "email": "email", "phone": "phone",
                 "roleId": "role_id", "active": "active", "password_hash": "password_hash"}


def _user_query() -> Select[Any]:
    return (select(USERS, ROLES.c.name.label("role"))
            .select_from(USERS.outerjoin(ROLES, ROLES.c.id == USERS.c.role_id)))


def _user(row: Any) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "name": row.name, "email": row.email,
            "phone": row.phone, "roleId": row.role_id, "role": row.role, "active": row.active,
            "hasPassword": row.password_hash is not None, "createdAt": iso(row.created_at)}


def _user_audit(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a user change: never a password."""
    out = {k: v for k, v in values.items() if k not in ("password", "password_hash")}
    if "password" in values or "password_hash" in values:
        out["password"] = "set" if values.get("password", values.get("password_hash")) else "removed"
    return out


@router.get("/api/users", tags=["users"], summary="User list")
async def list_users(_: Reader, eng: Engine, page: Paging, q: Search = None, roleId: FilterId = None,
                     active: bool | None = None) -> dict[str, Any]:
    query = _user_query().order_by(USERS.c.username)
    if q:
        query = query.where(_search(q, USERS.c.username, USERS.c.name, USERS.c.email))
    if roleId is not None:
        query = query.where(USERS.c.role_id == roleId)
    if active is not None:
        query = query.where(USERS.c.active == active)
    return await paginate(eng, query, page, _user)


@router.post("/api/users", tags=["users"], status_code=201, summary="Add a user",
             responses={**NOT_FOUND, 409: {"description": "`UserExists`"}})
async def add_user(body: UserIn, caller: Admin, eng: Engine) -> dict[str, Any]:
    password_hash = await asyncio.to_thread(hash_password, body.password) if body.password else None

    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, USERS, USERS.c.username, body.username):
            raise ApiError(409, "UserExists", f"a user {body.username!r} exists")
        await _must_exist(conn, ROLES, body.roleId, "RoleNotFound", "role")
        values = body.model_dump(exclude={"password"})
        result = await conn.execute(USERS.insert().values(
            {**{_USER_COLUMNS[k]: v for k, v in values.items()}, "password_hash": password_hash,
             "created_at": now_utc()}))
        user_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "user.add", user_id=user_id, **_user_audit(body.model_dump()))
        return user_id

    user_id = await _write(eng, work, "UserExists", f"a user {body.username!r} exists")
    return await get_user(caller, eng, user_id)


@router.get("/api/users/{userId}", tags=["users"], summary="Get a user", responses=NOT_FOUND)
async def get_user(_: Reader, eng: Engine, user_id: UserId) -> dict[str, Any]:
    return await _one(eng, _user_query().where(USERS.c.id == user_id), _user,
                      "UserNotFound", f"no user {user_id}")


@router.patch("/api/users/{userId}", tags=["users"], summary="Edit a user",
              responses={**NOT_FOUND, 409: {"description": "`UserExists`"}})
async def update_user(body: UserPatch, caller: Admin, eng: Engine, user_id: UserId) -> dict[str, Any]:
    """A new password, role or username, or deactivation, logs the user out (their tokens are
    revoked): a token must not outlive the facts it was issued on."""
    values = body.model_dump(exclude_unset=True)
    if "password" in values:
        password = values.pop("password")
        values["password_hash"] = (await asyncio.to_thread(hash_password, password)
                                   if password is not None else None)

    async def work(conn: AsyncConnection) -> None:
        user = await _must_exist(conn, USERS, user_id, "UserNotFound", "user")
        if "username" in values and await _taken(conn, USERS, USERS.c.username, values["username"], user_id):
            raise ApiError(409, "UserExists", f"a user {values['username']!r} exists")
        if "roleId" in values:
            await _must_exist(conn, ROLES, values["roleId"], "RoleNotFound", "role")
        if not values:
            return
        await conn.execute(update(USERS).where(USERS.c.id == user_id).values(
            {_USER_COLUMNS[k]: v for k, v in values.items()}))
        if ("password_hash" in values or values.get("active") is False
                or values.get("roleId", user.role_id) != user.role_id
                or values.get("username", user.username) != user.username):
            await _revoke_tokens(conn, TOKENS.c.user_id == user_id)
        await audit(conn, actor(caller), "user.edit", user_id=user_id, **_user_audit(values))

    await _write(eng, work, "UserExists", "the username is taken")
    return await get_user(caller, eng, user_id)


@router.delete("/api/users/{userId}", tags=["users"], status_code=204, summary="Delete a user",
               responses={**NOT_FOUND, 409: {"description": "`CannotDeleteSelf`"}})
async def delete_user(caller: Admin, eng: Engine, user_id: UserId) -> None:
    """Their bays and rentals are kept without a user; their grants and memberships go."""
    if caller.user_id == user_id:
        raise ApiError(409, "CannotDeleteSelf", "you cannot delete the user you are logged in as")
    async with eng.begin() as conn:
        user = await _must_exist(conn, USERS, user_id, "UserNotFound", "user")
        await conn.execute(delete(USERS).where(USERS.c.id == user_id))
        await _revoke_tokens(conn, TOKENS.c.user_id == user_id)
        await audit(conn, actor(caller), "user.delete", user_id=user_id, username=user.username)


# ================================================================================================
# Groups
# ================================================================================================
class GroupIn(Body):
    model_config = _examples({"name": "Night staff", "description": "after 22:00", "userIds": [1]})

    name: Name
    description: Description | None = None
    userIds: list[RefId] = Field([], max_length=1000)


class GroupPatch(Body):
    model_config = _examples({"description": "after 21:00"})

    name: Name = Field(None)
    description: Description | None = None


class Members(Body):
    model_config = _examples({"userIds": [1, 2]})

    userIds: list[RefId] = Field(min_length=1, max_length=1000)


def _group_query() -> Select[Any]:
    count = (select(func.count()).where(MEMBERS.c.group_id == GROUPS.c.id)
             .correlate(GROUPS).scalar_subquery())
    return select(GROUPS.c.id, GROUPS.c.name, GROUPS.c.description, count.label("memberCount"))


async def _add_members(conn: AsyncConnection, group_id: int, user_ids: list[int]) -> list[int]:
    """Add the users not yet in the group (404 ``UserNotFound`` naming any unknown); the added."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    known = {r.id for r in await conn.execute(select(USERS.c.id).where(USERS.c.id.in_(wanted)))}
    missing = [u for u in wanted if u not in known]
    if missing:
        raise ApiError(404, "UserNotFound", f"no user(s) {missing}", userIds=missing)
    present = {r.user_id for r in await conn.execute(select(MEMBERS.c.user_id).where(
        MEMBERS.c.group_id == group_id, MEMBERS.c.user_id.in_(wanted)))}
    added = [u for u in wanted if u not in present]
    if added:
        await conn.execute(MEMBERS.insert(), [{"group_id": group_id, "user_id": u} for u in added])
    return added


@router.get("/api/groups", tags=["groups"], summary="Group list")
async def list_groups(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    query = _group_query().order_by(GROUPS.c.name)
    if q:
        query = query.where(_search(q, GROUPS.c.name, GROUPS.c.description))
    return await paginate(eng, query, page)


@router.post("/api/groups", tags=["groups"], status_code=201, summary="Add a group",
             responses={**NOT_FOUND, 409: {"description": "`GroupExists`"}})
async def add_group(body: GroupIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, GROUPS, GROUPS.c.name, body.name):
            raise ApiError(409, "GroupExists", f"a group {body.name!r} exists")
        result = await conn.execute(GROUPS.insert().values(name=body.name, description=body.description))
        group_id = int(result.inserted_primary_key[0])
        added = await _add_members(conn, group_id, body.userIds)
        await audit(conn, actor(caller), "group.add", group_id=group_id, name=body.name, userIds=added)
        return group_id

    group_id = await _write(eng, work, "GroupExists", f"a group {body.name!r} exists")
    return await get_group(caller, eng, group_id)


@router.get("/api/groups/{groupId}", tags=["groups"], summary="Group view, with its members",
            responses=NOT_FOUND)
async def get_group(_: Reader, eng: Engine, group_id: GroupId) -> dict[str, Any]:
    async with eng.connect() as conn:
        row = (await conn.execute(_group_query().where(GROUPS.c.id == group_id))).first()
        if row is None:
            raise ApiError(404, "GroupNotFound", f"no group {group_id}")
        members = (await conn.execute(
            select(USERS.c.id, USERS.c.username, USERS.c.name, USERS.c.active)
            .join(MEMBERS, MEMBERS.c.user_id == USERS.c.id)
            .where(MEMBERS.c.group_id == group_id).order_by(USERS.c.username))).all()
    return {**jsonable(row), "members": [jsonable(m) for m in members]}


@router.patch("/api/groups/{groupId}", tags=["groups"], summary="Edit a group",
              responses={**NOT_FOUND, 409: {"description": "`GroupExists`"}})
async def update_group(body: GroupPatch, caller: Operator, eng: Engine,
                       group_id: GroupId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def work(conn: AsyncConnection) -> None:
        await _must_exist(conn, GROUPS, group_id, "GroupNotFound", "group")
        if "name" in values and await _taken(conn, GROUPS, GROUPS.c.name, values["name"], group_id):
            raise ApiError(409, "GroupExists", f"a group {values['name']!r} exists")
        if values:
            await conn.execute(update(GROUPS).where(GROUPS.c.id == group_id).values(**values))
            await audit(conn, actor(caller), "group.edit", group_id=group_id, **values)

    await _write(eng, work, "GroupExists", "the group name is taken")
    return await get_group(caller, eng, group_id)


@router.delete("/api/groups/{groupId}", tags=["groups"], status_code=204, summary="Delete a group",
               responses=NOT_FOUND)
async def delete_group(caller: Operator, eng: Engine, group_id: GroupId) -> None:
    async with eng.begin() as conn:
        group = await _must_exist(conn, GROUPS, group_id, "GroupNotFound", "group")
        await conn.execute(delete(GROUPS).where(GROUPS.c.id == group_id))
        await audit(conn, actor(caller), "group.delete", group_id=group_id, name=group.name)


@router.post("/api/groups/{groupId}/members", tags=["groups"], summary="Add members to a group",
             responses=NOT_FOUND)
async def add_members(body: Members, caller: Operator, eng: Engine,
                      group_id: GroupId) -> dict[str, Any]:
    """Users already in the group are left as they are."""
    async with eng.begin() as conn:
        await _must_exist(conn, GROUPS, group_id, "GroupNotFound", "group")
        added = await _add_members(conn, group_id, body.userIds)
        if added:
            await audit(conn, actor(caller), "group.member_add", group_id=group_id, userIds=added)
    return await get_group(caller, eng, group_id)


@router.delete("/api/groups/{groupId}/members/{userId}", tags=["groups"], status_code=204,
               summary="Remove a member from a group",
               responses={404: {"description": "`GroupNotFound`; `MemberNotFound`"}})
async def remove_member(caller: Operator, eng: Engine, group_id: GroupId,
                        user_id: UserId) -> None:
    async with eng.begin() as conn:
        await _must_exist(conn, GROUPS, group_id, "GroupNotFound", "group")
        result = await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == group_id,
                                                          MEMBERS.c.user_id == user_id))
        if not result.rowcount:
            raise ApiError(404, "MemberNotFound", f"user {user_id} is not in group {group_id}")
        await audit(conn, actor(caller), "group.member_remove", group_id=group_id, user_id=user_id)


# ================================================================================================
# Locations and areas
# ================================================================================================
class LocationIn(Body):
    model_config = _examples({"name": "Central Station", "address": "Platz 1, 10115 Berlin",
                              "countryCode": "DE"})

    name: Name
    address: Description | None = None
    countryCode: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 (GET /api/countries).")


class LocationPatch(Body):
    model_config = _examples({"address": "Platz 2, 10115 Berlin"})

    name: Name = Field(None)
    address: Description | None = None
    countryCode: CountryCode | None = None


class AreaIn(Body):
    model_config = _examples({"name": "Level -1"})

    name: Name


_LOCATION_COLUMNS = {"name": "name", "address": "address", "countryCode": "country_code"}


async def _with_areas(eng: AsyncEngine, locations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [loc["id"] for loc in locations]
    areas: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        async with eng.connect() as conn:
            for row in await conn.execute(select(AREAS).where(AREAS.c.location_id.in_(ids))
                                          .order_by(AREAS.c.name)):
                areas[row.location_id].append({"id": row.id, "name": row.name})
    return [{**loc, "areas": areas[loc["id"]]} for loc in locations]


def _location(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "address": row.address, "countryCode": row.country_code,
            "country": row.country, "createdAt": iso(row.created_at)}


def _location_query() -> Select[Any]:
    return (select(LOCATIONS, COUNTRIES.c.name.label("country"))
            .select_from(LOCATIONS.outerjoin(COUNTRIES, COUNTRIES.c.code == LOCATIONS.c.country_code)))


@router.get("/api/locations", tags=["locations"], summary="Locations, with their areas")
async def list_locations(_: Reader, eng: Engine, page: Paging, q: Search = None,
                         countryCode: str | None = Query(None, pattern=r"^[A-Za-z]{2}$")) -> dict[str, Any]:
    query = _location_query().order_by(LOCATIONS.c.name)
    if q:
        query = query.where(_search(q, LOCATIONS.c.name, LOCATIONS.c.address))
    if countryCode:
        query = query.where(LOCATIONS.c.country_code == countryCode.upper())
    result = await paginate(eng, query, page, _location)
    return {**result, "items": await _with_areas(eng, result["items"])}


@router.post("/api/locations", tags=["locations"], status_code=201, summary="Add a location",
             responses={**NOT_FOUND, 409: {"description": "`LocationExists`"}})
async def add_location(body: LocationIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, LOCATIONS, LOCATIONS.c.name, body.name):
            raise ApiError(409, "LocationExists", f"a location {body.name!r} exists")
        await _must_exist(conn, COUNTRIES, body.countryCode, "CountryNotFound", "country")
        result = await conn.execute(LOCATIONS.insert().values(
            {**{_LOCATION_COLUMNS[k]: v for k, v in body.model_dump().items()}, "created_at": now_utc()}))
        location_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "location.add", location_id=location_id, **body.model_dump())
        return location_id

    location_id = await _write(eng, work, "LocationExists", f"a location {body.name!r} exists")
    return await get_location(caller, eng, location_id)


@router.get("/api/locations/{locationId}", tags=["locations"], summary="Get a location, with its areas",
            responses=NOT_FOUND)
async def get_location(_: Reader, eng: Engine, location_id: LocationId) -> dict[str, Any]:
    location = await _one(eng, _location_query().where(LOCATIONS.c.id == location_id), _location,
                          "LocationNotFound", f"no location {location_id}")
    return (await _with_areas(eng, [location]))[0]


@router.patch("/api/locations/{locationId}", tags=["locations"], summary="Edit a location",
              responses={**NOT_FOUND, 409: {"description": "`LocationExists`"}})
async def update_location(body: LocationPatch, caller: Operator, eng: Engine,
                          location_id: LocationId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def work(conn: AsyncConnection) -> None:
        await _must_exist(conn, LOCATIONS, location_id, "LocationNotFound", "location")
        if "name" in values and await _taken(conn, LOCATIONS, LOCATIONS.c.name, values["name"], location_id):
            raise ApiError(409, "LocationExists", f"a location {values['name']!r} exists")
        await _must_exist(conn, COUNTRIES, values.get("countryCode"), "CountryNotFound", "country")
        if values:
            await conn.execute(update(LOCATIONS).where(LOCATIONS.c.id == location_id).values(
                {_LOCATION_COLUMNS[k]: v for k, v in values.items()}))
            await audit(conn, actor(caller), "location.edit", location_id=location_id, **values)

    await _write(eng, work, "LocationExists", "the location name is taken")
    return await get_location(caller, eng, location_id)


@router.post("/api/locations/{locationId}/areas", tags=["locations"], status_code=201,
             summary="Add an area to a location",
             responses={**NOT_FOUND, 409: {"description": "`AreaExists`: the location has an area so named"}})
async def add_area(body: AreaIn, caller: Operator, eng: Engine,
                   location_id: LocationId) -> dict[str, Any]:
    message = f"location {location_id} has an area {body.name!r}"

    async def work(conn: AsyncConnection) -> int:
        await _must_exist(conn, LOCATIONS, location_id, "LocationNotFound", "location")
        if (await conn.execute(select(AREAS.c.id).where(
                AREAS.c.location_id == location_id, AREAS.c.name == body.name))).first() is not None:
            raise ApiError(409, "AreaExists", message)
        result = await conn.execute(AREAS.insert().values(location_id=location_id, name=body.name))
        area_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "area.add", location_id=location_id, area_id=area_id,
                    name=body.name)
        return area_id

    area_id = await _write(eng, work, "AreaExists", message)
    return {"id": area_id, "locationId": location_id, "name": body.name}


# ================================================================================================
# Roles
# ================================================================================================
_PERMISSIONS_DOC = ("Permissions: `admin` (API role admin), `operate` (operator), `view` (viewer); "
                    "a login gets the strongest its role grants.")


class RoleIn(Body):
    model_config = _examples({"name": "Site operator", "permissions": ["operate"]})

    name: RoleName
    permissions: Annotated[list[Permission], Unique] = Field(max_length=len(PERMISSIONS),
                                                             description=_PERMISSIONS_DOC)


class RolePatch(Body):
    model_config = _examples({"permissions": ["view"]})

    name: RoleName = Field(None)
    permissions: Annotated[list[Permission], Unique] = Field(None, max_length=len(PERMISSIONS),
                                                             description=_PERMISSIONS_DOC)


def _role_query() -> Select[Any]:
    count = (select(func.count()).where(USERS.c.role_id == ROLES.c.id)
             .correlate(ROLES).scalar_subquery())
    return select(ROLES, count.label("users"))


def _role(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "permissions": load_permissions(row.permissions),
            "users": row.users}


@router.get("/api/roles", tags=["roles"], summary="List roles",
            description=_PERMISSIONS_DOC)
async def list_roles(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    query = _role_query().order_by(ROLES.c.name)
    if q:
        query = query.where(_search(q, ROLES.c.name))
    return await paginate(eng, query, page, _role)


@router.post("/api/roles", tags=["roles"], status_code=201, summary="Add a role",
             description=_PERMISSIONS_DOC, responses={409: {"description": "`RoleExists`"}})
async def add_role(body: RoleIn, caller: Admin, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        if await _taken(conn, ROLES, ROLES.c.name, body.name):
            raise ApiError(409, "RoleExists", f"a role {body.name!r} exists")
        result = await conn.execute(ROLES.insert().values(name=body.name,
                                                          permissions=json.dumps(body.permissions)))
        role_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "role.add", role_id=role_id, **body.model_dump())
        return role_id

    role_id = await _write(eng, work, "RoleExists", f"a role {body.name!r} exists")
    return await get_role(caller, eng, role_id)


@router.get("/api/roles/{roleId}", tags=["roles"], summary="Get a role", responses=NOT_FOUND)
async def get_role(_: Reader, eng: Engine, role_id: RoleId) -> dict[str, Any]:
    return await _one(eng, _role_query().where(ROLES.c.id == role_id), _role,
                      "RoleNotFound", f"no role {role_id}")


@router.patch("/api/roles/{roleId}", tags=["roles"], summary="Edit a role",
              description=_PERMISSIONS_DOC + " Changed permissions log out the role's users.",
              responses={**NOT_FOUND, 409: {"description": "`RoleExists`"}})
async def update_role(body: RolePatch, caller: Admin, eng: Engine, role_id: RoleId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def work(conn: AsyncConnection) -> None:
        role = await _must_exist(conn, ROLES, role_id, "RoleNotFound", "role")
        if "name" in values and await _taken(conn, ROLES, ROLES.c.name, values["name"], role_id):
            raise ApiError(409, "RoleExists", f"a role {values['name']!r} exists")
        if not values:
            return
        changes = dict(values)
        if "permissions" in changes:
            changes["permissions"] = json.dumps(changes["permissions"])
        await conn.execute(update(ROLES).where(ROLES.c.id == role_id).values(**changes))
        if "permissions" in values and values["permissions"] != load_permissions(role.permissions):
            await _revoke_tokens(conn, TOKENS.c.user_id.in_(
                select(USERS.c.id).where(USERS.c.role_id == role_id)))
        await audit(conn, actor(caller), "role.edit", role_id=role_id, **values)

    await _write(eng, work, "RoleExists", "the role name is taken")
    return await get_role(caller, eng, role_id)


@router.delete("/api/roles/{roleId}", tags=["roles"], status_code=204, summary="Delete a role",
               responses={**NOT_FOUND, 409: {"description": "`RoleInUse`: users have it"}})
async def delete_role(caller: Admin, eng: Engine, role_id: RoleId) -> None:
    async with eng.begin() as conn:
        role = await _must_exist(conn, ROLES, role_id, "RoleNotFound", "role")
        users = (await conn.execute(select(func.count()).where(USERS.c.role_id == role_id))).scalar_one()
        if users:
            raise ApiError(409, "RoleInUse", f"{users} user(s) have role {role.name!r}")
        await conn.execute(delete(ROLES).where(ROLES.c.id == role_id))
        await audit(conn, actor(caller), "role.delete", role_id=role_id, name=role.name)


# ================================================================================================
# Countries, log
# ================================================================================================
def _all_countries(page: int = Query(1, ge=1, description="Page number, from 1."),
                   page_size: int = Query(300, ge=1, le=1000, description="Items per page (default: "
                                          "all of ISO 3166-1 at once).")) -> Page:
    return Page(page, page_size)


@router.get("/api/countries", tags=["countries"], summary="Countries (ISO 3166-1)")
async def list_countries(_: Reader, eng: Engine, page: Annotated[Page, Depends(_all_countries)],
                         q: Search = None) -> dict[str, Any]:
    query = select(COUNTRIES.c.code, COUNTRIES.c.name).order_by(COUNTRIES.c.name)
    if q:
        query = query.where(_search(q, COUNTRIES.c.code, COUNTRIES.c.name))
    return await paginate(eng, query, page)


def _log(row: Any) -> dict[str, Any]:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"raw": row.details}
    return {"id": row.id, "at": iso(row.at), "actor": row.actor, "action": row.action,
            "lockerId": row.locker_id, "deviceId": row.device_id, "details": details}


@router.get("/api/logs", tags=["logs"], summary="Log list: the audit log, newest first")
async def list_logs(_: Reader, eng: Engine, page: Paging,
                    action: str | None = Query(None, max_length=48, pattern=_PRINTABLE,
                                               description="Exact, or a prefix ending in `.` (`locker.`)."),
                    lockerId: FilterId = None, deviceId: FilterId = None,
                    actor_: str | None = Query(None, alias="actor", max_length=100, pattern=_PRINTABLE),
                    since: datetime | None = Query(None, description="From this time (inclusive)."),
                    until: datetime | None = Query(None, description="Before this time.")) -> dict[str, Any]:
    query = select(AUDIT).order_by(AUDIT.c.id.desc())
    if action:
        query = query.where(AUDIT.c.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AUDIT.c.action == action)
    if lockerId is not None:
        query = query.where(AUDIT.c.locker_id == lockerId)
    if deviceId is not None:
        query = query.where(AUDIT.c.device_id == deviceId)
    if actor_:
        query = query.where(AUDIT.c.actor == actor_)
    if since is not None:
        query = query.where(AUDIT.c.at >= utc(since))
    if until is not None:
        query = query.where(AUDIT.c.at < utc(until))
    return await paginate(eng, query, page, _log)
