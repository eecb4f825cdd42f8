"""Lockers as the gateway serves them: the list with live state, one locker's configuration and
recent history, its service state, and opening one or all of them.

An out-of-service locker takes no new rental but keeps its existing ones, and may still be opened
for them: a user's belongings must stay reachable while the locker awaits repair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from lockers.audit import audit
from lockers.errors import Conflict, Invalid
from lockers.gateway.opening import Opened, open_locker
from lockers.gateway.rows import AUDIT, DEVICES, LOCKERS, LockerView, locker_query, locker_row
from lockers.scope import Viewer, locker_or_404, scoped
from lockers.service import SiteService

LOCKER_EVENTS = 20  # audit entries in a locker's details: enough to see what just happened
SERVICE_FIELDS = ("out_of_service", "reason_code", "reason", "broken_lock")


@dataclass(frozen=True)
class OpenedAll:
    """What opening every locker did: one outcome per locker tried, in id order, and the lockers
    of a never-rented type, which were not tried."""

    results: list[Opened]
    skipped: list[int]

    @property
    def succeeded(self) -> int:
        return sum(r.result.success for r in self.results)


class GatewayLockers:
    """Reads and changes of lockers; the caller is the :class:`~lockers.scope.Viewer` (a kiosk
    sees only its device's lockers) and, by its name, the audit log's actor."""

    def __init__(self, sites: SiteService) -> None:
        self.sites = sites
        self.engine = sites.engine

    def view(self, row: Any) -> LockerView:
        return LockerView(row, self.sites.live(row.identity))

    async def find(self, viewer: Viewer, *, page: int, page_size: int, bank_id: int | None = None,
                   locker_type_id: int | None = None, device_id: int | None = None,
                   broken_lock: bool | None = None, out_of_service: bool | None = None,
                   available: bool | None = None) -> tuple[list[LockerView], int]:
        """One page of lockers and how many match. ``out_of_service`` and ``available`` depend on
        the type and the bridge's live view, so they are filtered here rather than in SQL."""
        query = scoped(locker_query(), viewer)
        if bank_id is not None:
            query = query.where(LOCKERS.c.bank_id == bank_id)
        if locker_type_id is not None:
            query = query.where(LOCKERS.c.locker_type_id == locker_type_id)
        if device_id is not None:
            query = query.where(LOCKERS.c.device_id == device_id)
        if broken_lock is not None:
            query = query.where(LOCKERS.c.broken_lock.is_(broken_lock))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        views = [self.view(r) for r in rows]
        views = [v for v in views if (out_of_service is None or v.out_of_service == out_of_service)
                 and (available is None or v.available == available)]
        start = (page - 1) * page_size
        return views[start:start + page_size], len(views)

    async def config(self, locker_id: int, viewer: Viewer) -> tuple[LockerView, str | None]:
        """The locker and its device's code (None: no device)."""
        async with self.engine.connect() as conn:
            row = await locker_row(conn, locker_id, viewer)
            device = None
            if row.device_id is not None:
                device = (await conn.execute(select(DEVICES.c.code).where(
                    DEVICES.c.id == row.device_id))).scalar_one_or_none()
        return self.view(row), device

    async def details(self, locker_id: int, viewer: Viewer) -> tuple[LockerView, list[Any]]:
        """The locker and its latest audit entries, newest first. A kiosk sees none of another
        device's: a locker moved to it keeps its history, which is not the kiosk's to read."""
        async with self.engine.connect() as conn:
            row = await locker_row(conn, locker_id, viewer)
            query = select(AUDIT).where(AUDIT.c.locker_id == locker_id)
            if viewer.role == "kiosk":
                query = query.where(AUDIT.c.device_id.is_(None) | (AUDIT.c.device_id == viewer.device_id))
            events = list(await conn.execute(query.order_by(AUDIT.c.id.desc()).limit(LOCKER_EVENTS)))
        return self.view(row), events

    async def set_service_state(self, locker_id: int, viewer: Viewer, given: dict[str, Any]) -> None:
        """Change what ``given`` holds (keys of :data:`SERVICE_FIELDS`). Back in service clears the
        reason code and reason unless they are given; a locker of an always-out-of-service type
        cannot be put back. The bay's bridge is told of a change of service state."""
        if not given:
            raise Invalid("NothingToUpdate", "give at least one of outOfService, reasonCode, reason, "
                          "brokenLock")
        async with self.engine.begin() as conn:
            row = await locker_row(conn, locker_id, viewer)
            values: dict[str, Any] = {}
            if "out_of_service" in given:
                if not given["out_of_service"] and row.always_oos:
                    raise Conflict("LockerTypeAlwaysOutOfService",
                                   f"locker {locker_id} is of type {row.type_name!r}, which is always out "
                                   "of service")
                values["out_of_service"] = given["out_of_service"]
                if not given["out_of_service"]:
                    values.update(reason_code=None, reason=None)
            for key in SERVICE_FIELDS[1:]:
                if key in given:
                    values[key] = given[key]
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(**values))
            before = {key: getattr(row, key) for key in SERVICE_FIELDS}
            await audit(conn, viewer.name, "locker.service", locker_id=locker_id, device_id=row.device_id,
                        changes={k: [before[k], v] for k, v in values.items() if before[k] != v})
        if "out_of_service" in values and values["out_of_service"] != row.out_of_service:
            await self.sites.set_out_of_service(row.identity, values["out_of_service"])

    async def open(self, locker_id: int, viewer: Viewer) -> Opened:
        async with self.engine.connect() as conn:
            row = await locker_or_404(conn, locker_id, viewer)
        return await open_locker(self.sites, row, viewer.name)

    async def open_all(self, viewer: Viewer, *, bank_id: int | None = None,
                       device_id: int | None = None) -> OpenedAll:
        """One after the other, not all at once: every lock fired together would load the supply.
        Lockers of a never-rented type are skipped."""
        query = scoped(locker_query(), viewer)
        if bank_id is not None:
            query = query.where(LOCKERS.c.bank_id == bank_id)
        if device_id is not None:
            query = query.where(LOCKERS.c.device_id == device_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        results: list[Opened] = []
        for row in rows:
            if not row.always_oos:
                results.append(await open_locker(self.sites, row, viewer.name))
        done = OpenedAll(results, [row.id for row in rows if row.always_oos])
        async with self.engine.begin() as conn:
            await audit(conn, viewer.name, "locker.open_all", bankId=bank_id, deviceId=device_id,
                        total=len(done.results), succeeded=done.succeeded,
                        failed=[r.locker_id for r in done.results if not r.result.success],
                        skipped=done.skipped)
        return done
