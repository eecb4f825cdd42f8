"""The message log's rows on their own path through the writer (csms.store.log_rows, issue #18):
an answer waits for the log rows queued before it, a commit takes a bounded share of them and
flush() waits for all, and a row the database refuses costs only itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import create_engine
from common.ratelimit import Throttle
from csms.store import log_rows
from csms.store.bulk import BulkStatement
from csms.store.log_rows import LogRow, keep_apart
from csms.store.models import Message, table
from csms.store.writer import Writer

_M = table(Message)
NOW = datetime(2026, 12, 6, 3, 0, 0, 123456, tzinfo=UTC)


def row(n: int, frame: Any = None) -> Any:
    return ("CP-L", NOW + timedelta(microseconds=n), "in", 2, str(n), "Heartbeat",
            f'[2,"{n}","Heartbeat",{{}}]' if frame is None else frame)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine) -> list[tuple[str, datetime, str]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(  # type: ignore[misc]
            select(_M.c.message_id, _M.c.ts, _M.c.frame).order_by(_M.c.id))).all()]


async def test_an_answer_waits_for_the_log_rows_queued_before_it(engine: AsyncEngine) -> None:
    writer = Writer(engine)
    writer.start()
    gate, busy = asyncio.Event(), asyncio.Event()

    async def held(conn: AsyncConnection) -> None:  # a batch in flight, held open
        busy.set()
        await gate.wait()

    try:
        running = asyncio.create_task(writer.run(held))
        await busy.wait()
        writer.log(row(1))  # queued while that batch commits: it goes with the next one
        durable = asyncio.create_task(writer.durable())
        await asyncio.sleep(0.1)
        assert not durable.done()  # the row is not committed: no answer may leave yet
        assert await stored(engine) == []
        gate.set()
        await asyncio.wait_for(durable, 10)
        assert [r[0] for r in await stored(engine)] == ["1"]  # committed when durable() returned
        await running
    finally:
        gate.set()
        await writer.close()


async def test_commits_take_a_bounded_share_and_flush_waits_for_all(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_rows, "MAX_ROWS", 10)
    writer = Writer(engine)
    writer.start()
    try:
        for n in range(35):
            writer.log(row(n))
        await writer.flush()
        rows = await stored(engine)
        assert [r[0] for r in rows] == [str(n) for n in range(35)]  # all of them, in order
        # the timestamp comes back as it went in (written as SQLAlchemy writes it)
        assert rows[3][1].replace(tzinfo=UTC) == NOW + timedelta(microseconds=3)
    finally:
        await writer.close()


@pytest.fixture(autouse=True)
def unthrottled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh throttle for the "dropped" line (held back for ten seconds once written)."""
    monkeypatch.setattr(log_rows, "_dropped", Throttle(10.0))


async def test_a_refused_row_costs_only_itself(engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    rows: list[LogRow] = [row(n) for n in range(40)]
    rows[17] = row(17, frame={"not": "text"})  # the driver cannot bind it: this row is refused
    writer = Writer(engine)
    writer.start()
    try:
        with caplog.at_level(logging.ERROR):
            for one in rows:
                writer.log(one)
            await asyncio.wait_for(writer.durable(), 30)  # the failure ends the wait too
        ids = [r[0] for r in await stored(engine)]
        assert sorted(ids, key=int) == [str(n) for n in range(40) if n != 17]
        assert "1 message log rows failed and were dropped" in caplog.text
    finally:
        await writer.close()


async def test_rows_are_dropped_at_once_when_the_database_is_away(
        tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a folder: SQLite cannot open it
    try:
        with caplog.at_level(logging.ERROR):
            await asyncio.wait_for(keep_apart(engine, [row(n) for n in range(1000)]), 10)
        # dropped as one group (no table there), not retried row by row
        assert "1000 message log rows failed and were dropped" in caplog.text
    finally:
        await engine.dispose()


def test_sqlite_statements_come_in_a_few_fixed_sizes() -> None:
    """SQLite compiles each size once (csms.store.bulk.BulkStatement.sizes)."""
    sqlite = BulkStatement(_M, log_rows.COLUMNS, (), "qmark")
    assert sqlite.sizes(300) == [64, 64, 64, 64, 32, 8, 4]
    assert sqlite.sizes(0) == [] and sqlite.sizes(1) == [1] and sum(sqlite.sizes(12_345)) == 12_345
    assert {size for n in range(1, 2000) for size in sqlite.sizes(n)} == {1, 2, 4, 8, 16, 32, 64}
    postgres = BulkStatement(_M, log_rows.COLUMNS, (), "numeric_dollar")
    assert postgres.sizes(300) == [300]  # elsewhere as few statements as the parameter limit allows
    assert postgres.sizes(10_000) == [4571, 4571, 858]


async def test_count_matches_after_many_commits(engine: AsyncEngine) -> None:
    """Rows logged from many tasks at once, in many commits: each stored once."""
    writer = Writer(engine)
    writer.start()

    async def one(n: int) -> None:
        writer.log(row(n))
        await writer.durable()

    try:
        await asyncio.gather(*(one(n) for n in range(500)))
    finally:
        await writer.close()
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(_M))).scalar_one() == 500
        assert (await conn.execute(select(func.count(func.distinct(_M.c.message_id))))).scalar_one() == 500
