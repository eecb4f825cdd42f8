"""The doc's admin interface (a redirect to the dashboard) and device heartbeats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from api.auth import Caller
from api.gate import GuardedRoute
from api.vendor.gateway.common import (
    DASHBOARD_LOCKERS,
    HEARTBEAT,
    HeartbeatsService,
    _error,
    gateway_router,
)
from api.vendor.gateway.schemas import DeviceHeartbeatRequest, System
from api.vendor.web.devices import ONLINE_WINDOW
from csms.timeutil import iso

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
async def heartbeat(body: DeviceHeartbeatRequest, service: HeartbeatsService,
                    caller: Annotated[Caller, Depends(HEARTBEAT)]) -> System:
    """Records when (by our clock) and what the device last said. Only a first heartbeat or a
    change of ``status`` is audited: a heartbeat a minute per device would bury the log."""
    now = await service.record(body.deviceId, body.model_dump(mode="json", exclude_none=True), caller)
    return System(success=True, message="heartbeat recorded", serverTime=iso(now) or "",
                  deviceId=body.deviceId, onlineWindowSeconds=int(ONLINE_WINDOW.total_seconds()))
