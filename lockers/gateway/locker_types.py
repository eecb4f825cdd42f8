"""Locker types, with how many lockers of each the caller can see and how many of those a new
rental could take now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.audit import audit
from lockers.errors import Conflict, NotFound
from lockers.gateway.rows import LOCKERS, TYPES, LockerView, inserted_id, locker_query
from lockers.scope import Viewer, scoped
from lockers.service import SiteService


@dataclass(frozen=True)
class CountedType:
    """A locker type's row, with its lockers (that the viewer can see) and how many are available."""

    row: Any
    lockers: int = 0
    available: int = 0


class LockerTypes:
    def __init__(self, sites: SiteService) -> None:
        self.sites = sites
        self.engine = sites.engine

    async def _counts(self, conn: AsyncConnection, viewer: Viewer) -> dict[int, tuple[int, int]]:
        """Per locker type: (lockers, available), over the lockers the viewer can see."""
        rows = (await conn.execute(scoped(locker_query().where(LOCKERS.c.locker_type_id.isnot(None)),
                                          viewer))).all()
        counts: dict[int, tuple[int, int]] = {}
        for r in rows:
            total, free = counts.get(r.locker_type_id, (0, 0))
            counts[r.locker_type_id] = (total + 1, free + LockerView(r, self.sites.live(r.identity)).available)
        return counts

    async def find(self, viewer: Viewer, *, page: int, page_size: int) -> tuple[list[CountedType], int]:
        """One page of types in id order, and how many there are."""
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(TYPES))).scalar_one()
            rows = (await conn.execute(select(TYPES).order_by(TYPES.c.id).limit(page_size)
                                       .offset((page - 1) * page_size))).all()
            counts = await self._counts(conn, viewer)
        return [CountedType(r, *counts.get(r.id, (0, 0))) for r in rows], int(total)

    async def get(self, type_id: int, viewer: Viewer) -> CountedType:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(TYPES).where(TYPES.c.id == type_id))).first()
            if row is None:
                raise NotFound("LockerTypeNotFound", f"no locker type {type_id}")
            return CountedType(row, *(await self._counts(conn, viewer)).get(row.id, (0, 0)))

    async def create(self, viewer: Viewer, *, name: str, size: str, has_charging: bool, always_oos: bool,
                     description: str | None) -> CountedType:
        """A new type (no lockers yet); ``LockerTypeExists`` when the name is taken."""
        async with self.engine.begin() as conn:
            taken = (await conn.execute(select(TYPES.c.id).where(TYPES.c.name == name))).first()
            if taken is not None:
                raise Conflict("LockerTypeExists", f"a locker type {name!r} exists", id=taken.id)
            try:
                result = await conn.execute(TYPES.insert().values(
                    name=name, size=size, has_charging=has_charging, always_oos=always_oos,
                    description=description))
            except IntegrityError:  # created concurrently under the same name
                raise Conflict("LockerTypeExists", f"a locker type {name!r} exists") from None
            type_id = inserted_id(result)
            await audit(conn, viewer.name, "locker_type.create", lockerTypeId=type_id, name=name, size=size,
                        hasCharging=has_charging, alwaysOos=always_oos, description=description)
            row = (await conn.execute(select(TYPES).where(TYPES.c.id == type_id))).one()
        return CountedType(row)
