"""The vendor's hex pass-through (seed 000): ``POST /api/locker/command``, one frame in and the
board's reply frame out, exactly as the vendor's call — with the reply's status byte decoded
(``boardStatus``; ``success`` only for OK), a START_CHARGING to a bay out of service refused
unless forced, and every frame audited in the history of the bay it addresses, forced or not.
The typed per-cabin operations are :mod:`api.vendor.cabins`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.errors import body_schema, declare
from api.gate import GuardedRoute
from api.vendor.cabins import Actor, bridge_of
from api.vendor.sites import actor, sites
from locker_bridge.bus import BusError
from locker_bridge.protocol import Frame, FrameError, Status, decode, from_hex
from locker_bridge.service import BridgeService, UnknownPort

router = APIRouter(tags=["lockers"], route_class=GuardedRoute)


class LockerCommand(BaseModel):
    comPort: str = Field(description="A port name from the bridge configuration, e.g. COM2.")
    hexCode: str = Field(description="One complete frame as hex bytes, e.g. a cabin's stop_charging_code.")
    force: bool = Field(False, description=(
        "Send a START_CHARGING to a bay that is out of service (maintenance, or made inoperative) "
        "all the same; without it that is 409 `LockerOutOfService`. Audited either way."))

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"}]})


class CommandReply(BaseModel):
    """The vendor's answer to a raw frame: the reply frame, or (400 a bad frame, 404 an unknown
    port or no bridge, 503 the port down or no answer) ``success`` false and why."""

    success: bool = Field(description="True only when the board answered OK.")
    message: str
    response: str = Field(description="The board's reply frame as hex bytes.")
    boardStatus: str | None = Field(description=(
        "The reply's status byte, decoded: OK, BUSY, BAY_FAULT, INVALID_BAY, INVALID_COMMAND, "
        "DOOR_OPEN (docs/locker-protocol.md), or its hex value if the board sent another."))


class CommandFailed(BaseModel):
    success: Literal[False]
    message: str
    code: str | None = Field(None, description="`LockerOutOfService` on a 409.")


def _command_failed(why: str) -> dict[str, Any]:
    return {"description": why, "content": body_schema(CommandFailed)}


def _fail(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    return status, {"success": False, "message": message, **({"code": code} if code else {})}


@router.post("/api/locker/command", summary="Send a raw hex frame to a locker board",
             response_model=CommandReply,
             responses={200: {"content": {"application/json": {"example": {
                 "success": True, "message": "Command sent successfully",
                 "response": "81 01 03 53 06 00 5D 00 FA"}}}}, **declare({}),
                 400: _command_failed("hexCode is not one valid frame"),
                 404: _command_failed("An unknown port, or no bridge is configured"),
                 409: _command_failed("`LockerOutOfService`: a START_CHARGING to a bay out of service, "
                                      "without `force`"),
                 503: _command_failed("The port is down or the board did not answer")})
async def locker_command(body: LockerCommand, request: Request,
                         caller: Actor) -> JSONResponse:
    """Audited as ``locker.command`` with the frame, the reply, who sent it and whether it was
    forced, in the history of the bay the frame addresses (when it is one of the bridge's)."""
    status, reply, bay = await _command(bridge_of(request), body)
    await sites(request).record(actor(caller), "locker.command", bay, comPort=body.comPort,
                                hexCode=body.hexCode, force=body.force, status=status, **reply)
    return JSONResponse(reply, status_code=status)


async def _command(bridge: BridgeService | None, body: LockerCommand) -> tuple[int, dict[str, Any], str | None]:
    """(HTTP status, the vendor's body, the identity of the bay the frame addresses if the
    bridge has it)."""
    if bridge is None:
        return *_fail(404, f"unknown port {body.comPort!r}: no locker bridge is configured "
                           "(CHARGEBAY_BRIDGE_CONFIG)"), None
    try:
        request = decode(from_hex(body.hexCode), bridge.profile)
    except (FrameError, ValueError) as exc:
        return *_fail(400, f"hexCode is not a valid frame: {exc}"), None
    bay = _bay(bridge, body.comPort, request)
    identity = None if bay is None else str(bay["identity"])
    if (not body.force and bay is not None and request.command == bridge.profile.opcode("START_CHARGING")
            and (bay["maintenance"] or not bay["operative"])):
        return *_fail(409, f"bay {identity} is out of service: its outlet stays off (send force: true to "
                           "switch it on all the same)", code="LockerOutOfService"), identity
    try:
        reply = await bridge.command(body.comPort, body.hexCode)
    except (FrameError, ValueError) as exc:
        return *_fail(400, f"hexCode is not a valid frame: {exc}"), identity
    except UnknownPort:
        return *_fail(404, f"unknown port {body.comPort!r}"), identity
    except BusError as exc:
        return *_fail(503, str(exc)), identity
    status = decode(from_hex(reply), bridge.profile).status
    name = None if status is None else (Status(status).name if status in _STATUSES else f"0x{status:02X}")
    ok = status == Status.OK
    return 200, {"success": ok, "message": "Command sent successfully" if ok else f"the board answered {name}",
                 "response": reply, "boardStatus": name}, identity


_STATUSES = {s.value for s in Status}


def _bay(bridge: BridgeService, port: str, frame: Frame) -> dict[str, Any] | None:
    """The bridge's bay a frame addresses (its port, board address and bay), if it has one."""
    return next((c for c in bridge.cabins() if (c["comPort"], c["address"], c["bay"]) == (port, frame.address,
                                                                                          frame.bay)), None)
