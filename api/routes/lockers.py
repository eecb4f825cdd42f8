"""Locker bridge endpoints; `POST /api/locker/command` is the vendor's hex pass-through (seed 000)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require
from locker_bridge.bus import BusError
from locker_bridge.protocol import FrameError
from locker_bridge.service import BridgeService, UnknownPort

router = APIRouter(tags=["lockers"])


class LockerCommand(BaseModel):
    comPort: str = Field(description="A port name from the bridge configuration, e.g. COM2.")
    hexCode: str = Field(description="One complete frame as hex bytes, e.g. a cabin's stop_charging_code.")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"}]})


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status_code=status)


@router.post("/api/locker/command", summary="Send a raw hex frame to a locker board",
             dependencies=[Depends(require("operator"))],
             responses={200: {"content": {"application/json": {"example": {
                 "success": True, "message": "Command sent successfully",
                 "response": "81 01 03 53 06 00 5D 00 FA"}}}}})
async def locker_command(body: LockerCommand, request: Request) -> JSONResponse:
    bridge: BridgeService | None = getattr(request.app.state, "bridge", None)
    if bridge is None:
        return _fail(404, f"unknown port {body.comPort!r}: no locker bridge is configured "
                          "(CHARGEBAY_BRIDGE_CONFIG)")
    try:
        reply = await bridge.command(body.comPort, body.hexCode)
    except (FrameError, ValueError) as exc:
        return _fail(400, f"hexCode is not a valid frame: {exc}")
    except UnknownPort:
        return _fail(404, f"unknown port {body.comPort!r}")
    except BusError as exc:
        return _fail(503, str(exc))
    return JSONResponse({"success": True, "message": "Command sent successfully", "response": reply})
