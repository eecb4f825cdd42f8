"""The doc's admin interface (a redirect to the dashboard) and device heartbeats."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select, update

from api.auth import Caller
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.gateway.common import (
    DASHBOARD_LOCKERS,
    DEVICES,
    HEARTBEAT,
    _error,
    engine_of,
    gateway_router,
)
from api.vendor.gateway.schemas import HEARTBEAT_MAX_BYTES, DeviceHeartbeatRequest, System
from api.vendor.sites import actor
from api.vendor.web.devices import ONLINE_WINDOW
from csms.timeutil import iso
from lockers.audit import audit, now_utc

# /admin is no gateway call (no token, none of its error answers); the rest is.
admin = APIRouter(route_class=GuardedRoute)
router = gateway_router()

# -- health & status: GET /health is the app's own (api/routes/system.py) ------------------------
@admin.get("/admin", tags=["system"], summary="Admin interface", response_class=RedirectResponse,
            status_code=307, response_description="To the operator dashboard's locker page, which "
                                                  "asks for a login when there is no session")
async def admin_interface() -> RedirectResponse:
    """The doc's admin interface is our operator dashboard; its login and roles stay its own."""
    return RedirectResponse(DASHBOARD_LOCKERS, status_code=307)


# -- system --------------------------------------------------------------------------------------
@router.post("/system/heartbeat", summary="Receive heartbeat from external device",
              response_model=System,
              responses={400: _error("`ValidationError`, `HeartbeatTooLarge` (over 16 KiB)"),
                         404: _error("`DeviceNotFound`: no device with this code (or not the "
                                     "kiosk token's own)")})
async def heartbeat(body: DeviceHeartbeatRequest, request: Request,
                    caller: Annotated[Caller, Depends(HEARTBEAT)]) -> System:
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


