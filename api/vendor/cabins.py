"""Locker bridge endpoints: typed per-cabin operations (the vendor's hex pass-through, seed 000,
is :mod:`api.vendor.locker_command`).

Beside `POST /api/locker/command`, the vendor's call exactly (a frame in, the reply frame out), the
cabin endpoints do the same jobs (locker status, open, start/stop charging, charging status) by
cabin identity and answer decoded results; start and stop run the bay's OCPP transaction, so the
CSMS records them as it would a RemoteStart. The cabin listing shows each bay's hex codes, as the
vendor's does (`open_code`, `status_code`, `start_charging_code`, …).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from ocpp.exceptions import OCPPError
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller, require
from api.errors import ApiError, declare
from api.gate import GuardedRoute
from api.vendor.sites import actor, sites
from locker_bridge.bay import BoardError
from locker_bridge.bus import BusError
from locker_bridge.charge_point import Offline
from locker_bridge.service import BridgeService, UnknownBay

log = logging.getLogger(__name__)
router = APIRouter(tags=["lockers"], route_class=GuardedRoute)
read = Depends(require("operator", "viewer"))
act = Depends(require("operator"))
Actor = Annotated[Caller, act]


class StartCharging(BaseModel):
    idTag: str = Field(min_length=1, max_length=20, description="Authorized with the CSMS first.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"idTag": "TAG-1"}]})


class Cabin(BaseModel):
    """One bay as the bridge sees it now, with the hex codes of its commands."""

    identity: str = Field(description="The bay's charge point identity.")
    locker: str = Field(description="The locker (bank) it belongs to.")
    comPort: str
    address: int = Field(description="The board's address on the port.")
    bay: int = Field(description="The bay's number on the board.")
    status: str = Field(description="Its connector's OCPP status (Available, Charging, Faulted, …).")
    errorCode: str
    vendorErrorCode: str | None
    faultInfo: str | None
    door: Literal["open", "closed"] | None = Field(description="null: not read yet.")
    item: Literal["occupied", "empty"] | None = Field(description="null: not read yet.")
    outlet: Literal["off", "charging", "idle", "fault"] | None = Field(description="null: not read yet.")
    powerW: int
    energyWh: int | None
    transactionId: int | None
    idTag: str | None
    operative: bool = Field(description="False: the CSMS made it Inoperative (ChangeAvailability).")
    maintenance: bool = Field(description="True: the locker operator put it out of service.")
    outletWithoutTransaction: bool = Field(description="The outlet is on with no transaction.")
    waitingForLoadLimit: bool = Field(False, description=(
        "A transaction runs but the outlet is off: the site's load limit (a load group) has no room "
        "for it yet; it goes on when the central system's share allows."))
    open_code: str
    status_code: str
    start_charging_code: str
    stop_charging_code: str
    charging_status_code: str
    connected: bool = Field(description="Whether its charge point is booted with the CSMS.")
    queued: int = Field(description="Transaction messages waiting for the CSMS.")


class CabinList(BaseModel):
    success: Literal[True]
    total: int
    cabins: list[Cabin]


class OneCabin(BaseModel):
    success: Literal[True]
    cabin: Cabin


class CabinDone(BaseModel):
    """A start or stop that happened, with the cabin after it."""

    success: Literal[True]
    message: str
    cabin: Cabin


class DoorState(BaseModel):
    success: Literal[True]
    message: str
    cabin: str = Field(description="The cabin's identity.")
    door: Literal["open", "closed"]
    item: Literal["occupied", "empty"]


class Opened(DoorState):
    opened: Literal[True]


class OutletState(BaseModel):
    success: Literal[True]
    message: str
    cabin: str = Field(description="The cabin's identity.")
    state: Literal["off", "charging", "idle", "fault"]
    powerW: int
    energyWh: int


class Port(BaseModel):
    """A serial port and its counters since the bridge started."""

    name: str
    device: str
    baudrate: int
    up: bool
    frames_out: int
    frames_in: int
    timeouts: int
    retries: int
    busy: int
    bad_replies: int
    unsolicited: int
    reopens: int
    parser_frames: int
    parser_resyncs: int
    parser_checksum_errors: int
    parser_echoes: int
    parser_timeouts: int


class Ports(BaseModel):
    success: Literal[True]
    ports: list[Port]


# The errors of the cabin operations, in the API's error body (with ``success`` false).
_NO_CABIN = "`BridgeNotConfigured`: no bridge in this process; `UnknownCabin`"
_UNAVAILABLE = "`BoardUnavailable`: no answer or the port is down"


def bridge_of(request: Request) -> BridgeService | None:
    """The bridge running in this process, if any."""
    return getattr(request.app.state, "bridge", None)


@contextlib.asynccontextmanager
async def audited(request: Request, caller: Caller, action: str, identity: str | None = None,
                  **details: Any) -> AsyncIterator[None]:
    """Audit a physical action with who asked and how it ended (also when it failed)."""
    outcome: dict[str, Any] = {"success": True}
    try:
        yield
    except ApiError as exc:
        outcome = {"success": False, "code": exc.code, "error": exc.message}
        raise
    except BaseException as exc:
        outcome = {"success": False, "error": repr(exc)}
        raise
    finally:
        try:
            await sites(request).record(actor(caller), action, identity, **details, **outcome)
        except Exception:  # the answer must still say what happened to the door
            log.exception("audit of %s on %s failed", action, identity)


# -- typed cabins ---------------------------------------------------------------------------------
async def bridge(request: Request) -> BridgeService:
    found = bridge_of(request)
    if found is None:
        raise ApiError(404, "BridgeNotConfigured", "no locker bridge is configured "
                       "(CHARGEBAY_BRIDGE_CONFIG or serve --demo)", success=False)
    return found


def _cabin(service: BridgeService, identity: str) -> dict[str, Any]:
    try:
        return service.cabin(identity)
    except UnknownBay:
        raise ApiError(404, "UnknownCabin", f"no cabin {identity!r}", success=False) from None


async def _board(call: Any) -> Any:
    """Run a board operation; its failures become stable REST errors."""
    try:
        return await call
    except UnknownBay as exc:
        raise ApiError(404, "UnknownCabin", f"no cabin {exc}", success=False) from None
    except BusError as exc:
        raise ApiError(503, "BoardUnavailable", str(exc), success=False) from None
    except BoardError as exc:
        raise ApiError(409, "BoardRefused", str(exc), success=False) from None
    except (OCPPError, Offline, TimeoutError) as exc:  # the CSMS's side of a start (Authorize)
        raise ApiError(502, "CsmsUnavailable", f"the central system did not authorize: {exc!r}",
                       success=False) from None


@router.get("/api/locker/cabins", summary="Cabin listing: every bay, its state and hex codes",
            dependencies=[read], response_model=CabinList,
            responses=declare({404: "`BridgeNotConfigured`"}))
async def cabins(*, locker: Annotated[str | None, Query(description="Only this locker's bays.")] = None,
                 service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    items = service.cabins(locker)
    return {"success": True, "total": len(items), "cabins": items}


@router.get("/api/locker/cabins/{identity}", summary="One cabin", dependencies=[read],
            response_model=OneCabin, responses=declare({404: _NO_CABIN}))
async def cabin(identity: str, service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    return {"success": True, "cabin": _cabin(service, identity)}


@router.post("/api/locker/cabins/{identity}/locker-status", summary="Read door and item sensor",
             dependencies=[act], response_model=DoorState,
             responses=declare({404: _NO_CABIN, 409: "`BoardRefused`", 503: _UNAVAILABLE}))
async def locker_status(identity: str, service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    reading = await _board(service.locker_status(identity))
    return {"success": True, "message": "Locker status read", "cabin": identity, **reading}


@router.post("/api/locker/cabins/{identity}/open", summary="Open the door (read back, never retried)",
             dependencies=[act], response_model=Opened,
             responses=declare({404: _NO_CABIN,
                                409: "`DoorDidNotOpen`: acknowledged, but the door is still closed; "
                                "`BoardRefused`: the board answered an error status",
                                503: f"{_UNAVAILABLE}, or the door sensor did not answer"}))
async def open_cabin(identity: str, request: Request, caller: Actor,
                      service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    async with audited(request, caller, "locker.open", identity):
        opened, reading = await _board(service.open(identity))
        if "sensorError" in reading:
            raise ApiError(503, "BoardUnavailable", "OPEN_DOOR was acknowledged but the door "
                           f"sensor did not answer: {reading['sensorError']}", success=False,
                           cabin=identity, **reading)
        if not opened:
            raise ApiError(409, "DoorDidNotOpen", "the board acknowledged OPEN_DOOR but the door "
                           "is still closed", success=False, cabin=identity, **reading)
    return {"success": True, "message": "Door opened", "cabin": identity, **reading}


@router.post("/api/locker/cabins/{identity}/start-charging",
             summary="Start charging: a transaction with the CSMS, START_CHARGING read back",
             dependencies=[act], response_model=CabinDone,
             responses=declare({404: _NO_CABIN, 409: "`StartRejected` with the reason; `BoardRefused`",
                                502: "`CsmsUnavailable`: the CSMS answered Authorize with an error (an "
                                     "unreachable one is not asked: the bay's offline rules decide)",
                                503: _UNAVAILABLE}))
async def start_charging(identity: str, body: StartCharging, request: Request,
                         caller: Actor,
                         service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    _cabin(service, identity)
    async with audited(request, caller, "locker.start_charging", identity, idTag=body.idTag):
        started, why = await _board(service.start_charging(identity, body.idTag))
        if not started:
            raise ApiError(409, "StartRejected", why, success=False, cabin=identity)
    cabin = _cabin(service, identity)
    if cabin["waitingForLoadLimit"]:  # a load group has no room for it yet: off until it does
        return {"success": True, "message": "Transaction started; the outlet stays off until the site's "
                "load limit has room for it", "cabin": cabin}
    return {"success": True, "message": "Charging started", "cabin": cabin}


@router.post("/api/locker/cabins/{identity}/stop-charging",
             summary="Stop charging: STOP_CHARGING read back, then StopTransaction (reason Local)",
             dependencies=[act], response_model=CabinDone,
             responses=declare({404: _NO_CABIN,
                                409: "`StopRejected` with the reason (no transaction, say); `BoardRefused`",
                                503: _UNAVAILABLE}))  # no 502: the StopTransaction waits in the outbox
async def stop_charging(identity: str, request: Request, caller: Actor,
                        service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    _cabin(service, identity)
    async with audited(request, caller, "locker.stop_charging", identity):
        stopped, why = await _board(service.stop_charging(identity))
        if not stopped:
            raise ApiError(409, "StopRejected", why, success=False, cabin=identity)
    return {"success": True, "message": "Charging stopped", "cabin": _cabin(service, identity)}


@router.post("/api/locker/cabins/{identity}/charging-status", summary="Read the outlet",
             dependencies=[act], response_model=OutletState,
             responses=declare({404: _NO_CABIN, 409: "`BoardRefused`", 503: _UNAVAILABLE}))
async def charging_status(identity: str, service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    reading = await _board(service.charging_status(identity))
    return {"success": True, "message": "Charging status read", "cabin": identity, **reading}


@router.get("/api/locker/ports", summary="Serial ports and their counters", dependencies=[read],
            response_model=Ports, responses=declare({404: "`BridgeNotConfigured`"}))
async def ports(service: Annotated[BridgeService, Depends(bridge)]) -> dict[str, Any]:
    return {"success": True, "ports": service.ports()}
