"""common.sqlite_driver: a statement is one call on SQLite's thread, and SQLAlchemy sees the same
results, counts, ids and errors as through its own aiosqlite adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from common.db import create_engine


def _count_crossings(conn: Any, seen: list[str]) -> None:
    """Wrap the aiosqlite connection's queue: every function sent to its thread is counted."""
    raw = conn.sync_connection.connection.dbapi_connection._connection
    queue = raw._tx  # the worker thread holds the queue itself: only what is put is seen here

    class Counted:
        def put_nowait(self, item: Any) -> None:
            seen.append(getattr(item[1], "func", item[1]).__name__)
            queue.put_nowait(item)

    raw._tx = Counted()


async def test_statements_cross_once_and_answer_as_before(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
            seen: list[str] = []
            _count_crossings(conn, seen)
            inserted = await conn.exec_driver_sql("INSERT INTO t (v) VALUES ('a')")
            assert (inserted.lastrowid, inserted.rowcount) == (1, 1)
            many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
            assert many.rowcount == 2
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "c")]
            empty = await conn.execute(text("SELECT v FROM t WHERE id > 99"))
            assert list(empty.keys()) == ["v"] and empty.all() == []
            changed = await conn.exec_driver_sql("UPDATE t SET v = v || '!' WHERE id > 1")
            assert changed.rowcount == 2
            assert seen == ["_run"] * 5  # five statements, five crossings (was 3-4 each)
        async with engine.connect() as conn:
            with pytest.raises(IntegrityError):
                await conn.exec_driver_sql("INSERT INTO t (v) VALUES ('a')")
            await conn.rollback()
            with pytest.raises(OperationalError):
                await conn.exec_driver_sql("SELECT nothing FROM nowhere")
    finally:
        await engine.dispose()


async def test_streamed_results_keep_sqlalchemys_cursor(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
            await conn.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(250)])
            streamed = await conn.stream(text("SELECT n FROM t ORDER BY n"))
            assert [r.n async for r in streamed] == list(range(250))
    finally:
        await engine.dispose()


async def _scenario(engine: Any) -> list[Any]:
    """Statements whose every visible result is compared between the two adapters."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert

    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", String, unique=True))
    seen: list[Any] = []
    async with engine.begin() as conn:
        await conn.run_sync(t.metadata.create_all)
        one = await conn.execute(insert(t).values(v="a"))
        seen.append(tuple(one.inserted_primary_key or ()))
        returned = await conn.execute(insert(t).returning(t.c.id, t.c.v), [{"v": f"r{n}"} for n in range(600)])
        seen.append(returned.all()[-3:])
        updated = await conn.execute(t.update().where(t.c.id > 590).values(v=t.c.v + "!").returning(t.c.v))
        seen.append(sorted(updated.scalars().all()))
        nothing = await conn.execute(t.delete().where(t.c.id < 0).returning(t.c.id))
        seen.append((list(nothing.keys()), nothing.all()))
        savepoint = await conn.begin_nested()
        with pytest.raises(IntegrityError):
            await conn.execute(insert(t).values(v="a"))
        await savepoint.rollback()
        cursor = (await conn.exec_driver_sql("SELECT id FROM t ORDER BY id")).cursor
        assert cursor is not None
        cursor.arraysize = 4
        seen.append(cursor.fetchmany())
        seen.append((await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar())
    return seen


async def test_results_match_sqlalchemys_own_adapter(tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    ours = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ours.db'}")
    theirs = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'theirs.db'}")
    try:
        assert type(ours.dialect.dbapi).__name__ == "OneCrossingDbapi"
        assert await _scenario(ours) == await _scenario(theirs)
    finally:
        await ours.dispose()
        await theirs.dispose()
