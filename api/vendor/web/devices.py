"""Back-office devices (kiosks and locker controllers), their heartbeat status and their device
keys (seed 000; the records: :mod:`lockers.backoffice.devices`, the keys:
:mod:`lockers.backoffice.device_keys`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    MAX_ID,
    Body,
    Code,
    FilterId,
    Name,
    Omittable,
    Operator,
    Paging,
    Password,
    PortName,
    Reader,
    RefId,
    Search,
    Unique,
    examples,
    served,
    web_router,
)
from lockers.backoffice.device_keys import DeviceKeys
from lockers.backoffice.devices import ONLINE_WINDOW, DeviceService

__all__ = ["ONLINE_WINDOW", "BankId", "DeviceId", "LockerId", "LockerTypeId", "router"]

router = web_router()

DeviceId = Annotated[int, Path(alias="deviceId", ge=1, le=MAX_ID)]
LockerId = Annotated[int, Path(alias="lockerId", ge=1, le=MAX_ID)]
LockerTypeId = Annotated[int, Path(alias="lockerTypeId", ge=1, le=MAX_ID)]
BankId = Annotated[int, Path(alias="bankId", ge=1, le=MAX_ID)]
Devices = Annotated[DeviceService, served(DeviceService)]
Keys = Annotated[DeviceKeys, served(DeviceKeys)]
Kind = Literal["kiosk", "controller"]


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

    code: Omittable[Code] = None
    name: Omittable[Name] = None
    kind: Omittable[Kind] = None
    locationId: RefId | None = None
    areaId: RefId | None = None
    ports: Omittable[Annotated[list[PortName], Field(max_length=16), Unique]] = None
    password: Password | None = Field(None, description="null removes it (no kiosk login); "
                                                        "a change logs the device's kiosks out.")


class DeviceOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    locationId: int | None
    areaId: int | None
    ports: list[str] = Field(description="Its serial ports.")
    hasPassword: bool = Field(description="Whether it has a kiosk login (the hash is never shown).")
    hasKey: bool = Field(description="Whether it has a device key for its heartbeats (`POST "
                                     "/api/devices/{deviceId}/key`; the key is never shown again).")
    online: bool = Field(description="A heartbeat came within the last 2 minutes.")
    lastHeartbeatAt: str | None
    heartbeat: Any = Field(description="The last heartbeat's body, as the device sent it (null: none).")
    createdAt: str


class DeviceKey(BaseModel):
    """A device key, as issued: the only time its secret is shown."""

    deviceId: int
    deviceCode: str = Field(description="The device's code when the key was issued (what its "
                                        "heartbeats name as `deviceId`).")
    tokenId: int = Field(description="The key's API token id (admins see it in /api/v1/tokens, "
                                     "role `device`).")
    key: str = Field(description="The secret: send it as `X-API-Key: <key>` (or `Authorization: "
                                 "Bearer <key>`) with `POST /system/heartbeat`. Shown once.")
    header: str = Field(description="The header to send it in: `X-API-Key`.")
    createdAt: str
    replaced: bool = Field(description="True: the device's previous key was revoked by this one.")


class DeviceStatus(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    online: bool
    lastHeartbeatAt: str | None
    secondsSinceHeartbeat: int | None


class DevicesStatus(Paged[DeviceStatus]):
    onlineWindowSeconds: int = Field(description="How recent a heartbeat makes a device online.")
    online: int = Field(description="Devices online, of all (not only this page's).")


DEVICE_NOT_FOUND = {404: "`DeviceNotFound`"}
PLACE = {404: "`LocationNotFound`, `AreaNotFound` (`locationId`, `areaId`)",
         422: "`AreaNotInLocation`"}


@router.get("/api/devices", tags=["devices"], summary="List devices", response_model=Paged[DeviceOut],
            responses=declare({}))
async def list_devices(_: Reader, devices: Devices, page: Paging, q: Search = None,
                       kind: Kind | None = None, locationId: FilterId = None) -> dict[str, Any]:
    return await devices.page(page, q, kind, locationId)


@router.get("/api/devices/status", tags=["devices"],
            summary="Devices status: online when a heartbeat came within the last 2 minutes",
            response_model=DevicesStatus, responses=declare({}))
async def devices_status(_: Reader, devices: Devices, page: Paging, q: Search = None,
                         online: Annotated[bool | None, Query(description="Only online (true) or "
                                                                      "offline (false).")] = None
                         ) -> dict[str, Any]:
    return await devices.status(page, q, online)


@router.post("/api/devices", tags=["devices"], status_code=201, summary="Add a device",
             response_model=DeviceOut,
             responses=declare({**PLACE, 409: "`DeviceExists`: the code is taken"}))
async def add_device(body: DeviceIn, caller: Operator, devices: Devices) -> dict[str, Any]:
    return await devices.get(await devices.add(caller, body.model_dump()))


@router.get("/api/devices/{deviceId}", tags=["devices"], summary="Get a device", response_model=DeviceOut,
            responses=declare(DEVICE_NOT_FOUND))
async def get_device(_: Reader, devices: Devices, device_id: DeviceId) -> dict[str, Any]:
    return await devices.get(device_id)


@router.patch("/api/devices/{deviceId}", tags=["devices"], summary="Update (edit) a device",
              response_model=DeviceOut,
              responses=declare({**PLACE, 404: "`DeviceNotFound`; " + PLACE[404], 409: "`DeviceExists`"}))
async def update_device(body: DevicePatch, caller: Operator, devices: Devices,
                        device_id: DeviceId) -> dict[str, Any]:
    await devices.update(caller, device_id, body.model_dump(exclude_unset=True))
    return await devices.get(device_id)


@router.delete("/api/devices/{deviceId}", tags=["devices"], status_code=204, summary="Delete a device",
               responses=declare(DEVICE_NOT_FOUND))
async def delete_device(caller: Operator, devices: Devices, device_id: DeviceId) -> None:
    """Its lockers and banks stay (unassigned), its shift entries go, its kiosks are logged out,
    its device key is revoked."""
    await devices.delete(caller, device_id)


# ================================================================================================
# Device keys: what a field device heartbeats with (POST /system/heartbeat), not a kiosk login
# ================================================================================================
@router.post("/api/devices/{deviceId}/key", tags=["devices"], status_code=201,
             summary="Issue the device's key for its heartbeats (replaces its previous one)",
             response_model=DeviceKey, responses=declare(DEVICE_NOT_FOUND))
async def issue_device_key(caller: Operator, keys: Keys, device_id: DeviceId) -> dict[str, Any]:
    """A key of role `device` bound to this device: good for `POST /system/heartbeat` naming this
    device and nothing else (another device's code is 404, every other call 403). Its secret is in
    this answer only. The device's previous key, if any, stops working now; keys do not expire.
    Audited as `device.key_issued`."""
    return await keys.issue(caller, device_id)


@router.delete("/api/devices/{deviceId}/key", tags=["devices"], status_code=204,
               summary="Revoke the device's key", responses=declare(
                   {404: "`DeviceNotFound`; `DeviceKeyNotFound`: it has no key"}))
async def revoke_device_key(caller: Operator, keys: Keys, device_id: DeviceId) -> None:
    """Its heartbeats are refused (401) from now on. Audited as `device.key_revoked`."""
    await keys.revoke(caller, device_id)
