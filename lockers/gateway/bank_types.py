"""Bank types: which locker types a column of lockers holds, and how many of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.audit import audit
from lockers.errors import Conflict, Invalid, NotFound
from lockers.gateway.rows import ASSOCIATIONS, BANK_TYPES, BANKS, TYPES, inserted_id
from lockers.scope import Viewer
from lockers.service import SiteService


@dataclass(frozen=True)
class BankTypeWithLinks:
    """A bank type's row (with ``locker_count`` and ``bank_count``) and its associations' rows:
    ``count``, ``type_id``, ``type_name``, ``size``, ``has_charging``, ``always_oos``, by type id."""

    row: Any
    links: list[Any]


def _query() -> Any:
    """Bank types with the lockers one bank of the type holds and how many banks are of it."""
    lockers = (select(func.coalesce(func.sum(ASSOCIATIONS.c.count), 0))
               .where(ASSOCIATIONS.c.bank_type_id == BANK_TYPES.c.id).scalar_subquery())
    banks = select(func.count()).where(BANKS.c.bank_type_id == BANK_TYPES.c.id).scalar_subquery()
    return select(BANK_TYPES, lockers.label("locker_count"), banks.label("bank_count"))


async def _with_links(conn: AsyncConnection, bank_type_id: int) -> BankTypeWithLinks:
    row = (await conn.execute(_query().where(BANK_TYPES.c.id == bank_type_id))).first()
    if row is None:
        raise NotFound("BankTypeNotFound", f"no bank type {bank_type_id}")
    links = (await conn.execute(
        select(ASSOCIATIONS.c.count, TYPES.c.id.label("type_id"), TYPES.c.name.label("type_name"),
               TYPES.c.size, TYPES.c.has_charging, TYPES.c.always_oos)
        .join(TYPES, TYPES.c.id == ASSOCIATIONS.c.locker_type_id)
        .where(ASSOCIATIONS.c.bank_type_id == bank_type_id).order_by(TYPES.c.id))).all()
    return BankTypeWithLinks(row, list(links))


class BankTypes:
    def __init__(self, sites: SiteService) -> None:
        self.engine = sites.engine

    async def find(self, *, page: int, page_size: int) -> tuple[list[Any], int]:
        """One page of bank types (rows with ``locker_count`` and ``bank_count``) in id order, and
        how many there are."""
        async with self.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(BANK_TYPES))).scalar_one()
            rows = (await conn.execute(_query().order_by(BANK_TYPES.c.id).limit(page_size)
                                       .offset((page - 1) * page_size))).all()
        return list(rows), int(total)

    async def get(self, bank_type_id: int) -> BankTypeWithLinks:
        async with self.engine.connect() as conn:
            return await _with_links(conn, bank_type_id)

    async def create(self, viewer: Viewer, *, name: str, description: str | None,
                     associations: list[tuple[int, int]]) -> BankTypeWithLinks:
        """A new bank type holding ``count`` lockers of each ``(locker type, count)``; each locker
        type once (``DuplicateAssociation``), each known (``LockerTypeNotFound``), the name new
        (``BankTypeExists``)."""
        type_ids = [type_id for type_id, _ in associations]
        if len(set(type_ids)) != len(type_ids):
            raise Invalid("DuplicateAssociation", "each locker type may appear once; give its count")
        async with self.engine.begin() as conn:
            taken = (await conn.execute(select(BANK_TYPES.c.id).where(BANK_TYPES.c.name == name))).first()
            if taken is not None:
                raise Conflict("BankTypeExists", f"a bank type {name!r} exists", id=taken.id)
            known = set((await conn.execute(select(TYPES.c.id).where(TYPES.c.id.in_(type_ids)))).scalars()) \
                if type_ids else set()
            missing = [t for t in type_ids if t not in known]
            if missing:
                raise NotFound("LockerTypeNotFound", f"no locker type {missing[0]}", lockerTypeIds=missing)
            try:
                result = await conn.execute(BANK_TYPES.insert().values(name=name, description=description))
            except IntegrityError:
                raise Conflict("BankTypeExists", f"a bank type {name!r} exists") from None
            bank_type_id = inserted_id(result)
            if associations:
                await conn.execute(ASSOCIATIONS.insert(), [
                    {"bank_type_id": bank_type_id, "locker_type_id": type_id, "count": count}
                    for type_id, count in associations])
            await audit(conn, viewer.name, "bank_type.create", bankTypeId=bank_type_id, name=name,
                        description=description,
                        associations=[{"lockerTypeId": t, "count": c} for t, c in associations])
            return await _with_links(conn, bank_type_id)
