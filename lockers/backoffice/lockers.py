"""Lockers in the back office: a bay of a bank, listed with its type, device and user, added,
retyped and deleted, and driven by the bridge at once (one truth: :class:`SiteService`).

A kiosk sees only its own device's lockers (:func:`lockers.scope.scoped`); to it any other does
not exist.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page, jsonable
from csms.timeutil import now_utc
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import (
    BANK,
    BANKS,
    DEVICE,
    DEVICES,
    LOCKER,
    LOCKER_TYPE,
    LOCKERS,
    RENTALS,
    TYPES,
    USERS,
)
from lockers.bays import Position
from lockers.errors import Conflict, Invalid
from lockers.records import Shape, free, insert, log, one, page_of, remove, row_or_404, write
from lockers.scope import Viewer, scoped
from lockers.service import SiteService

IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # safe in a URL path and as an OCPP identity

# a locker of an always-out-of-service type is out of service whatever its own flag says (as the
# locker gateway shows it)
OUT_OF_SERVICE = or_(LOCKERS.c.out_of_service.is_(True), TYPES.c.always_oos.is_(True))


def locker_query() -> Select[Any]:
    """Lockers with their bank, type, device and assigned user, in the answers' words."""
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bank_id.label("bankId"),
                   BANKS.c.name.label("bank"), BANKS.c.port, BANKS.c.address, LOCKERS.c.bay,
                   LOCKERS.c.locker_type_id.label("lockerTypeId"), TYPES.c.name.label("lockerType"),
                   LOCKERS.c.device_id.label("deviceId"), DEVICES.c.code.label("deviceCode"),
                   LOCKERS.c.assigned_user_id.label("assignedUserId"),
                   USERS.c.username.label("assignedUsername"),
                   OUT_OF_SERVICE.label("outOfService"), LOCKERS.c.reason_code.label("reasonCode"),
                   LOCKERS.c.reason, LOCKERS.c.broken_lock.label("brokenLock"),
                   LOCKERS.c.door_open.label("doorOpen"), LOCKERS.c.door_changed_at.label("doorChangedAt"),
                   LOCKERS.c.created_at.label("createdAt"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(DEVICES, DEVICES.c.id == LOCKERS.c.device_id)
                         .outerjoin(USERS, USERS.c.id == LOCKERS.c.assigned_user_id)))


def bridge_conflict(site: SiteService, identity: str, port: str, address: int, bay: int) -> Conflict | None:
    """The bridge cannot drive this locker as entered: the identity drives another bay, or the
    bay is driven under another identity (a locker deleted here keeps its bay until a restart)."""
    conflict = site.bay_conflict(identity, Position(port, address, bay))
    return None if conflict is None else Conflict(*conflict)


def drive(site: SiteService, identity: str, bank: str, port: str, address: int, bay: int) -> str | None:
    """Have the bridge drive the locker; None when it does, else why not (for the answer)."""
    if site.drive(identity, bank, port, address, bay):
        return None
    if site.bridge is None:
        return "no locker bridge runs here: the locker is recorded, nothing can open it yet"
    return (f"the bridge has no port {port!r}: the locker is recorded, but nothing can open it "
            "until the bridge is configured with that port")


class LockerService(BackOfficeService):
    def _shape(self) -> Shape:
        """A locker's answer: its row, the door in words and whether the bridge drives it here."""
        def shape(row: Any) -> dict[str, Any]:
            out = jsonable(row)
            out["outOfService"] = bool(out["outOfService"])
            door = out.pop("doorOpen")
            out["door"] = None if door is None else ("open" if door else "closed")
            out["driven"] = self.site.local(row.identity) is not None
            return out

        return shape

    async def page(self, viewer: Viewer, page: Page, q: str | None, *, bank_id: int | None,
                   device_id: int | None, locker_type_id: int | None,
                   out_of_service: bool | None) -> dict[str, Any]:
        """The lockers the viewer may see, by bank and bay."""
        return await page_of(self.engine, page,
                             scoped(locker_query(), viewer).order_by(BANKS.c.name, LOCKERS.c.bay),
                             q, [LOCKERS.c.identity, BANKS.c.name], self._shape(),
                             where=[(LOCKERS.c.bank_id, bank_id), (LOCKERS.c.device_id, device_id),
                                    (LOCKERS.c.locker_type_id, locker_type_id),
                                    (OUT_OF_SERVICE, out_of_service)])

    async def maintenance(self, page: Page, q: str | None) -> dict[str, Any]:
        """Lockers out of service or with a broken lock, by bank and bay."""
        query = (locker_query().where(or_(OUT_OF_SERVICE, LOCKERS.c.broken_lock.is_(True)))
                 .order_by(BANKS.c.name, LOCKERS.c.bay))
        return await page_of(self.engine, page, query, q, [LOCKERS.c.identity, BANKS.c.name,
                                                           LOCKERS.c.reason, LOCKERS.c.reason_code],
                             self._shape())

    async def get(self, viewer: Viewer, locker_id: int) -> dict[str, Any]:
        return await one(self.engine, LOCKER, locker_id, scoped(locker_query(), viewer), self._shape())

    async def live(self, viewer: Viewer, locker_id: int) -> dict[str, Any]:
        """The locker with the bridge's live view of it (None when the bridge here does not drive it)."""
        out = await self.get(viewer, locker_id)
        return {**out, "live": self.site.live(out["identity"])}

    async def add(self, who: Viewer, bank_id: int, bay: int, locker_type_id: int | None,
                  identity: str | None, device_id: int | None) -> dict[str, Any]:
        """Add a locker at a bank's bay (identity default ``{bank}-{bay:02d}``, device default the
        bank's) and have the bridge drive it; the locker, with a ``message`` saying whether it
        does and if not why."""
        async def work(conn: AsyncConnection) -> tuple[int, Any, str]:
            bank = await row_or_404(conn, BANK, bank_id)
            await row_or_404(conn, LOCKER_TYPE, locker_type_id)
            await row_or_404(conn, DEVICE, device_id)
            name = identity or f"{bank.name}-{bay:02d}"
            if len(name) > 48 or not re.fullmatch(IDENT[1:-1], name):
                raise Invalid("IdentityRequired", f"{name!r} is no valid identity: give one")
            if (await conn.execute(select(LOCKERS.c.identity).where(
                    LOCKERS.c.bank_id == bank.id, LOCKERS.c.bay == bay))).first() is not None:
                raise Conflict("BayTaken", f"bank {bank.name!r} bay {bay} is a locker already")
            await free(conn, LOCKER, name)
            conflict = bridge_conflict(self.site, name, bank.port, bank.address, bay)
            if conflict is not None:
                raise conflict
            device = device_id or bank.device_id
            values = {"identity": name, "bankId": bank.id, "bay": bay,
                      "lockerTypeId": locker_type_id, "deviceId": device, "created_at": now_utc()}
            new_id = await insert(conn, who, LOCKER, values, device_id=device, identity=name,
                                  bank=bank.name, bay=bay, lockerTypeId=locker_type_id)
            return new_id, bank, name

        locker_id, bank, name = await write(self.engine, work, LOCKER.conflict())
        why = drive(self.site, name, bank.name, bank.port, bank.address, bay)
        out = await self.get(who, locker_id)
        return {**out, "message": why or f"the bridge drives {name}"}

    async def retype(self, who: Viewer, locker_id: int, values: dict[str, Any]) -> None:
        """Change its type (``values``: the body's ``lockerTypeId``, if set); a type that is
        always out of service puts its bay into maintenance."""
        async with self.engine.begin() as conn:
            locker = await row_or_404(conn, LOCKER, locker_id)
            if "lockerTypeId" in values:
                await row_or_404(conn, LOCKER_TYPE, values["lockerTypeId"])
                await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
                    locker_type_id=values["lockerTypeId"]))
                await log(conn, who, LOCKER, "edit", locker_id, device_id=locker.device_id, **values)
        if "lockerTypeId" in values:
            await self.site.apply_service_state(locker.identity)

    async def delete(self, who: Viewer, locker_id: int) -> dict[str, Any]:
        """Delete it unless a rental holds it. The bridge has no way to let go of a bay while it
        runs: it keeps driving a deleted locker until it restarts (``stillDriven`` says so)."""
        async def not_rented(conn: AsyncConnection, _: Any) -> None:
            rental = (await conn.execute(select(RENTALS.c.id).where(
                RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None)))).first()
            if rental is not None:
                raise Conflict("LockerInUse", f"rental {rental.id} holds locker {locker_id}; "
                                              "release it first")

        locker = await remove(self.engine, who, LOCKER, locker_id, also=not_rented,
                              details=lambda row: {"device_id": row.device_id, "identity": row.identity})
        bridge = self.site.bridge
        driven = bridge is not None and locker.identity in bridge.cps
        return {"id": locker_id, "identity": locker.identity, "deleted": True, "stillDriven": driven,
                "message": ("the bridge drives this bay until it restarts (a bay from its "
                            "configuration file comes back then)") if driven else "deleted"}
