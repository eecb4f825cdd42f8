"""Back-office devices (kiosks and locker controllers): where they are, their serial ports, the
kiosk login's password, and whether they are online (their last heartbeat)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from csms.timeutil import iso, now_utc, utc
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.device_keys import has_key
from lockers.backoffice.tables import AREA, DEVICE, DEVICES, LOCATION, TOKENS, hashed, json_list, revoke_tokens
from lockers.errors import Invalid
from lockers.records import free, insert, log, one, page_of, remove, row_or_404, write
from lockers.scope import Viewer

ONLINE_WINDOW = timedelta(minutes=2)  # a device is online if its last heartbeat is this recent


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
            "hasPassword": row.password_hash is not None, "hasKey": bool(row.has_key),
            "online": _online(last, now),
            "lastHeartbeatAt": iso(last), "heartbeat": heartbeat, "createdAt": iso(row.created_at)}


async def _place(conn: AsyncConnection, location_id: int | None, area_id: int | None) -> int | None:
    """Check a (location, area) pair; returns the location (the area's, when none was given)."""
    await row_or_404(conn, LOCATION, location_id)
    area = await row_or_404(conn, AREA, area_id)
    if area is None:
        return location_id
    if location_id is not None and area.location_id != location_id:
        raise Invalid("AreaNotInLocation", f"area {area_id} is not in location {location_id}")
    return int(area.location_id)


class DeviceService(BackOfficeService):
    async def page(self, page: Page, q: str | None, kind: str | None,
                   location_id: int | None) -> dict[str, Any]:
        return await page_of(self.engine, page, select(DEVICES, has_key()).order_by(DEVICES.c.code), q,
                             [DEVICES.c.code, DEVICES.c.name], _device,
                             where=[(DEVICES.c.kind, kind), (DEVICES.c.location_id, location_id)])

    async def status(self, page: Page, q: str | None, online: bool | None) -> dict[str, Any]:
        """Devices by code with how long ago they beat, and how many are online in all."""
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

        result = await page_of(self.engine, page, query, q, [DEVICES.c.code, DEVICES.c.name], shape)
        async with self.engine.connect() as conn:
            total_online = (await conn.execute(
                select(func.count()).select_from(DEVICES).where(is_online))).scalar_one()
        return {**result, "onlineWindowSeconds": int(ONLINE_WINDOW.total_seconds()), "online": total_online}

    async def get(self, device_id: int) -> dict[str, Any]:
        return await one(self.engine, DEVICE, device_id, select(DEVICES, has_key()), _device)

    async def add(self, who: Viewer, body: dict[str, Any]) -> int:
        """Add the device ``body`` describes (an area sets its location if none is given); its id."""
        password_hash = await hashed(body.get("password"))

        async def work(conn: AsyncConnection) -> int:
            await free(conn, DEVICE, body["code"])
            location_id = await _place(conn, body.get("locationId"), body.get("areaId"))
            values = {**{k: v for k, v in body.items() if k != "password"}, "locationId": location_id,
                      "password_hash": password_hash, "created_at": now_utc()}
            return await insert(conn, who, DEVICE, values, code=body["code"], name=body["name"],
                                kind=body["kind"], ports=body["ports"],
                                password=body.get("password") is not None)

        return await write(self.engine, work, DEVICE.duplicate(body["code"]))

    async def update(self, who: Viewer, device_id: int, body: dict[str, Any]) -> None:
        """Change the fields ``body`` sets. Moved to another location without an area, it leaves
        its old area; a new password logs its kiosks out (its device key stays)."""
        values = dict(body)
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
                await revoke_tokens(conn, (TOKENS.c.device_id == device_id) & (TOKENS.c.role == "kiosk"))
            await log(conn, who, DEVICE, "edit", device_id,
                      **{k: v for k, v in body.items() if k != "password"},
                      **({"password": "changed"} if "password_hash" in changes else {}))

        await write(self.engine, work, DEVICE.conflict())

    async def delete(self, who: Viewer, device_id: int) -> None:
        """Its lockers and banks stay (unassigned), its shift entries go, its kiosks are logged out
        and its device key revoked."""
        await remove(self.engine, who, DEVICE, device_id,
                     also=lambda conn, _: revoke_tokens(conn, TOKENS.c.device_id == device_id))
