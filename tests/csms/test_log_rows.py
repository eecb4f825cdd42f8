"""The message log's rows on their own path through the writer (csms.store.log_rows, issue #18):
an answer waits for the log rows queued before it (and over a socket, leaves only once they are
committed), a commit takes a bounded share of them and flush() waits for all, and a row the
database refuses costs only itself."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chargebay.stack import Stack
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


async def test_an_answer_leaves_only_once_its_frames_are_logged(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a real websocket: a Heartbeat comes while a batch is in flight; that batch ends, and
    the insert of the next one, holding the Heartbeat's log rows, is held: meanwhile no answer
    comes (not after the batch in flight, nor during its own). Once its batch commits the writer
    sends the answer (csms.delivery), and both rows are in the store when it arrives."""
    gate, holding = asyncio.Event(), asyncio.Event()
    insert = log_rows.LogRows.insert

    async def held(self: Any, conn: AsyncConnection, rows: list[LogRow]) -> None:
        if any(r[4] == "h1" for r in rows):  # the batch with the Heartbeat's rows
            holding.set()
            await gate.wait()
        await insert(self, conn, rows)

    monkeypatch.setattr(log_rows.LogRows, "insert", held)
    earlier, busy = asyncio.Event(), asyncio.Event()

    async def in_flight(conn: AsyncConnection) -> None:  # a batch before the Heartbeat's, held
        busy.set()
        await earlier.wait()

    async with websockets.connect(f"{stack.ws_url}/CP-DURABLE", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))[2]["status"] == "Accepted"
        before = asyncio.create_task(stack.central.writer.run(in_flight))
        try:
            await busy.wait()
            await ws.send('[2,"h1","Heartbeat",{}]')
            while not any(r[4] == "h1" for r in stack.central.writer.frames.rows):
                await asyncio.sleep(0.01)  # handled: its rows wait for the next batch
            earlier.set()  # that batch ends; the next one, with the Heartbeat's rows, is held
            await asyncio.wait_for(holding.wait(), 10)
            with pytest.raises(TimeoutError):  # its rows are being inserted, not committed: no answer
                await asyncio.wait_for(ws.recv(), 0.5)
            gate.set()
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            async with stack.central.engine.connect() as conn:
                logged = (await conn.execute(select(_M.c.direction, _M.c.message_type).where(
                    _M.c.charge_point_id == "CP-DURABLE", _M.c.message_id == "h1"))).all()
        finally:
            earlier.set()
            gate.set()
            await before
    assert answer[:2] == [3, "h1"] and "currentTime" in answer[2]
    assert sorted(logged) == [("in", 2), ("out", 3)]  # both committed before the answer left


async def test_a_charge_point_that_does_not_read_is_held_back(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A charge point that sends call after call without waiting for answers: while the store
    holds its batch, the connection handles a few (answers handed to the writer are bounded,
    csms.connection.HANDED_MAX) and then waits, reading nothing more; so the frames are not
    piling up in memory. Once the store moves on, every call is answered, in order."""
    gate, holding = asyncio.Event(), asyncio.Event()
    insert = log_rows.LogRows.insert

    inserting: list[LogRow] = []

    async def held(self: Any, conn: AsyncConnection, rows: list[LogRow]) -> None:
        if any(r[0] == "CP-GREEDY" and r[4] == "g0" for r in rows):
            inserting.extend(rows)
            holding.set()
            await gate.wait()
        await insert(self, conn, rows)

    monkeypatch.setattr(log_rows.LogRows, "insert", held)
    async with websockets.connect(f"{stack.ws_url}/CP-GREEDY", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        json.loads(await asyncio.wait_for(ws.recv(), 10))
        try:
            for n in range(50):
                await ws.send(f'[2,"g{n}","Heartbeat",{{}}]')
            await asyncio.wait_for(holding.wait(), 10)
            await asyncio.sleep(0.5)  # time to read and handle every one of them, were it allowed
            handled = [r[4] for r in inserting + stack.central.writer.frames.rows
                       if r[0] == "CP-GREEDY" and r[2] == "in"]
            assert 1 <= len(handled) <= 4, handled  # a few, then the connection waits
        finally:
            gate.set()
        answers = [json.loads(await asyncio.wait_for(ws.recv(), 10))[1] for _ in range(50)]
    assert answers == [f"g{n}" for n in range(50)]


async def test_rows_are_not_halved_when_the_database_takes_no_writes(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Locked, full or read-only: the database answers reads but refuses the write itself
    (OperationalError). Halving 1,000 rows would be ~2,000 failing commits, each up to the busy
    timeout: they are dropped at once, and the line names the first of them."""
    attempts: list[int] = []

    async def locked(self: Any, conn: AsyncConnection, rows: list[LogRow]) -> None:
        attempts.append(len(rows))
        raise sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(log_rows.LogRows, "insert", locked)
    with caplog.at_level(logging.ERROR):
        await keep_apart(engine, [row(n) for n in range(1000)])
    assert attempts == [1000]
    assert "1000 message log rows failed and were dropped (the first: CP-L, message 0)" in caplog.text


async def test_a_failing_item_rolls_back_the_batch_and_its_rows_are_stored_once(engine: AsyncEngine) -> None:
    """The log rows go to SQLite in one call of several statements inside the batch's
    transaction: an operation failing after them rolls them back with it, then they are kept
    apart and the other writes one by one; each row is stored exactly once."""
    writer = Writer(engine)
    writer.start()

    async def failing(conn: AsyncConnection) -> None:
        raise RuntimeError("an operation that fails after the log rows went in")

    try:
        for n in range(200):  # 200 rows: several chunks (64, 64, 64, 8) in one call
            writer.log(row(n))
        failed = asyncio.ensure_future(writer.run(failing))
        writer.insert(_M, dict(zip(log_rows.COLUMNS, row(1000), strict=True)))  # an item beside it
        await writer.flush()
        with pytest.raises(RuntimeError):
            await failed
    finally:
        await writer.close()
    ids = [r[0] for r in await stored(engine)]
    assert sorted(ids, key=int) == [str(n) for n in range(200)] + ["1000"]


def test_the_driver_writes_datetimes_as_utc_text() -> None:
    """The adapter (common.sqlite_driver.sqlite_datetime) writes UTC: an aware datetime in
    another zone is converted (every timestamp here is UTC once parsed: ocppj.timestamps), a
    naive one is taken as UTC. SQLAlchemy's SQLite DateTime reads the text back."""
    from datetime import timezone

    from common.sqlite_driver import sqlite_datetime

    two_hours_east = timezone(timedelta(hours=2))
    assert sqlite_datetime(datetime(2026, 12, 6, 12, 0, tzinfo=two_hours_east)) == "2026-12-06 10:00:00.000000"
    assert sqlite_datetime(datetime(2026, 12, 6, 12, 0, 0, 5)) == "2026-12-06 12:00:00.000005"
    assert sqlite_datetime(NOW) == "2026-12-06 03:00:00.123456"
    assert sqlite3.adapters[(datetime, sqlite3.PrepareProtocol)] is sqlite_datetime
