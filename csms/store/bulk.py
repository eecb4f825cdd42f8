"""Multi-row INSERT (and upsert) statements for the writer's hot tables.

Why not ``conn.execute(table.insert(), rows)``: SQLAlchemy's executemany processes every
parameter of every row in Python (≈4 µs a row) and SQLite then steps once per row, handing the
GIL back and forth with the event loop each time. ``INSERT … VALUES (…), (…), …`` with plain
tuples does the same work in a few statements (on SQLite chunks of a few fixed sizes, compiled
once: :meth:`BulkStatement.sizes`), run in one call on SQLite's thread. The SQL is the same on
SQLite and PostgreSQL (including ``ON CONFLICT … DO UPDATE`` and ``DO NOTHING``); only the
placeholder style differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Executable, Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from common.sqlite_driver import execute_all

MAX_PARAMS = 32000  # SQLite >= 3.32 allows 32766 variables, PostgreSQL 32767
CHUNK = 64  # rows per statement on SQLite (BulkStatement.sizes): the fastest of 16-256 measured


class BulkStatement:
    """Insert (or upsert on ``keys``) rows that all carry the same ``columns``."""

    def __init__(self, table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
                 paramstyle: str, skip_duplicates: bool = False) -> None:
        self.columns = columns
        self._row = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
        self._key = itemgetter(*keys) if keys else None
        self._numbered = paramstyle in ("numeric_dollar", "numeric")
        self._sqlite = paramstyle == "qmark"
        self._mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(paramstyle, "?")
        self._per_stmt = max(1, MAX_PARAMS // len(columns))
        self._head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        self._tail = ""
        if skip_duplicates or table.info.get("skip_duplicates"):  # a unique index says what a duplicate is
            self._tail = " ON CONFLICT DO NOTHING"
        if keys:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
            self._tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        self._sql: dict[int, str] = {}

    def sql(self, n: int) -> str:
        """The statement for ``n`` rows (made once per size)."""
        sql = self._sql.get(n)
        if sql is None:
            width = len(self.columns)
            if self._numbered:
                values = ", ".join("(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
                                   for r in range(n))
            else:
                values = ", ".join(["(" + ", ".join([self._mark] * width) + ")"] * n)
            sql = self._sql[n] = self._head + values + self._tail
        return sql

    def sizes(self, n: int) -> list[int]:
        """How ``n`` rows are cut into statements.

        SQLite compiles a statement it has not seen (its connection keeps the last 128): a
        statement of exactly ``n`` rows was compiled anew nearly every commit, ~1.5 µs a row, as
        much as inserting the row. So on SQLite the rows go in chunks of ``CHUNK`` and the rest
        in powers of two — at most eight sizes a table, compiled once — all of them in one call
        on the connection's thread (:func:`common.sqlite_driver.execute_all`). Elsewhere: as few
        statements as the parameter limit allows."""
        if not self._sqlite:
            return [min(self._per_stmt, n - start) for start in range(0, n, self._per_stmt)]
        chunk = min(CHUNK, self._per_stmt)
        sizes = [chunk] * (n // chunk)
        rest = n % chunk
        while rest:
            size = 1 << (rest.bit_length() - 1)
            sizes.append(size)
            rest -= size
        return sizes

    @staticmethod
    def _params(rows: Sequence[Any], row_of: Callable[[Any], Any]) -> list[Any]:
        """The rows' values in one flat list (datetimes as they are: on SQLite the driver writes
        them as SQLAlchemy does, common.sqlite_driver.sqlite_datetime)."""
        flat: list[Any] = []
        add = flat.extend
        for r in rows:
            add(row_of(r))
        return flat

    async def execute(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows``."""
        if self._key is not None:  # one row per key: the last one wins
            rows = list({self._key(r): r for r in rows}.values())
        await self._run(conn, rows, self._row)

    async def execute_tuples(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` given as tuples in ``columns`` order (no keys: plain inserts)."""
        await self._run(conn, rows, _same)

    async def _run(self, conn: AsyncConnection, rows: Sequence[Any], row_of: Callable[[Any], Any]) -> None:
        statements = []
        start = 0
        for size in self.sizes(len(rows)):
            statements.append((self.sql(size), tuple(self._params(rows[start:start + size], row_of))))
            start += size
        await execute_all(conn, statements)


def _same(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


class Statements:
    """The writer's statements, made once per table, columns and keys."""

    def __init__(self, paramstyle: str) -> None:
        self._paramstyle = paramstyle
        self._inserts: dict[tuple[str, tuple[str, ...], tuple[str, ...], bool], BulkStatement] = {}
        self._updates: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Executable] = {}

    def insert(self, table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
               create: bool = False) -> BulkStatement:
        """Inserts of ``columns`` (upserts on ``keys``; ``create``: duplicates skipped)."""
        cache_key = (table.name, columns, keys, create)
        stmt = self._inserts.get(cache_key)
        if stmt is None:
            stmt = self._inserts[cache_key] = BulkStatement(table, columns, keys, self._paramstyle,
                                                            skip_duplicates=create)
        return stmt

    async def update(self, conn: AsyncConnection, table: Table, keys: tuple[str, ...],
                     rows: list[dict[str, Any]]) -> None:
        """``UPDATE table SET … WHERE keys`` for each row: one executemany per set of columns."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            shapes.setdefault(tuple(sorted(row)), []).append(row)
        for columns, same in shapes.items():
            cache_key = (table.name, columns, keys)
            stmt = self._updates.get(cache_key)
            if stmt is None:
                stmt = self._updates[cache_key] = update(table).where(
                    *(table.c[k] == bindparam(f"_{k}") for k in keys)).values(
                    {c: bindparam(c) for c in columns if c not in keys})
            await conn.execute(stmt, [{**r, **{f"_{k}": r[k] for k in keys}} for r in same])
