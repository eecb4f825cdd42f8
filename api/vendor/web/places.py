"""The locker back office's where and when: shifts and the devices on them, locations and their
areas, countries (conventions: :mod:`api.vendor.web.conventions`; the records:
:mod:`lockers.backoffice`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel, Field

from api.deps import Page
from api.errors import declare
from api.schemas import Paged
from api.vendor.web.conventions import (
    HHMM,
    MAX_ID,
    Body,
    CountryCode,
    Description,
    FilterId,
    Name,
    Omittable,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    Unique,
    Weekday,
    examples,
    served,
    web_router,
)
from lockers.backoffice.locations import LocationService
from lockers.backoffice.shifts import ShiftDeviceService, ShiftService

router = web_router()

ShiftId = Annotated[int, Path(alias="shiftId", ge=1, le=MAX_ID)]
ShiftDeviceId = Annotated[int, Path(alias="shiftDeviceId", ge=1, le=MAX_ID)]
LocationId = Annotated[int, Path(alias="locationId", ge=1, le=MAX_ID)]
Shifts = Annotated[ShiftService, served(ShiftService)]
OnShifts = Annotated[ShiftDeviceService, served(ShiftDeviceService)]
Locations = Annotated[LocationService, served(LocationService)]


# ================================================================================================
# Shifts
# ================================================================================================
class ShiftIn(Body):
    model_config = examples({"name": "Morning", "starts": "06:00", "ends": "14:00", "days": [1, 2, 3, 4, 5]})

    name: Name
    starts: HHMM = Field(description="HH:MM, the site's local time.")
    ends: HHMM = Field(description="HH:MM; before `starts` for a shift over midnight.")
    days: Annotated[list[Weekday], Unique] = Field([1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7,
                                description="ISO weekdays, 1 = Monday.")


class ShiftPatch(Body):
    model_config = examples({"ends": "15:00"}, {"days": [6, 7]})

    name: Omittable[Name] = None
    starts: Omittable[HHMM] = None
    ends: Omittable[HHMM] = None
    days: Omittable[Annotated[list[Weekday], Field(min_length=1, max_length=7), Unique]] = None


class ShiftOut(BaseModel):
    id: int
    name: str
    starts: str = Field(description="HH:MM, the site's local time.")
    ends: str
    days: list[int] = Field(description="ISO weekdays, 1 = Monday.")


SHIFT_NOT_FOUND = {404: "`ShiftNotFound`"}


@router.get("/api/shifts", tags=["shifts"], summary="Shift list", response_model=Paged[ShiftOut],
            responses=declare({}))
async def list_shifts(_: Reader, shifts: Shifts, page: Paging, q: Search = None) -> dict[str, Any]:
    return await shifts.page(page, q)


@router.post("/api/shifts", tags=["shifts"], status_code=201, summary="Add a shift", response_model=ShiftOut,
             responses=declare({409: "`ShiftExists`: the name is taken"}))
async def add_shift(body: ShiftIn, caller: Operator, shifts: Shifts) -> dict[str, Any]:
    return await shifts.get(await shifts.add(caller, body.model_dump()))


@router.get("/api/shifts/{shiftId}", tags=["shifts"], summary="Get a shift", response_model=ShiftOut,
            responses=declare(SHIFT_NOT_FOUND))
async def get_shift(_: Reader, shifts: Shifts, shift_id: ShiftId) -> dict[str, Any]:
    return await shifts.get(shift_id)


@router.patch("/api/shifts/{shiftId}", tags=["shifts"], summary="Update a shift", response_model=ShiftOut,
              responses=declare({**SHIFT_NOT_FOUND, 409: "`ShiftExists`"}))
async def update_shift(body: ShiftPatch, caller: Operator, shifts: Shifts,
                       shift_id: ShiftId) -> dict[str, Any]:
    await shifts.update(caller, shift_id, body.model_dump(exclude_unset=True))
    return await shifts.get(shift_id)


@router.delete("/api/shifts/{shiftId}", tags=["shifts"], status_code=204, summary="Delete a shift",
               responses=declare(SHIFT_NOT_FOUND))
async def delete_shift(caller: Operator, shifts: Shifts, shift_id: ShiftId) -> None:
    await shifts.delete(caller, shift_id)  # its devices go with it


# ================================================================================================
# Shift devices
# ================================================================================================
class ShiftDeviceIn(Body):
    model_config = examples({"shiftId": 1, "deviceId": 1})

    shiftId: RefId
    deviceId: RefId


class ShiftDevicePatch(Body):
    model_config = examples({"deviceId": 2})

    shiftId: Omittable[RefId] = None
    deviceId: Omittable[RefId] = None


class ShiftDeviceOut(BaseModel):
    id: int
    shiftId: int
    shiftName: str
    deviceId: int
    deviceCode: str
    deviceName: str


ON_SHIFT_REFS = {404: "`ShiftNotFound`, `DeviceNotFound` (`shiftId`, `deviceId`)",
                 409: "`ShiftDeviceExists`: the device is on that shift already"}


@router.get("/api/shift-devices", tags=["shift devices"], summary="List shift devices",
            response_model=Paged[ShiftDeviceOut], responses=declare({}))
async def list_shift_devices(_: Reader, on_shifts: OnShifts, page: Paging, q: Search = None,
                             shiftId: FilterId = None, deviceId: FilterId = None) -> dict[str, Any]:
    return await on_shifts.page(page, q, shiftId, deviceId)


@router.post("/api/shift-devices", tags=["shift devices"], status_code=201, summary="Add a shift device",
             response_model=ShiftDeviceOut, responses=declare(ON_SHIFT_REFS))
async def add_shift_device(body: ShiftDeviceIn, caller: Operator, on_shifts: OnShifts) -> dict[str, Any]:
    return await on_shifts.get(await on_shifts.add(caller, body.shiftId, body.deviceId))


@router.get("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], summary="Get a shift device",
            response_model=ShiftDeviceOut, responses=declare({404: "`ShiftDeviceNotFound`"}))
async def get_shift_device(_: Reader, on_shifts: OnShifts,
                           shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    return await on_shifts.get(shift_device_id)


@router.patch("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"],
              summary="Update a shift device", response_model=ShiftDeviceOut,
              responses=declare({**ON_SHIFT_REFS, 404: "`ShiftDeviceNotFound`; " + ON_SHIFT_REFS[404]}))
async def update_shift_device(body: ShiftDevicePatch, caller: Operator, on_shifts: OnShifts,
                              shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    await on_shifts.update(caller, shift_device_id, body.shiftId, body.deviceId)
    return await on_shifts.get(shift_device_id)


@router.delete("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], status_code=204,
               summary="Delete a shift device", responses=declare({404: "`ShiftDeviceNotFound`"}))
async def delete_shift_device(caller: Operator, on_shifts: OnShifts,
                              shift_device_id: ShiftDeviceId) -> None:
    await on_shifts.delete(caller, shift_device_id)


# ================================================================================================
# Locations and areas
# ================================================================================================
class LocationIn(Body):
    model_config = examples({"name": "Central Station", "address": "Platz 1, 10115 Berlin",
                             "countryCode": "DE"})

    name: Name
    address: Description | None = None
    countryCode: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 (GET /api/countries).")


class LocationPatch(Body):
    model_config = examples({"address": "Platz 2, 10115 Berlin"})

    name: Omittable[Name] = None
    address: Description | None = None
    countryCode: CountryCode | None = None


class AreaIn(Body):
    model_config = examples({"name": "Level -1"})

    name: Name


class AreaOut(BaseModel):
    id: int
    name: str


class LocationOut(BaseModel):
    id: int
    name: str
    address: str | None
    countryCode: str | None
    country: str | None = Field(description="The country's name.")
    createdAt: str
    areas: list[AreaOut] = Field(description="By name.")


class AreaAdded(BaseModel):
    id: int
    locationId: int
    name: str


LOCATION_NOT_FOUND = {404: "`LocationNotFound`"}


@router.get("/api/locations", tags=["locations"], summary="Locations, with their areas",
            response_model=Paged[LocationOut], responses=declare({}))
async def list_locations(_: Reader, locations: Locations, page: Paging, q: Search = None,
                         countryCode: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None) -> dict[str, Any]:
    return await locations.page(page, q, countryCode)


@router.post("/api/locations", tags=["locations"], status_code=201, summary="Add a location",
             response_model=LocationOut,
             responses=declare({409: "`LocationExists`", 422: "`UnknownCountry`"}))
async def add_location(body: LocationIn, caller: Operator, locations: Locations) -> dict[str, Any]:
    return await locations.get(await locations.add(caller, body.model_dump()))


@router.get("/api/locations/{locationId}", tags=["locations"], summary="Get a location, with its areas",
            response_model=LocationOut, responses=declare(LOCATION_NOT_FOUND))
async def get_location(_: Reader, locations: Locations, location_id: LocationId) -> dict[str, Any]:
    return await locations.get(location_id)


@router.patch("/api/locations/{locationId}", tags=["locations"], summary="Edit a location",
              response_model=LocationOut,
              responses=declare({404: "`LocationNotFound`", 409: "`LocationExists`", 422: "`UnknownCountry`"}))
async def update_location(body: LocationPatch, caller: Operator, locations: Locations,
                          location_id: LocationId) -> dict[str, Any]:
    await locations.update(caller, location_id, body.model_dump(exclude_unset=True))
    return await locations.get(location_id)


@router.post("/api/locations/{locationId}/areas", tags=["locations"], status_code=201,
             summary="Add an area to a location", response_model=AreaAdded,
             responses=declare({**LOCATION_NOT_FOUND,
                                409: "`AreaExists`: the location has an area so named"}))
async def add_area(body: AreaIn, caller: Operator, locations: Locations,
                   location_id: LocationId) -> dict[str, Any]:
    return await locations.add_area(caller, location_id, body.name)


# ================================================================================================
# Countries
# ================================================================================================
async def _all_countries(page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
                   page_size: Annotated[int, Query(ge=1, le=1000, description="Items per page (default: "
                                          "all of ISO 3166-1 at once).")] = 300) -> Page:
    return Page(page, page_size)


class CountryOut(BaseModel):
    code: str = Field(description="ISO 3166-1 alpha-2.")
    name: str


@router.get("/api/countries", tags=["countries"], summary="Countries (ISO 3166-1)",
            response_model=Paged[CountryOut], responses=declare({}))
async def list_countries(_: Reader, locations: Locations, page: Annotated[Page, Depends(_all_countries)],
                         q: Search = None) -> dict[str, Any]:
    return await locations.countries(page, q)
