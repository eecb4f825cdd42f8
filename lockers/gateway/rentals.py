"""Rentals, the gateway doc's "transactions": rent a locker (a given one, or any free one of a
type), release it, and open it for the rental's holder.

An out-of-service locker takes no new rental but still opens for an active one: a user's
belongings must stay reachable while the locker awaits repair.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.audit import audit, now_utc
from lockers.errors import Conflict, NotFound
from lockers.gateway.opening import Opened, open_locker
from lockers.gateway.rows import (
    LOCKERS,
    RENTALS,
    TYPES,
    USERS,
    LockerView,
    locker_query,
    locker_row,
    operational,
    rental_query,
    rental_row,
)
from lockers.scope import Viewer, locker_or_404, scoped
from lockers.service import SiteService


def refusal(view: LockerView, user_id: int | None) -> Conflict | None:
    """Why this locker cannot take a new rental for ``user_id`` (None: it can)."""
    row, live = view.row, view.live
    if row.always_oos:
        return Conflict("LockerTypeAlwaysOutOfService",
                        f"locker {row.id} is of type {row.type_name!r}, which is never rented")
    if row.out_of_service:
        return Conflict("LockerOutOfService", f"locker {row.id} is out of service",
                        reasonCode=row.reason_code, reason=row.reason)
    if row.rental_id is not None:
        return Conflict("LockerInUse", f"locker {row.id} has an active transaction")
    if row.assigned_user_id is not None and row.assigned_user_id != user_id:
        return Conflict("LockerAssigned", f"locker {row.id} is assigned to another user")
    if live is not None and not operational(live):
        return Conflict("LockerNotOperational", f"the bridge reports locker {row.id} {live['status']}")
    return None


async def _rent(conn: AsyncConnection, locker_id: int, user_id: int | None, reference: str | None
                ) -> int | None:
    """Insert the rental unless the locker already has an active one, in one statement (so two
    concurrent rentals of one locker cannot both succeed); None when it had one."""
    held = exists().where(RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None))
    values = select(literal(locker_id, RENTALS.c.locker_id.type), literal(user_id, RENTALS.c.user_id.type),
                    literal(reference, RENTALS.c.reference.type),
                    literal(now_utc(), RENTALS.c.created_at.type)).where(~held)
    try:
        async with conn.begin_nested():  # the unique index on active rentals settles a race
            result = await conn.execute(RENTALS.insert().from_select(
                ["locker_id", "user_id", "reference", "created_at"], values).returning(RENTALS.c.id))
            row = result.first()
    except IntegrityError:
        return None
    return None if row is None else int(row.id)


class Rentals:
    """Rentals of the lockers the :class:`~lockers.scope.Viewer` may see (a kiosk: its device's);
    the viewer's name is the audit log's actor. Rows are :func:`~lockers.gateway.rows.rental_query`'s."""

    def __init__(self, sites: SiteService) -> None:
        self.sites = sites
        self.engine = sites.engine

    async def find(self, viewer: Viewer, *, page: int, page_size: int, active: bool | None = None,
                   locker_id: int | None = None, user_id: int | None = None) -> tuple[list[Any], int]:
        """One page of rentals, newest first, and how many match."""
        query = scoped(rental_query(), viewer)
        if active is not None:
            query = query.where(RENTALS.c.released_at.is_(None) if active else RENTALS.c.released_at.isnot(None))
        if locker_id is not None:
            query = query.where(RENTALS.c.locker_id == locker_id)
        if user_id is not None:
            query = query.where(RENTALS.c.user_id == user_id)
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = (await conn.execute(query.order_by(RENTALS.c.id.desc())
                                       .limit(page_size).offset((page - 1) * page_size))).all()
        return list(rows), int(total)

    async def get(self, rental_id: int, viewer: Viewer) -> Any:
        async with self.engine.connect() as conn:
            return await rental_row(conn, rental_id, viewer)

    async def create(self, viewer: Viewer, *, locker_id: int | None, locker_type_id: int | None,
                     user_id: int | None, reference: str | None) -> Any:
        """Rent ``locker_id``, or else the user's own assigned locker of ``locker_type_id`` or the
        free one of it with the lowest id."""
        async with self.engine.begin() as conn:
            if user_id is not None and (await conn.execute(
                    select(USERS.c.id).where(USERS.c.id == user_id))).first() is None:
                raise NotFound("UserNotFound", f"no user {user_id}")
            if locker_id is not None:
                row = await locker_row(conn, locker_id, viewer)
                why = refusal(LockerView(row, self.sites.live(row.identity)), user_id)
                if why is not None:
                    raise why
                candidates = [row]
            else:
                candidates = await self._candidates(conn, viewer, locker_type_id, user_id)
            for row in candidates:
                rental_id = await _rent(conn, row.id, user_id, reference)
                if rental_id is not None:
                    break
            else:
                if locker_id is not None:
                    raise Conflict("LockerInUse", f"locker {locker_id} has an active transaction")
                raise Conflict("NoLockerAvailable", f"no locker of type {locker_type_id} is available")
            await audit(conn, viewer.name, "transaction.create", locker_id=row.id, device_id=row.device_id,
                        transactionId=rental_id, userId=user_id, reference=reference,
                        lockerTypeId=locker_type_id)
            return await rental_row(conn, rental_id, viewer)

    async def _candidates(self, conn: AsyncConnection, viewer: Viewer, locker_type_id: int | None,
                          user_id: int | None) -> list[Any]:
        """The lockers of the type that could take the rental: the user's own assigned one first,
        then by id."""
        kind = (await conn.execute(select(TYPES).where(TYPES.c.id == locker_type_id))).first()
        if kind is None:
            raise NotFound("LockerTypeNotFound", f"no locker type {locker_type_id}")
        if kind.always_oos:
            raise Conflict("LockerTypeAlwaysOutOfService", f"locker type {kind.name!r} is never rented")
        rows = (await conn.execute(scoped(locker_query().where(
            LOCKERS.c.locker_type_id == locker_type_id), viewer))).all()
        candidates = [r for r in rows
                      if refusal(LockerView(r, self.sites.live(r.identity)), user_id) is None]
        candidates.sort(key=lambda r: (r.assigned_user_id is None, r.id))
        return candidates

    async def release(self, rental_id: int, viewer: Viewer) -> Any:
        """The user gives the locker back; ``TransactionNotActive`` when it was given back already."""
        async with self.engine.begin() as conn:
            row = await rental_row(conn, rental_id, viewer)
            done = await conn.execute(update(RENTALS).where(
                RENTALS.c.id == rental_id, RENTALS.c.released_at.is_(None)).values(released_at=now_utc()))
            if not done.rowcount:
                raise Conflict("TransactionNotActive", f"transaction {rental_id} was released already")
            await audit(conn, viewer.name, "transaction.release", locker_id=row.locker_id,
                        device_id=row.locker_device_id, transactionId=rental_id)
            return await rental_row(conn, rental_id, viewer)

    async def open(self, rental_id: int, viewer: Viewer) -> Opened:
        """Open the rental's locker, only while the rental is active (out of service or not)."""
        async with self.engine.connect() as conn:
            rental = await rental_row(conn, rental_id, viewer)
            if rental.released_at is not None:
                raise Conflict("TransactionNotActive", f"transaction {rental_id} was released")
            locker = await locker_or_404(conn, rental.locker_id, viewer)
        opened = await open_locker(self.sites, locker, viewer.name, rental_id)
        async with self.engine.begin() as conn:
            await audit(conn, viewer.name, "transaction.open", locker_id=locker.id, device_id=locker.device_id,
                        transactionId=rental_id, success=opened.result.success, code=opened.code)
        return opened
