"""The message log's per-charge-point index, kept in batches (#18, migration 0015): a frame is
in a charge point's log from the moment it is committed, exactly once, whether it is still pending
or already moved into the index; several nodes moving at once move each frame once; pruning takes
a frame's index key with it. On the real database: SQLite, and PostgreSQL in make test's second
pass. No scheduler runs here: the tests move when they choose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chargebay.stack import Stack
from common.db import create_engine
from csms.central import INDEX_EVERY
from csms.queries.charge_points import ChargePointQueries
from csms.queries.pages import Page
from csms.store import message_log
from csms.store.message_log import Indexer, index_pending
from csms.store.models import Message, MessageIndex, MessagePending, table
from csms.store.retention import prune_messages
from csms.store.writer import Writer
from tests.api.resources import BOOT
from tests.ocpp_client import connect

M, INDEX, PENDING = table(Message), table(MessageIndex), table(MessagePending)
NOW = datetime.now(UTC)


def frame(cp: str, n: int, action: str = "Heartbeat", age_days: float = 0) -> dict[str, Any]:
    return {"charge_point_id": cp, "ts": NOW - timedelta(days=age_days, seconds=-n), "direction": "in",
            "message_type": 2, "message_id": str(n), "action": action, "frame": f'[2,"{n}","{action}",{{}}]'}


@pytest.fixture
async def node(db_url: str) -> AsyncIterator[tuple[AsyncEngine, Writer]]:
    engine = create_engine(db_url)
    writer = Writer(engine)
    writer.start()
    try:
        yield engine, writer
    finally:
        await writer.close()
        await engine.dispose()


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        return tuple([(await conn.execute(select(func.count()).select_from(t))).scalar_one()  # type: ignore[return-value]
                      for t in (M, PENDING, INDEX)])


async def log(queries: ChargePointQueries, cp: str, size: int = 100, **filters: Any) -> list[str]:
    """Every page of ``cp``'s log, newest first, as message ids; the totals agree throughout."""
    seen: list[str] = []
    number = 1
    while True:
        page = await queries.messages(cp, Page(number, size), **filters)
        seen += [item["message_id"] for item in page["items"]]
        if len(page["items"]) < size:
            assert page["total"] == len(seen)
            return seen
        number += 1


async def test_a_frame_is_in_the_log_once_before_during_and_after_its_move(
        node: tuple[AsyncEngine, Writer]) -> None:
    """Frames of two charge points land pending (the trigger), read the same before and after
    the move, and a log that is half indexed, half pending pages across the seam without a
    frame missing or repeated; the move leaves nothing pending and indexes each frame once."""
    engine, writer = node
    queries = ChargePointQueries(engine, writer)
    for n in range(30):
        writer.insert(M, frame("CP-A" if n % 3 else "CP-B", n))
    await writer.flush()
    assert await counts(engine) == (30, 30, 0)
    newest_first = [str(n) for n in reversed(range(30)) if n % 3]
    assert await log(queries, "CP-A", size=7) == newest_first
    assert await index_pending(writer) == 30
    assert await counts(engine) == (30, 0, 30)
    for n in range(30, 45):  # a second batch stays pending: the log spans both halves
        writer.insert(M, frame("CP-A", n))
    await writer.flush()
    newest_first = [str(n) for n in reversed(range(30, 45))] + newest_first
    for size in (1, 6, 15, 100):
        assert await log(queries, "CP-A", size=size) == newest_first
    assert await log(queries, "CP-B") == [str(n) for n in reversed(range(0, 30, 3))]
    assert await log(queries, "CP-NONE") == []


async def test_filters_apply_to_both_halves(node: tuple[AsyncEngine, Writer]) -> None:
    engine, writer = node
    queries = ChargePointQueries(engine, writer)
    writer.insert_many(M, [frame("CP-F", n, "MeterValues" if n % 2 else "Heartbeat") for n in range(10)])
    await writer.flush()
    await index_pending(writer)
    writer.insert_many(M, [frame("CP-F", n, "MeterValues" if n % 2 else "Heartbeat") for n in range(10, 20)])
    await writer.flush()
    assert await log(queries, "CP-F", size=3, action="MeterValues") == [str(n) for n in range(19, 0, -2)]
    assert await log(queries, "CP-F", since=NOW + timedelta(seconds=5), until=NOW + timedelta(seconds=12)) == [
        str(n) for n in range(11, 4, -1)]


async def test_the_move_goes_in_batches_oldest_first(node: tuple[AsyncEngine, Writer]) -> None:
    """Twelve pending, batches of five: three writer operations move them all, oldest first."""
    engine, writer = node
    writer.insert_many(M, [frame("CP-Q", n) for n in range(12)])
    await writer.flush()
    assert await index_pending(writer, batch=5) == 12
    assert await counts(engine) == (12, 0, 12)
    assert await index_pending(writer, batch=5) == 0


async def test_the_central_mover_sizes_its_batches_to_the_time_they_take(
        node: tuple[AsyncEngine, Writer], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writer operation of the central system's move is sized so it takes OP_SECONDS
    (answers wait behind it): an operation slower than that halves the next batch (never below
    MIN_BATCH), a faster one doubles it (never above BATCH); every frame is moved all the same.
    A second start while a run is under way joins it rather than stacking another."""
    engine, writer = node
    writer.insert_many(M, [frame(f"CP-{n % 50}", n) for n in range(3_000)])
    await writer.flush()
    indexer = Indexer(writer)
    monkeypatch.setattr(message_log, "OP_SECONDS", 1e-9)  # every operation is too slow
    indexer.start()
    running = indexer._running
    indexer.start()
    assert indexer._running is running
    assert await indexer.run() == 3_000
    assert indexer.batch == 250  # operations of 2,000, 1,000 and 500 (which found none left)
    assert await counts(engine) == (3_000, 0, 3_000)
    writer.insert_many(M, [frame(f"CP-{n % 50}", n) for n in range(3_000, 9_000)])
    await writer.flush()
    monkeypatch.setattr(message_log, "OP_SECONDS", 1e9)  # every operation is quick
    assert await indexer.run() == 6_000
    assert indexer.batch == 4_000  # operations of 250, 500, 1,000, 2,000 and 4,000 (2,250 left:
    # a partial batch, quick because it was partial, says nothing of a bigger one)
    monkeypatch.setattr(message_log, "OP_SECONDS", 1e-9)
    for _ in range(8):
        await indexer.run()  # nothing to move, and still slow: halved each time
    assert indexer.batch == message_log.MIN_BATCH
    monkeypatch.setattr(message_log, "OP_SECONDS", 1e9)
    for _ in range(8):
        await indexer.run()  # quick because idle: an idle node must not meet a burst with BATCH
    assert indexer.batch == message_log.MIN_BATCH
    writer.insert_many(M, [frame(f"CP-{n % 50}", n) for n in range(9_000, 10_000)])
    await writer.flush()
    assert await indexer.run() == 1_000
    assert indexer.batch == 800  # full operations of 200 and 400, then 400 of 800
    monkeypatch.setattr(message_log, "BATCH", 1_000)
    writer.insert_many(M, [frame(f"CP-{n % 50}", n) for n in range(10_000, 13_000)])
    await writer.flush()
    assert await indexer.run() == 3_000
    assert indexer.batch == 1_000  # never above BATCH
    assert await counts(engine) == (13_000, 0, 13_000)
    assert await log(ChargePointQueries(engine, writer), "CP-7", size=1000) == [
        str(n) for n in reversed(range(7, 13_000, 50))][:1000]
    last = indexer._running
    await indexer.stop()
    indexer.start()  # a job the scheduler fired as it shut down: no run after stop()
    assert indexer._running is last


async def test_two_nodes_moving_at_once_move_each_frame_once(db_url: str) -> None:
    """Two writers on two engines (two nodes) move 3,000 pending frames at once while a third
    keeps logging: every frame ends up indexed exactly once, nothing stays pending, neither
    fails (PostgreSQL: the rows one node deletes are skipped by the other; SQLite: its lock)."""
    engines = [create_engine(db_url) for _ in range(3)]
    writers = [Writer(e) for e in engines]
    try:
        for writer in writers:
            writer.start()
        writers[2].insert_many(M, [frame(f"CP-{n % 40}", n) for n in range(3000)])
        await writers[2].flush()

        async def keep_logging() -> None:
            for n in range(3000, 3500):
                writers[2].insert(M, frame(f"CP-{n % 40}", n))
                if n % 50 == 0:
                    await writers[2].flush()
            await writers[2].flush()

        moved = await asyncio.gather(*(index_pending(w, batch=100) for w in writers[:2]), keep_logging())
        moved += [await index_pending(writers[0], batch=100)]
        assert sum(m for m in moved if m is not None) == 3500
        assert await counts(engines[0]) == (3500, 0, 3500)
        async with engines[0].connect() as conn:
            pairs = (await conn.execute(select(INDEX.c.charge_point_id, INDEX.c.id))).all()
            frames = (await conn.execute(select(M.c.charge_point_id, M.c.id))).all()
        assert sorted(map(tuple, pairs)) == sorted(map(tuple, frames))
    finally:
        for writer in writers:
            await writer.close()
        for engine in engines:
            await engine.dispose()


async def test_pruning_takes_the_index_keys_and_pending_marks_with_the_frames(
        node: tuple[AsyncEngine, Writer]) -> None:
    """Old frames, some indexed and some still pending, are pruned with their keys; the recent
    ones keep theirs and stay readable."""
    engine, writer = node
    queries = ChargePointQueries(engine, writer)
    writer.insert_many(M, [frame("CP-P", n, age_days=40) for n in range(8)])
    await writer.flush()
    await index_pending(writer)
    writer.insert_many(M, [frame("CP-P", n, age_days=40) for n in range(8, 12)])
    writer.insert_many(M, [frame("CP-P", n) for n in range(12, 15)])
    await writer.flush()
    assert await prune_messages(writer, NOW - timedelta(days=30)) == 12
    assert await counts(engine) == (3, 3, 0)
    assert await log(queries, "CP-P") == ["14", "13", "12"]
    await index_pending(writer)
    assert await counts(engine) == (3, 0, 3)
    assert await log(queries, "CP-P") == ["14", "13", "12"]


async def test_the_central_system_moves_the_frames_of_a_live_connection(stack: Stack) -> None:
    """A charge point talks over a real websocket: its frames are in its log at once (pending),
    the central system's job (scheduled every INDEX_EVERY seconds) moves them, and the log reads
    the same afterwards."""
    [job] = [j for j in stack.central._scheduler.get_jobs() if j.name == "CentralSystem.index_messages"]
    assert job.trigger.interval == timedelta(seconds=INDEX_EVERY)
    queries = ChargePointQueries(stack.central.engine, stack.central.writer)
    async with connect(stack.ws_url, "CP-LIVE") as cp:
        await cp.call(BOOT)
        for _ in range(3):
            await cp.call(call.Heartbeat())
    before = (await queries.messages("CP-LIVE", Page(1, 50)))["items"]
    assert [(m["direction"], m["action"]) for m in before] == [
        *[("out", "Heartbeat"), ("in", "Heartbeat")] * 3, ("out", "BootNotification"), ("in", "BootNotification")]
    job.modify(next_run_time=datetime.now(UTC))  # the scheduler's own run, now
    for _ in range(200):
        async with stack.central.engine.connect() as conn:
            if (await conn.execute(select(func.count()).select_from(PENDING))).scalar_one() == 0:
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the scheduled move did not run")
    assert await stack.central.index_messages() == 0
    assert (await queries.messages("CP-LIVE", Page(1, 50)))["items"] == before
