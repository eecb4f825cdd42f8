"""The doc's admin interface (a redirect to the dashboard) and device heartbeats.

The doc's sample heartbeat carries no credential. A field device sends its **device key**
(``X-API-Key: <key>``, or ``Authorization: Bearer <key>``): a token of role ``device`` bound to that
one device (:mod:`lockers.backoffice.device_keys`; ``POST /api/devices/{deviceId}/key`` or
``chargebay token create --role device --device CODE``), good for this call naming its own device
and nothing else. A kiosk login's token (its own device too) and an operator's are still taken.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse
from fastapi.security import APIKeyHeader

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
# Declared so that OpenAPI (and "Try it" in /docs) names the device key and where it goes; the
# check is the one every token gets (HEARTBEAT), a Bearer works as well.
DEVICE_KEY = APIKeyHeader(name="X-API-Key", scheme_name="DeviceKey", auto_error=False, description=(
    "A device key (role `device`, bound to one device: `POST /api/devices/{deviceId}/key`). A kiosk "
    "login's token or an operator's token works too, as a Bearer."))


@router.post("/system/heartbeat", summary="Receive heartbeat from external device",
              response_model=System,
              responses={400: _error("`ValidationError`, `HeartbeatTooLarge` (over 16 KiB)"),
                         401: _error("`Unauthorized`: no key or token, or an unknown or revoked one"),
                         403: _error("`Forbidden`: the token's role may not send heartbeats (a "
                                     "device key, a kiosk, operator or admin token may)"),
                         404: _error("`DeviceNotFound`: no device with this code, or not the one "
                                     "the device key (or kiosk token) is bound to")})
async def heartbeat(body: DeviceHeartbeatRequest, service: HeartbeatsService,
                    caller: Annotated[Caller, Depends(HEARTBEAT)],
                    _key: Annotated[str | None, Depends(DEVICE_KEY)]) -> System:
    """Records when (by our clock) and what the device last said. Send the device's key as
    `X-API-Key` (field devices; or a kiosk login's token): a key names one device, and another
    device's code is 404 as an unknown one is. Only a first heartbeat or a change of ``status`` is
    audited: a heartbeat a minute per device would bury the log."""
    now = await service.record(body.deviceId, body.model_dump(mode="json", exclude_none=True), caller)
    return System(success=True, message="heartbeat recorded", serverTime=iso(now) or "",
                  deviceId=body.deviceId, onlineWindowSeconds=int(ONLINE_WINDOW.total_seconds()))
