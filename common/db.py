"""Database engine and declarative base shared by every store.

One metadata holds every table so that a single Alembic history migrates the whole stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from common import sqlite_driver

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite needs INTEGER (not BIGINT) for an autoincrementing rowid primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")
TS = DateTime(timezone=True)
# Table args of a table whose ids people and the audit log refer to: SQLite without AUTOINCREMENT
# gives a deleted newest row's id to the next row (max + 1), and with it the deleted record's
# history; with it (and on PostgreSQL, whose sequences never go back) an id is never given twice.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    """Declarative base of every chargebay table."""

    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


WAL_PAGES = 1000  # SQLite's default checkpoint interval, in pages of the write-ahead log


def _sqlite_pragmas(cache_kib: int, wal_pages: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets readers run beside the single writer; NORMAL sync is durable across process
        # crashes (not power loss) and several times faster than FULL.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute(f"PRAGMA cache_size=-{cache_kib}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
        # the log file keeps the size it grew to; past twice the interval it is cut back
        cur.execute(f"PRAGMA journal_size_limit={2 * wal_pages * 4096}")
        cur.close()

    return on_connect


def create_engine(url: str, cache_kib: int = 4096, wal_pages: int = WAL_PAGES,
                  **kwargs: Any) -> AsyncEngine:
    """An async engine; for SQLite the parent folder is created and pragmas set per connection.

    ``cache_kib`` is SQLite's page cache per connection: small for the readers, large for the
    single writer (index inserts for thousands of charge points touch many pages).
    ``wal_pages`` is how long the write-ahead log grows before the committing connection copies
    it into the database. The single writer's commits touch the same hot index pages (the end of
    each charge point's range) again and again: a checkpoint every 10,000 pages copies each of
    them once where every 1,000 copied them ten times, and stalls the writer a tenth as often
    (bench/csms_load.py over 60 s: 4,770 → 5,310 calls/s; issue #18). The price: up to ~80 MB
    of log file beside the database.
    """
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Reads (handshakes, Authorize, the API) run beside the writer: more than the default 5+10.
    # SQLite: no overflow. An overflow connection is opened for a burst and closed after it (a
    # thread, a file handle and the pragmas each time): a connect storm churned hundreds of them
    # a second. A reader beyond the pool waits its turn instead (reads take milliseconds).
    sqlite = is_sqlite(url)
    kwargs.setdefault("pool_size", 30 if sqlite else 10)
    kwargs.setdefault("max_overflow", 0 if sqlite else 20)
    if sqlite:
        kwargs.setdefault("pool_timeout", 120)
    if sqlite and url.startswith("sqlite+aiosqlite") and "module" not in kwargs:
        module = sqlite_driver.dbapi()
        if module is not None:
            kwargs["module"] = module
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(cache_kib, wal_pages))
    elif engine.dialect.name == "postgresql":
        event.listen(engine.sync_engine, "before_cursor_execute", _no_nul_bytes, retval=True)
    return engine


def _clean(value: Any) -> Any:
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _no_nul_bytes(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                  executemany: bool) -> tuple[str, Any]:
    """PostgreSQL text cannot hold U+0000, which a charge point can send (inside a JSON string
    or a garbage frame): store U+FFFD in its place rather than lose the whole row."""
    def row(params: Any) -> Any:
        if isinstance(params, dict):
            return {k: _clean(v) for k, v in params.items()}
        if isinstance(params, (list, tuple)):
            return type(params)(_clean(v) for v in params)
        return params

    return statement, ([row(p) for p in parameters] if executemany else row(parameters))
