"""Locations (a site's address, in a country) and their areas, and the ISO 3166-1 countries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from csms.timeutil import iso, now_utc
from lockers.audit import audit
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import AREAS, COUNTRIES, COUNTRY, LOCATION, LOCATIONS
from lockers.errors import Conflict, Invalid, NotFound
from lockers.records import create, one, page_of, patch, row_or_404, write
from lockers.scope import Viewer


def _location(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "address": row.address, "countryCode": row.country_code,
            "country": row.country, "createdAt": iso(row.created_at)}


def _query() -> Select[Any]:
    return (select(LOCATIONS, COUNTRIES.c.name.label("country"))
            .select_from(LOCATIONS.outerjoin(COUNTRIES, COUNTRIES.c.code == LOCATIONS.c.country_code)))


class LocationService(BackOfficeService):
    async def _with_areas(self, locations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The locations, each with its areas by name (one query for all of them)."""
        ids = [loc["id"] for loc in locations]
        areas: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            async with self.engine.connect() as conn:
                for row in await conn.execute(select(AREAS).where(AREAS.c.location_id.in_(ids))
                                              .order_by(AREAS.c.name)):
                    areas[row.location_id].append({"id": row.id, "name": row.name})
        return [{**loc, "areas": areas[loc["id"]]} for loc in locations]

    async def page(self, page: Page, q: str | None, country_code: str | None) -> dict[str, Any]:
        """Locations by name, with their areas; ``q`` in the name or address."""
        result = await page_of(self.engine, page, _query().order_by(LOCATIONS.c.name), q,
                               [LOCATIONS.c.name, LOCATIONS.c.address], _location,
                               where=[(LOCATIONS.c.country_code, country_code and country_code.upper())])
        return {**result, "items": await self._with_areas(result["items"])}

    async def get(self, location_id: int) -> dict[str, Any]:
        location = await one(self.engine, LOCATION, location_id, _query(), _location)
        return (await self._with_areas([location]))[0]

    async def add(self, who: Viewer, values: dict[str, Any]) -> int:
        """Add a location (its country must be known); its id."""
        return await create(self.engine, who, LOCATION, {**values, "created_at": now_utc()},
                            check=lambda conn: _known_country(conn, values.get("countryCode")),
                            details=values)

    async def update(self, who: Viewer, location_id: int, values: dict[str, Any]) -> None:
        await patch(self.engine, who, LOCATION, location_id, values,
                    also=lambda conn, _: _known_country(conn, values.get("countryCode")))

    async def add_area(self, who: Viewer, location_id: int, name: str) -> dict[str, Any]:
        """Add an area to a location (``AreaExists`` if it has one so named); the area."""
        message = f"location {location_id} has an area {name!r}"

        async def work(conn: AsyncConnection) -> int:
            await row_or_404(conn, LOCATION, location_id)
            if (await conn.execute(select(AREAS.c.id).where(
                    AREAS.c.location_id == location_id, AREAS.c.name == name))).first() is not None:
                raise Conflict("AreaExists", message)
            result = await conn.execute(AREAS.insert().values(location_id=location_id, name=name))
            inserted = result.inserted_primary_key
            assert inserted is not None  # an INSERT of one row has one
            area_id = int(inserted[0])
            await audit(conn, who.name, "area.add", location_id=location_id, area_id=area_id, name=name)
            return area_id

        area_id = await write(self.engine, work, Conflict("AreaExists", message))
        return {"id": area_id, "locationId": location_id, "name": name}

    async def countries(self, page: Page, q: str | None) -> dict[str, Any]:
        """ISO 3166-1 countries by name; ``q`` in the code or name."""
        return await page_of(self.engine, page,
                             select(COUNTRIES.c.code, COUNTRIES.c.name).order_by(COUNTRIES.c.name),
                             q, [COUNTRIES.c.code, COUNTRIES.c.name])


async def _known_country(conn: AsyncConnection, code: str | None) -> None:
    """An unknown ``countryCode`` is a bad value in the body (422 ``UnknownCountry``, naming the
    field), not a missing record the URL names (404): issue #20."""
    try:
        await row_or_404(conn, COUNTRY, code)
    except NotFound:
        raise Invalid("UnknownCountry", f"no country {code!r} (GET /api/countries lists them)",
                      field="countryCode") from None
