"""Locker types: a size, whether its lockers have an outlet, and whether they are never rented
(a screen, say: then every locker of the type is out of service, at its bay too)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from csms.queries import Page
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import LOCKER_TYPE, LOCKERS, TYPES
from lockers.records import create, one, page_of, patch
from lockers.scope import Viewer


def _locker_type(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "size": row.size, "hasCharging": row.has_charging,
            "alwaysOos": row.always_oos, "description": row.description}


class LockerTypeService(BackOfficeService):
    async def page(self, page: Page, q: str | None) -> dict[str, Any]:
        return await page_of(self.engine, page, select(TYPES).order_by(TYPES.c.name), q,
                             [TYPES.c.name, TYPES.c.description], _locker_type)

    async def get(self, type_id: int) -> dict[str, Any]:
        return await one(self.engine, LOCKER_TYPE, type_id, shape=_locker_type)

    async def add(self, who: Viewer, values: dict[str, Any]) -> int:
        return await create(self.engine, who, LOCKER_TYPE, values)

    async def update(self, who: Viewer, type_id: int, values: dict[str, Any]) -> None:
        """Change the fields ``values`` sets; a change of ``alwaysOos`` puts its lockers' bays
        into maintenance or takes them out of it."""
        await patch(self.engine, who, LOCKER_TYPE, type_id, values)
        if "alwaysOos" in values:
            async with self.engine.connect() as conn:
                identities = (await conn.execute(select(LOCKERS.c.identity).where(
                    LOCKERS.c.locker_type_id == type_id))).scalars().all()
            for identity in identities:
                await self.site.apply_service_state(identity)
