"""Back-office devices (kiosks and locker controllers) and their heartbeat status (seed 000)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from api.crud import (
    free,
    insert,
    log,
    one,
    page_of,
    remove,
    row_or_404,
    write,
)
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.web.conventions import (
    AREA,
    DEVICE,
    DEVICES,
    LOCATION,
    MAX_ID,
    NOT_FOUND,
    TOKENS,
    Body,
    Code,
    Engine,
    FilterId,
    Name,
    Operator,
    Paging,
    Password,
    PortName,
    Reader,
    RefId,
    Search,
    Unique,
    examples,
    hashed,
    json_list,
    revoke_tokens,
)
from csms.timeutil import iso, now_utc, utc
from lockers.models import AuditEntry, Rental, table

router = APIRouter(route_class=GuardedRoute)

AUDIT, RENTALS = table(AuditEntry), table(Rental)

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
                         online: Annotated[bool | None, Query(description="Only online (true) or "
                                                                      "offline (false).")] = None
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


