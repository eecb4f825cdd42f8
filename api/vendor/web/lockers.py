"""Lockers in the back office: a kiosk's own, the maintenance list, adding, retyping and
deleting them, driven by the bridge at once (seed 000; the records:
:mod:`lockers.backoffice.lockers`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    BayNumber,
    Body,
    Code,
    FilterId,
    LockerReader,
    Omittable,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    examples,
    served,
    web_router,
)
from api.vendor.web.devices import LockerId
from lockers.backoffice.lockers import LockerService

router = web_router()
Lockers = Annotated[LockerService, served(LockerService)]


class LockerIn(Body):
    model_config = examples({"bankId": 1, "bay": 5, "lockerTypeId": 1},
                            {"bankId": 1, "bay": 6, "identity": "LOCKER-A-SCREEN", "deviceId": 1})

    bankId: RefId
    bay: BayNumber
    lockerTypeId: RefId | None = None
    identity: Omittable[Code] = Field(None, description="Its charge point id; default `{bank}-{bay:02d}`.")
    deviceId: RefId | None = Field(None, description="Default: the bank's device.")


class LockerPatch(Body):
    model_config = examples({"lockerTypeId": 1})

    lockerTypeId: RefId | None = None


class LockerOut(BaseModel):
    id: int
    identity: str = Field(description="Its charge point id.")
    bankId: int
    bank: str
    port: str
    address: int
    bay: int
    lockerTypeId: int | None
    lockerType: str | None
    deviceId: int | None
    deviceCode: str | None
    assignedUserId: int | None
    assignedUsername: str | None
    outOfService: bool = Field(description="Its own flag, or a type that is always out of service.")
    reasonCode: str | None
    reason: str | None
    brokenLock: bool
    doorChangedAt: str | None
    createdAt: str
    door: str | None = Field(description="`open`, `closed`, or null: the bridge has not seen it.")
    driven: bool = Field(description="Whether the bridge in this process drives it.")


class LockerAdded(LockerOut):
    message: str = Field(description="Whether the bridge drives it, and if not why.")


class LockerLive(LockerOut):
    live: dict[str, Any] | None = Field(description="The bridge's view (door, item, charging, OCPP "
                                                    "status); null when it does not drive it here.")


class LockerDeleted(BaseModel):
    id: int
    identity: str
    deleted: bool
    stillDriven: bool = Field(description="The bridge drives the bay until it restarts.")
    message: str


LOCKER_NOT_FOUND = {404: "`LockerNotFound`"}


@router.get("/api/admin/lockers", tags=["lockers"], summary="Locker list (a kiosk: its device's lockers)",
            response_model=Paged[LockerOut], responses=declare({}))
async def list_lockers(caller: LockerReader, lockers: Lockers, page: Paging,
                       q: Search = None, bankId: FilterId = None, deviceId: FilterId = None,
                       lockerTypeId: FilterId = None, outOfService: bool | None = None) -> dict[str, Any]:
    return await lockers.page(caller, page, q, bank_id=bankId, device_id=deviceId,
                              locker_type_id=lockerTypeId, out_of_service=outOfService)


@router.get("/api/admin/lockers/maintenance", tags=["lockers"],
            summary="Maintenance list: lockers out of service or with a broken lock",
            response_model=Paged[LockerOut], responses=declare({}))
async def maintenance_list(_: Reader, lockers: Lockers, page: Paging, q: Search = None) -> dict[str, Any]:
    return await lockers.maintenance(page, q)


@router.post("/api/admin/lockers", tags=["lockers"], status_code=201,
             summary="Add a locker (a bay of a bank); the bridge drives it at once", response_model=LockerAdded,
             responses=declare({404: "`BankNotFound`, `LockerTypeNotFound`, `DeviceNotFound`",
                                409: "`BayTaken`; `LockerExists` (identity); "
                                     "`IdentityDrivenElsewhere`, `BayDrivenByBridge`",
                                422: "`IdentityRequired`: the bank's name makes no valid default identity"}))
async def add_locker(body: LockerIn, caller: Operator, lockers: Lockers) -> dict[str, Any]:
    """``driven`` says whether the bridge drives it; if not, ``message`` says why."""
    return await lockers.add(caller, body.bankId, body.bay, body.lockerTypeId, body.identity, body.deviceId)


@router.get("/api/admin/lockers/{lockerId}", tags=["lockers"],
            summary="Get a locker, with the bridge's live view when it drives it", response_model=LockerLive,
            responses=declare(LOCKER_NOT_FOUND))
async def get_locker(caller: LockerReader, lockers: Lockers, locker_id: LockerId) -> dict[str, Any]:
    return await lockers.live(caller, locker_id)


@router.patch("/api/admin/lockers/{lockerId}", tags=["lockers"], summary="Change a locker's type",
              response_model=LockerOut, responses=declare({404: "`LockerNotFound`; `LockerTypeNotFound`"}))
async def update_locker(body: LockerPatch, caller: Operator, lockers: Lockers,
                        locker_id: LockerId) -> dict[str, Any]:
    """Service state (out of service, broken lock) is the locker gateway's `PATCH /lockers/{id}`."""
    await lockers.retype(caller, locker_id, body.model_dump(exclude_unset=True))
    return await lockers.get(caller, locker_id)


@router.delete("/api/admin/lockers/{lockerId}", tags=["lockers"], summary="Delete a locker",
               response_model=LockerDeleted,
               responses=declare({**LOCKER_NOT_FOUND, 409: "`LockerInUse`: a rental holds it"}))
async def delete_locker(caller: Operator, lockers: Lockers, locker_id: LockerId) -> dict[str, Any]:
    """The bridge has no way to let go of a bay while it runs: it keeps driving a deleted locker
    until it restarts, and a bay from its YAML comes back then (``stillDriven`` says so)."""
    return await lockers.delete(caller, locker_id)
