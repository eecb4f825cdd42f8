"""Lockers seen as smart locks (the smart-lock API of seed 003): one query gives a lock's row with
its bank, its type and its bay's charge point (online, last seen), so the API reads the charge
point's state without reaching into the central system's store itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import ChargePoint
from csms.timeutil import utc
from lockers.errors import NotFound
from lockers.models import Bank, Locker, LockerType, table
from lockers.scope import Viewer, scoped

LOCKERS = table(Locker)
BANKS = table(Bank)
TYPES = table(LockerType)
CPS = table(ChargePoint)

# "<bank> bay <n>": the vendor's lock name, searchable like the identity
LOCK_NAME = BANKS.c.name + " bay " + cast(LOCKERS.c.bay, String)


def lock_query() -> Select[Any]:
    """Every lock (a locker bay) with what the vendor's lock item shows."""
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bay, LOCKERS.c.device_id,
                   LOCKERS.c.assigned_user_id, LOCKERS.c.door_open, LOCKERS.c.door_changed_at,
                   LOCKERS.c.broken_lock, BANKS.c.name.label("bank"), TYPES.c.name.label("type_name"),
                   CPS.c.online.label("cp_online"), CPS.c.last_seen.label("cp_last_seen"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(CPS, CPS.c.id == LOCKERS.c.identity)))


def searched(query: Select[Any], key: str) -> Select[Any]:
    """Locks whose identity or name contains ``key`` (already lower-cased), as the vendor's
    ``searchkey`` filters; an empty key filters nothing."""
    if not key:
        return query
    return query.where(or_(func.lower(LOCKERS.c.identity).contains(key, autoescape=True),
                           func.lower(LOCK_NAME).contains(key, autoescape=True)))


async def page_of_locks(conn: AsyncConnection, query: Select[Any], offset: int, limit: int) -> tuple[int, list[Any]]:
    """(how many locks ``query`` finds, one page of them by identity); a page past the end is
    not read at all."""
    total = int((await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one())
    found = [] if offset >= total else list((await conn.execute(
        query.order_by(LOCKERS.c.identity).limit(limit).offset(offset))).all())
    return total, found


async def lock_or_404(conn: AsyncConnection, lockid: str, viewer: Viewer) -> Any:
    """The lock's :func:`lock_query` row if the viewer may see it; else :class:`NotFound`
    ``LockNotFound`` (to a kiosk another device's lock does not exist)."""
    row = (await conn.execute(scoped(lock_query().where(LOCKERS.c.identity == lockid), viewer))).first()
    if row is None:
        raise NotFound("LockNotFound", f"no lock {lockid!r}")
    return row


def vendor_date(value: datetime | None) -> str | None:
    """A date as the vendor writes it: UTC, ``YYYY-MM-DD HH:MM:SS`` (in answers and in the
    reasons of refusals alike)."""
    value = utc(value)
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
