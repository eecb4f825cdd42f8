"""The locker back office's where and when: shifts and the devices on them, locations and their
areas, countries (conventions: :mod:`api.vendor.web.conventions`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.crud import create, insert, log, one, page_of, patch, remove, row_or_404, write
from api.deps import Page
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import actor
from api.vendor.web.conventions import (
    AREAS,
    COUNTRIES,
    COUNTRY,
    DEVICE,
    DEVICES,
    HHMM,
    LOCATION,
    LOCATIONS,
    MAX_ID,
    NOT_FOUND,
    SHIFT,
    SHIFT_DEVICE,
    SHIFT_DEVICES,
    SHIFTS,
    Body,
    CountryCode,
    Description,
    Engine,
    FilterId,
    Name,
    Operator,
    Paging,
    Reader,
    RefId,
    Search,
    Unique,
    Weekday,
    examples,
    json_list,
)
from csms.timeutil import iso, now_utc
from lockers.audit import audit

router = APIRouter(route_class=GuardedRoute)

ShiftId = Annotated[int, Path(alias="shiftId", ge=1, le=MAX_ID)]
ShiftDeviceId = Annotated[int, Path(alias="shiftDeviceId", ge=1, le=MAX_ID)]
LocationId = Annotated[int, Path(alias="locationId", ge=1, le=MAX_ID)]


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

    name: Name = Field(None)
    starts: HHMM = Field(None)
    ends: HHMM = Field(None)
    days: Annotated[list[Weekday], Unique] = Field(None, min_length=1, max_length=7)


def _shift(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "starts": row.starts, "ends": row.ends,
            "days": json_list(row.days)}


@router.get("/api/shifts", tags=["shifts"], summary="Shift list")
async def list_shifts(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, select(SHIFTS).order_by(SHIFTS.c.starts, SHIFTS.c.name), q,
                         [SHIFTS.c.name], _shift)


@router.post("/api/shifts", tags=["shifts"], status_code=201, summary="Add a shift",
             responses={409: {"description": "`ShiftExists`: the name is taken"}})
async def add_shift(body: ShiftIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    return await get_shift(caller, eng, await create(eng, caller, SHIFT, body.model_dump()))


@router.get("/api/shifts/{shiftId}", tags=["shifts"], summary="Get a shift", responses=NOT_FOUND)
async def get_shift(_: Reader, eng: Engine, shift_id: ShiftId) -> dict[str, Any]:
    return await one(eng, SHIFT, shift_id, shape=_shift)


@router.patch("/api/shifts/{shiftId}", tags=["shifts"], summary="Update a shift",
              responses={**NOT_FOUND, 409: {"description": "`ShiftExists`"}})
async def update_shift(body: ShiftPatch, caller: Operator, eng: Engine,
                       shift_id: ShiftId) -> dict[str, Any]:
    await patch(eng, caller, SHIFT, shift_id, body.model_dump(exclude_unset=True))
    return await get_shift(caller, eng, shift_id)


@router.delete("/api/shifts/{shiftId}", tags=["shifts"], status_code=204, summary="Delete a shift",
               responses=NOT_FOUND)
async def delete_shift(caller: Operator, eng: Engine, shift_id: ShiftId) -> None:
    await remove(eng, caller, SHIFT, shift_id)  # its devices go with it


# ================================================================================================
# Shift devices
# ================================================================================================
class ShiftDeviceIn(Body):
    model_config = examples({"shiftId": 1, "deviceId": 1})

    shiftId: RefId
    deviceId: RefId


class ShiftDevicePatch(Body):
    model_config = examples({"deviceId": 2})

    shiftId: RefId = Field(None)
    deviceId: RefId = Field(None)


def _shift_device_query() -> Select[Any]:
    return (select(SHIFT_DEVICES.c.id, SHIFT_DEVICES.c.shift_id.label("shiftId"),
                   SHIFTS.c.name.label("shiftName"), SHIFT_DEVICES.c.device_id.label("deviceId"),
                   DEVICES.c.code.label("deviceCode"), DEVICES.c.name.label("deviceName"))
            .select_from(SHIFT_DEVICES.join(SHIFTS, SHIFTS.c.id == SHIFT_DEVICES.c.shift_id)
                         .join(DEVICES, DEVICES.c.id == SHIFT_DEVICES.c.device_id)))


async def _check_shift_device(conn: AsyncConnection, shift_id: int, device_id: int,
                              except_id: int | None = None) -> None:
    await row_or_404(conn, SHIFT, shift_id)
    await row_or_404(conn, DEVICE, device_id)
    query = select(SHIFT_DEVICES.c.id).where(SHIFT_DEVICES.c.shift_id == shift_id,
                                             SHIFT_DEVICES.c.device_id == device_id)
    if except_id is not None:
        query = query.where(SHIFT_DEVICES.c.id != except_id)
    if (await conn.execute(query)).first() is not None:
        raise ApiError(409, "ShiftDeviceExists", f"device {device_id} is already on shift {shift_id}")


@router.get("/api/shift-devices", tags=["shift devices"], summary="List shift devices")
async def list_shift_devices(_: Reader, eng: Engine, page: Paging, q: Search = None,
                             shiftId: FilterId = None, deviceId: FilterId = None) -> dict[str, Any]:
    return await page_of(eng, page, _shift_device_query().order_by(SHIFT_DEVICES.c.id), q,
                         [SHIFTS.c.name, DEVICES.c.code, DEVICES.c.name],
                         where=[(SHIFT_DEVICES.c.shift_id, shiftId),
                                (SHIFT_DEVICES.c.device_id, deviceId)])


@router.post("/api/shift-devices", tags=["shift devices"], status_code=201, summary="Add a shift device",
             responses={**NOT_FOUND, 409: {"description": "`ShiftDeviceExists`"}})
async def add_shift_device(body: ShiftDeviceIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        await _check_shift_device(conn, body.shiftId, body.deviceId)
        return await insert(conn, caller, SHIFT_DEVICE, body.model_dump(), device_id=body.deviceId,
                            shift_id=body.shiftId)

    return await get_shift_device(caller, eng, await write(eng, work, SHIFT_DEVICE.conflict()))


@router.get("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], summary="Get a shift device",
            responses=NOT_FOUND)
async def get_shift_device(_: Reader, eng: Engine,
                           shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    return await one(eng, SHIFT_DEVICE, shift_device_id, _shift_device_query())


@router.patch("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"],
              summary="Update a shift device",
              responses={**NOT_FOUND, 409: {"description": "`ShiftDeviceExists`"}})
async def update_shift_device(body: ShiftDevicePatch, caller: Operator, eng: Engine,
                              shift_device_id: ShiftDeviceId) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> None:
        row = await row_or_404(conn, SHIFT_DEVICE, shift_device_id)
        shift_id = body.shiftId or row.shift_id
        device_id = body.deviceId or row.device_id
        await _check_shift_device(conn, shift_id, device_id, shift_device_id)
        await conn.execute(update(SHIFT_DEVICES).where(SHIFT_DEVICES.c.id == shift_device_id)
                           .values(shift_id=shift_id, device_id=device_id))
        await log(conn, caller, SHIFT_DEVICE, "edit", shift_device_id, device_id=device_id,
                  shift_id=shift_id)

    await write(eng, work, SHIFT_DEVICE.conflict())
    return await get_shift_device(caller, eng, shift_device_id)


@router.delete("/api/shift-devices/{shiftDeviceId}", tags=["shift devices"], status_code=204,
               summary="Delete a shift device", responses=NOT_FOUND)
async def delete_shift_device(caller: Operator, eng: Engine,
                              shift_device_id: ShiftDeviceId) -> None:
    await remove(eng, caller, SHIFT_DEVICE, shift_device_id,
                 details=lambda row: {"device_id": row.device_id, "shift_id": row.shift_id})


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

    name: Name = Field(None)
    address: Description | None = None
    countryCode: CountryCode | None = None


class AreaIn(Body):
    model_config = examples({"name": "Level -1"})

    name: Name


async def _with_areas(eng: AsyncEngine, locations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [loc["id"] for loc in locations]
    areas: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        async with eng.connect() as conn:
            for row in await conn.execute(select(AREAS).where(AREAS.c.location_id.in_(ids))
                                          .order_by(AREAS.c.name)):
                areas[row.location_id].append({"id": row.id, "name": row.name})
    return [{**loc, "areas": areas[loc["id"]]} for loc in locations]


def _location(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "address": row.address, "countryCode": row.country_code,
            "country": row.country, "createdAt": iso(row.created_at)}


def _location_query() -> Select[Any]:
    return (select(LOCATIONS, COUNTRIES.c.name.label("country"))
            .select_from(LOCATIONS.outerjoin(COUNTRIES, COUNTRIES.c.code == LOCATIONS.c.country_code)))


@router.get("/api/locations", tags=["locations"], summary="Locations, with their areas")
async def list_locations(_: Reader, eng: Engine, page: Paging, q: Search = None,
                         countryCode: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None) -> dict[str, Any]:
    result = await page_of(eng, page, _location_query().order_by(LOCATIONS.c.name), q,
                           [LOCATIONS.c.name, LOCATIONS.c.address], _location,
                           where=[(LOCATIONS.c.country_code, countryCode and countryCode.upper())])
    return {**result, "items": await _with_areas(eng, result["items"])}


@router.post("/api/locations", tags=["locations"], status_code=201, summary="Add a location",
             responses={**NOT_FOUND, 409: {"description": "`LocationExists`"}})
async def add_location(body: LocationIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    location_id = await create(eng, caller, LOCATION, {**body.model_dump(), "created_at": now_utc()},
                               check=lambda conn: row_or_404(conn, COUNTRY, body.countryCode),
                               details=body.model_dump())
    return await get_location(caller, eng, location_id)


@router.get("/api/locations/{locationId}", tags=["locations"], summary="Get a location, with its areas",
            responses=NOT_FOUND)
async def get_location(_: Reader, eng: Engine, location_id: LocationId) -> dict[str, Any]:
    location = await one(eng, LOCATION, location_id, _location_query(), _location)
    return (await _with_areas(eng, [location]))[0]


@router.patch("/api/locations/{locationId}", tags=["locations"], summary="Edit a location",
              responses={**NOT_FOUND, 409: {"description": "`LocationExists`"}})
async def update_location(body: LocationPatch, caller: Operator, eng: Engine,
                          location_id: LocationId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    await patch(eng, caller, LOCATION, location_id, values,
                also=lambda conn, _: row_or_404(conn, COUNTRY, values.get("countryCode")))
    return await get_location(caller, eng, location_id)


@router.post("/api/locations/{locationId}/areas", tags=["locations"], status_code=201,
             summary="Add an area to a location",
             responses={**NOT_FOUND, 409: {"description": "`AreaExists`: the location has an area so named"}})
async def add_area(body: AreaIn, caller: Operator, eng: Engine,
                   location_id: LocationId) -> dict[str, Any]:
    message = f"location {location_id} has an area {body.name!r}"

    async def work(conn: AsyncConnection) -> int:
        await row_or_404(conn, LOCATION, location_id)
        if (await conn.execute(select(AREAS.c.id).where(
                AREAS.c.location_id == location_id, AREAS.c.name == body.name))).first() is not None:
            raise ApiError(409, "AreaExists", message)
        result = await conn.execute(AREAS.insert().values(location_id=location_id, name=body.name))
        area_id = int(result.inserted_primary_key[0])
        await audit(conn, actor(caller), "area.add", location_id=location_id, area_id=area_id,
                    name=body.name)
        return area_id

    area_id = await write(eng, work, ApiError(409, "AreaExists", message))
    return {"id": area_id, "locationId": location_id, "name": body.name}


# ================================================================================================
# Countries
# ================================================================================================
def _all_countries(page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
                   page_size: Annotated[int, Query(ge=1, le=1000, description="Items per page (default: "
                                          "all of ISO 3166-1 at once).")] = 300) -> Page:
    return Page(page, page_size)


@router.get("/api/countries", tags=["countries"], summary="Countries (ISO 3166-1)")
async def list_countries(_: Reader, eng: Engine, page: Annotated[Page, Depends(_all_countries)],
                         q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, select(COUNTRIES.c.code, COUNTRIES.c.name).order_by(COUNTRIES.c.name),
                         q, [COUNTRIES.c.code, COUNTRIES.c.name])
