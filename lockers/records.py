"""Get, add, edit, delete and list back-office records, parametrised by table.

Every back-office record follows one pattern: ``NotFound`` ``<Thing>NotFound`` for an unknown id,
``Conflict`` when its unique name is taken, every change written to the audit log in the change's
own transaction (the viewer as actor, ``<thing>.add|edit|delete`` as action, ``<thing>_id`` naming
the record). The pattern lives here once, so a service says only what differs for its record and
no REST route needs a table or a transaction to manage one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.queries import Page, jsonable, paginate
from lockers.audit import audit
from lockers.errors import Conflict, NotFound, Refused
from lockers.scope import Viewer

T = TypeVar("T")
Shape = Callable[[Any], dict[str, Any]]  # a result row -> its JSON answer
Also = Callable[[AsyncConnection, Any], Awaitable[None]]  # (conn, the record's row) -> checks, side effects


def _snake(field: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


@dataclass(frozen=True, slots=True)
class Resource:
    """One kind of record: its table, and the words its refusals and audit entries use."""

    table: Any
    what: str  # "locker type": "no locker type 7", audit "locker_type.add" with "locker_type_id"
    not_found: str  # the NotFound code
    unique: str | None = None  # the column no two records may share
    exists: str = ""  # the Conflict code when it is taken
    named: str = ""  # "a locker type": "a locker type 'Big' exists"
    taken: str = ""  # the Conflict message when the database, not the check, found it taken (a race)
    as_json: tuple[str, ...] = ()  # body fields stored as JSON text

    @property
    def pk(self) -> Any:
        return next(iter(self.table.primary_key.columns))

    @property
    def slug(self) -> str:
        """Its name in audit actions (``locker_type.add``)."""
        return self.what.replace(" ", "_")

    @property
    def key(self) -> str:
        """The audit entry's name for the record's id (``locker_type_id``)."""
        return f"{self.slug}_id"

    def missing(self, key: Any) -> NotFound:
        return NotFound(self.not_found, f"no {self.what} {key}")

    def duplicate(self, value: Any) -> Conflict:
        return Conflict(self.exists, f"{self.named} {value!r} exists")

    def conflict(self) -> Conflict:
        """The refusal for a duplicate the database found, not the check (a concurrent change)."""
        return Conflict(self.exists, self.taken)

    def columns(self, values: dict[str, Any]) -> dict[str, Any]:
        """Body fields (camelCase) as column values: the bodies name the columns in camelCase."""
        return {_snake(k): json.dumps(v) if k in self.as_json else v for k, v in values.items()}


async def write(eng: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]],
                conflict: Refused) -> T:
    """Run ``work(conn)`` in one transaction; a constraint violation (a race the checks could not
    see) raises ``conflict``."""
    try:
        async with eng.begin() as conn:
            return await work(conn)
    except IntegrityError:
        raise conflict from None


async def row_or_404(conn: AsyncConnection, res: Resource, key: Any) -> Any:
    """The record ``key`` (None for no key: an optional reference left out), or ``NotFound``."""
    if key is None:
        return None
    row = (await conn.execute(select(res.table).where(res.pk == key))).first()
    if row is None:
        raise res.missing(key)
    return row


async def free(conn: AsyncConnection, res: Resource, value: Any, except_key: Any = None) -> None:
    """``Conflict`` when another record (not ``except_key``) has ``value`` in the unique column."""
    query = select(res.pk).where(res.table.c[res.unique] == value)
    if except_key is not None:
        query = query.where(res.pk != except_key)
    if (await conn.execute(query)).first() is not None:
        raise res.duplicate(value)


async def log(conn: AsyncConnection, who: Viewer, res: Resource, verb: str, key: Any,
              **details: Any) -> None:
    """The audit entry ``<what>.<verb>`` for record ``key``, by ``who`` (its name is the actor)."""
    await audit(conn, who.name, f"{res.slug}.{verb}", **{res.key: key}, **details)


async def insert(conn: AsyncConnection, who: Viewer, res: Resource, values: dict[str, Any],
                 **details: Any) -> int:
    """Insert a record from body ``values`` and audit ``<what>.add`` with ``details``; its id."""
    result = await conn.execute(res.table.insert().values(res.columns(values)))
    inserted = result.inserted_primary_key
    assert inserted is not None  # an INSERT of one row has one
    key = int(inserted[0])
    await log(conn, who, res, "add", key, **details)
    return key


async def one(eng: AsyncEngine, res: Resource, key: Any, query: Select[Any] | None = None,
              shape: Shape = jsonable) -> dict[str, Any]:
    """Record ``key`` as ``query`` (default: its table's row) finds it and ``shape`` answers it,
    or ``NotFound``."""
    query = select(res.table) if query is None else query
    async with eng.connect() as conn:
        row = (await conn.execute(query.where(res.pk == key))).first()
    if row is None:
        raise res.missing(key)
    return shape(row)


async def page_of(eng: AsyncEngine, page: Page, query: Select[Any], q: str | None,
                  search: Sequence[Any], shape: Shape = jsonable,
                  where: Iterable[tuple[Any, Any]] = ()) -> dict[str, Any]:
    """One page of ``query``: with ``q``, the rows with it in one of the ``search`` columns
    (case-insensitive); of ``where``'s (column, value) pairs, those with a value must match."""
    if q:
        query = query.where(or_(*(c.icontains(q, autoescape=True) for c in search)))
    for column, value in where:
        if value is not None:
            query = query.where(column == value)
    return await paginate(eng, query, page, shape)


async def create(eng: AsyncEngine, who: Viewer, res: Resource, values: dict[str, Any], *,
                 check: Callable[[AsyncConnection], Awaitable[Any]] | None = None,
                 details: dict[str, Any] | None = None) -> int:
    """Add a record: ``Conflict`` if its unique value is taken, then ``check`` (what else must
    hold), then insert it, audited with ``details`` (default: ``values``). Its id."""
    assert res.unique is not None, "create() is for records with a unique column"
    value = values[res.unique]

    async def work(conn: AsyncConnection) -> int:
        await free(conn, res, value)
        if check is not None:
            await check(conn)
        return await insert(conn, who, res, values, **(values if details is None else details))

    return await write(eng, work, res.duplicate(value))


async def patch(eng: AsyncEngine, who: Viewer, res: Resource, key: Any, values: dict[str, Any],
                *, also: Also | None = None, details: dict[str, Any] | None = None) -> None:
    """Edit record ``key`` with body ``values`` (the fields the body set): ``NotFound`` if
    unknown, ``Conflict`` if they take another's unique value, then ``also(conn, row)`` (checks;
    what must change with it), then the update, audited with ``details`` (default: ``values``).
    Nothing set: no change."""
    async def work(conn: AsyncConnection) -> None:
        row = await row_or_404(conn, res, key)
        if res.unique in values:
            await free(conn, res, values[res.unique], key)
        if also is not None:
            await also(conn, row)
        if values:
            await conn.execute(update(res.table).where(res.pk == key).values(res.columns(values)))
            await log(conn, who, res, "edit", key, **(values if details is None else details))

    await write(eng, work, res.conflict())


def unreferenced(column: Any, code: str, message: Callable[[Any, int], str]) -> Also:
    """An ``also`` for :func:`remove`: ``Conflict`` ``code`` (``message(row, count)``) while rows
    refer to the record through ``column``, so that deleting it never takes them along or
    orphans them."""
    async def check(conn: AsyncConnection, row: Any) -> None:
        count = (await conn.execute(select(func.count()).where(column == row.id))).scalar_one()
        if count:
            raise Conflict(code, message(row, count))

    return check


def _unique_value(res: Resource, row: Any) -> dict[str, Any]:
    """A deletion's default audit details: the record's unique value."""
    return {} if res.unique is None else {res.unique: getattr(row, res.unique)}


async def remove(eng: AsyncEngine, who: Viewer, res: Resource, key: Any, *, also: Also | None = None,
                 details: Callable[[Any], dict[str, Any]] | None = None) -> Any:
    """Delete record ``key`` (``NotFound`` if unknown) after ``also(conn, row)`` (checks; what
    goes with it), audited with ``details(row)`` (default: its unique value). The deleted row."""
    async with eng.begin() as conn:
        row = await row_or_404(conn, res, key)
        if also is not None:
            await also(conn, row)
        await conn.execute(delete(res.table).where(res.pk == key))
        await log(conn, who, res, "delete", key,
                  **(details(row) if details else _unique_value(res, row)))
    return row
