"""SQLite through aiosqlite with one thread crossing per statement, not four.

Why: aiosqlite runs each call on the connection's thread and hands the result back to the event
loop. SQLAlchemy's adapter makes four such calls for a statement that returns rows (open a
cursor, execute, fetch, close) and three for one that does not. Each crossing waits for the
event loop to come round again: with thousands of sockets to serve, one round is milliseconds,
and the single writer's operations (a StartTransaction: three statements) run one after another,
so a 10,000-station fleet's starts queued up behind those waits (bench/sim_fleet.py, issue #18).
Here a statement is one function run on the connection's thread — cursor, execute, fetch, close
— and its rows, description, rowcount and lastrowid come back together.

Server-side (streaming) cursors keep SQLAlchemy's own adapter. Reaching aiosqlite's queue is
what SQLAlchemy's adapter itself does to set the isolation level.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import sqlalchemy
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

log = logging.getLogger(__name__)


def sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime type writes and reads back (UTC, no offset)."""
    if value is None:
        return None
    if value.tzinfo is not UTC and value.tzinfo is not None:
        value = value.astimezone(UTC)
    # %-formatting of the fields: half the time of isoformat()'s (a few of these per frame)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


# A datetime handed to the driver as it is (the writer's multi-row inserts, csms.store.bulk) is
# written as SQLAlchemy's DateTime writes it. Converting in the writer's loop over rows cost the
# event loop ~10 % of its time under bench/csms_load.py (a list, a lookup and a call per value);
# the driver calls this while it binds, on the connection's thread. SQLAlchemy's own statements
# hand it text already. Adapters are global to the sqlite3 module: nothing else in the process
# relies on its default datetime adapter (deprecated since Python 3.12).
sqlite3.register_adapter(datetime, sqlite_datetime)
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(conn: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """On the connection's thread: the whole life of one cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneCrossingCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and close are one call on the connection's thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

    def __init__(self, adapt_connection: Any) -> None:  # no cursor opened here: _run opens it
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value  # fetchmany's default size, over the rows already here

    async def _cross(self, many: bool, operation: Any, parameters: Any) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, many, operation, parameters)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._cross(False, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._cross(True, operation, seq_of_parameters)

    def nextset(self) -> None:
        raise sqlite3.NotSupportedError("SQLite runs one statement per execute")

    def setinputsizes(self, *args: Any) -> None:
        raise sqlite3.NotSupportedError("setinputsizes is not used with SQLite")

    async def _async_soft_close(self) -> None:
        """Nothing to close: the cursor on the thread closed with its statement."""

    def close(self) -> None:
        self._rows.clear()


class OneCrossingConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneCrossingCursor


class OneCrossingDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (``create_engine(module=…)``)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        adapted.__class__ = OneCrossingConnection  # same slots: only the cursor class differs
        return adapted


def _fits() -> bool:
    """Whether the installed SQLAlchemy and aiosqlite have what this module builds on (pinned in
    pyproject.toml; checked so that another release falls back rather than half-works)."""
    base = AsyncAdapt_aiosqlite_cursor
    return (all(hasattr(base, name) for name in ("_execute_async", "_executemany_async",
                                                  "_async_soft_close"))
            and AsyncAdapt_aiosqlite_connection.__dict__.get("_cursor_cls") is base
            and hasattr(aiosqlite.Connection, "_execute"))


def dbapi() -> OneCrossingDbapi | None:
    """The module to give the engine, or None (SQLAlchemy's own adapter) if this one would not fit."""
    if not _fits():
        log.warning("SQLite: SQLAlchemy %s / aiosqlite %s not as common.sqlite_driver expects; "
                    "using SQLAlchemy's own adapter (more thread crossings per statement)",
                    sqlalchemy.__version__, getattr(aiosqlite, "__version__", "?"))
        return None
    return OneCrossingDbapi(aiosqlite, sqlite3)


def _run_all(conn: sqlite3.Connection, statements: list[tuple[str, Any]]) -> None:
    """On the connection's thread: statements that return no rows, one after another."""
    cursor = conn.cursor()
    try:
        for operation, parameters in statements:
            cursor.execute(operation, parameters)
    finally:
        cursor.close()


async def execute_all(conn: Any, statements: list[tuple[str, Any]]) -> None:
    """Run ``statements`` (no rows back) on ``conn``, an ``AsyncConnection``, in its transaction.

    On this module's SQLite connections all of them go in one call on the connection's thread
    (one crossing, not one per statement: see csms.store.bulk.BulkStatement.sizes for why a
    batch is several statements); on any other connection, or where SQLAlchemy's cursor events
    are listened to (a test counting statements), one ``exec_driver_sql`` each."""
    sync = conn.sync_connection
    if (len(statements) > 1 and conn.dialect.name == "sqlite"
            and not (sync._has_events or sync.engine._has_events)):
        adapted = (await conn.get_raw_connection()).dbapi_connection
        if isinstance(adapted, OneCrossingConnection):
            connection: aiosqlite.Connection = adapted._connection  # type: ignore[assignment]
            async with adapted._execute_mutex:
                await connection._execute(_run_all, connection._conn, statements)  # type: ignore[no-untyped-call]
            return
    for operation, parameters in statements:
        await conn.exec_driver_sql(operation, parameters)
