"""The message log's retention (issue #13, item 10): frames older than
``message_retention_days`` are pruned in bounded batches through the single writer, never one
inside the retention, and several nodes pruning one database at once is harmless. On the real
database: SQLite, and PostgreSQL in the second pass of make test."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chargebay.stack import Stack
from common.db import create_engine
from csms.store.models import Message
from csms.store.retention import prune_messages
from csms.store.writer import Writer
from tests.helpers import rows

M = Message.__table__
NOW = datetime.now(UTC)


def frames(cp_id: str, age_days: float, count: int) -> list[dict[str, object]]:
    ts = NOW - timedelta(days=age_days)
    return [{"charge_point_id": cp_id, "ts": ts, "direction": "in", "message_type": 2,
             "message_id": str(i), "action": "Heartbeat", "frame": f'[2,"{i}","Heartbeat",{{}}]'}
            for i in range(count)]


async def insert(engine: AsyncEngine, *batches: list[dict[str, object]]) -> None:
    async with engine.begin() as conn:
        for batch in batches:
            await conn.execute(M.insert(), batch)


async def ages(stack: Stack) -> dict[str, int]:
    return {r["charge_point_id"]: r["n"] for r in await rows(
        stack, "SELECT charge_point_id, count(*) AS n FROM messages GROUP BY charge_point_id")}


async def test_pruning_deletes_the_frames_past_retention_and_nothing_else(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """5,000 frames 40 days old, 300 a day old: the default 30 days prune the 5,000 (in batches
    of at most 1,000 through the writer), say so once, and keep the rest."""
    caplog.set_level(logging.INFO, logger="csms.store.retention")
    assert stack.central.settings.message_retention_days == 30
    await insert(stack.central.engine, frames("CP-OLD", 40, 5000), frames("CP-NEW", 1, 300))
    assert await stack.central.prune_messages() == 5000
    assert await ages(stack) == {"CP-NEW": 300}
    said = [r.getMessage() for r in caplog.records if "pruned" in r.getMessage()]
    assert len(said) == 1 and "5000 frame(s)" in said[0] and "retention 30 days" in said[0]
    assert await stack.central.prune_messages() == 0  # nothing left to do: silent
    assert len([r for r in caplog.records if "pruned" in r.getMessage()]) == 1


async def test_a_frame_inside_the_retention_is_never_pruned_even_out_of_id_order(
        stack: Stack) -> None:
    """Ids follow time only roughly (nodes with skewed clocks share one sequence): a recent frame
    among old ones stops a run, and is kept; the next runs take the old ones behind it."""
    await insert(stack.central.engine, frames("CP-OLD", 40, 12), frames("CP-SKEWED", 1, 1),
                 frames("CP-OLD", 40, 8))
    before = NOW - timedelta(days=30)
    first = await prune_messages(stack.central.writer, before, batch=5)
    assert first == 5 + 5 + 4  # two whole batches, then the four old ones of the batch it is in
    assert await ages(stack) == {"CP-SKEWED": 1, "CP-OLD": 6}
    while await prune_messages(stack.central.writer, before, batch=5):
        pass
    assert await ages(stack) == {"CP-SKEWED": 1}


async def test_two_nodes_pruning_one_database_at_once_delete_each_frame_once(db_url: str) -> None:
    """Two writers on two engines (two nodes) prune the same 6,000 frames at once: every frame is
    deleted by exactly one of them, neither fails (PostgreSQL: SKIP LOCKED; SQLite: its lock)."""
    engines = [create_engine(db_url), create_engine(db_url)]
    writers = [Writer(e) for e in engines]
    try:
        await insert(engines[0], frames("CP-OLD", 40, 6000), frames("CP-NEW", 1, 10))
        for writer in writers:
            writer.start()
        before = NOW - timedelta(days=30)
        results = await asyncio.gather(*(prune_messages(w, before, batch=200) for w in writers))
        for writer in writers:  # a node that stopped early (its rows taken) leaves the rest
            results.append(await prune_messages(writer, before, batch=200))
        assert sum(results) == 6000, results
        async with engines[0].connect() as conn:
            left = (await conn.execute(select(M.c.charge_point_id, func.count())
                                       .group_by(M.c.charge_point_id))).all()
        assert [tuple(r) for r in left] == [("CP-NEW", 10)]
    finally:
        for writer in writers:
            await writer.close()
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize("settings_overrides", [{"message_retention_days": 0}])
async def test_retention_zero_keeps_the_log_forever(stack: Stack) -> None:
    await insert(stack.central.engine, frames("CP-ANCIENT", 4000, 10))
    assert await stack.central.prune_messages() == 0
    assert await ages(stack) == {"CP-ANCIENT": 10}
    assert "CentralSystem.prune_messages" not in [j.name for j in stack.central._scheduler.get_jobs()]


async def test_every_node_schedules_the_pruning_single_node_too(stack: Stack) -> None:
    """Without Redis (one process) the scheduler runs, with the pruning job on it."""
    assert stack.central._scheduler.running
    [job] = [j for j in stack.central._scheduler.get_jobs() if j.name == "CentralSystem.prune_messages"]
    assert job.trigger.interval == timedelta(seconds=3600)
    assert job.next_run_time <= datetime.now(UTC) + timedelta(seconds=61)
