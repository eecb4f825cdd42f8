"""Multi-row INSERT (and upsert) statements for the writer's hot tables.

Why not ``conn.execute(table.insert(), rows)``: SQLAlchemy's executemany processes every
parameter of every row in Python (≈4 µs a row) and SQLite then steps once per row, handing the
GIL back and forth with the event loop each time. One ``INSERT … VALUES (…), (…), …`` per table
and batch, with plain tuples, does the same work in one statement. The SQL is the same on SQLite
and PostgreSQL (including ``ON CONFLICT … DO UPDATE`` and ``DO NOTHING``); only the placeholder style differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Table
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_PARAMS = 32000  # SQLite >= 3.32 allows 32766 variables, PostgreSQL 32767


def sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime type writes and reads back (UTC, no offset)."""
    if value is None:
        return None
    if value.tzinfo is not UTC and value.tzinfo is not None:
        value = value.astimezone(UTC)
    # %-formatting of the fields: half the time of isoformat()'s (a few of these per frame)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


class BulkStatement:
    """Insert (or upsert on ``keys``) rows that all carry the same ``columns``."""

    def __init__(self, table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
                 paramstyle: str, skip_duplicates: bool = False) -> None:
        self.columns = columns
        self._row = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
        self._key = itemgetter(*keys) if keys else None
        self._numbered = paramstyle in ("numeric_dollar", "numeric")
        self._mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(paramstyle, "?")
        self._per_stmt = max(1, MAX_PARAMS // len(columns))
        self._head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        self._tail = ""
        if skip_duplicates or table.info.get("skip_duplicates"):  # a unique index says what a duplicate is
            self._tail = " ON CONFLICT DO NOTHING"
        if keys:
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
            self._tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        self._convert: list[tuple[int, Callable[[Any], Any]]] = []
        if paramstyle == "qmark":  # SQLite: datetimes as SQLAlchemy's text format
            self._convert = [(i, sqlite_datetime) for i, c in enumerate(columns)
                             if isinstance(table.c[c].type, DateTime)]

    def _values(self, n: int) -> str:
        width = len(self.columns)
        if self._numbered:
            return ", ".join("(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
                             for r in range(n))
        one = "(" + ", ".join([self._mark] * width) + ")"
        return ", ".join([one] * n)

    def _params(self, rows: Sequence[dict[str, Any]], memo: dict[int, Any]) -> list[Any]:
        flat: list[Any] = []
        row_of = self._row
        if not self._convert:
            for r in rows:
                flat.extend(row_of(r))
            return flat
        for r in rows:
            values = list(row_of(r))
            for i, fn in self._convert:
                value = values[i]
                seen = memo.get(id(value))
                if seen is None:  # the entry holds the value: no other object takes its id
                    seen = memo[id(value)] = (value, fn(value))
                values[i] = seen[1]
            flat.extend(values)
        return flat

    async def execute(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]],
                      memo: dict[int, Any] | None = None) -> None:
        """Insert ``rows``. ``memo`` maps converted values by ``id()`` across the statements of
        one batch: a frame's receive time is its log row's, its status row's and its
        connector's, and a meter value's timestamp is each of its samples'. An entry holds its
        value, so no other object can take its id while the memo lives."""
        if memo is None:
            memo = {}
        if self._key is not None:  # one row per key: the last one wins
            rows = list({self._key(r): r for r in rows}.values())
        for start in range(0, len(rows), self._per_stmt):
            chunk = rows[start:start + self._per_stmt]
            sql = self._head + self._values(len(chunk)) + self._tail
            await conn.exec_driver_sql(sql, tuple(self._params(chunk, memo)))
