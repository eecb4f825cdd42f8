"""The charge-point side's durable queue: group commits, a failing write alone, old rows."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from common.durable import DurableQueue


async def test_writes_waiting_together_share_one_commit(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    try:
        seqs = await asyncio.gather(*(queue.push(f"CP-{n}", "MeterValues", {"n": n}) for n in range(50)))
        assert sorted(seqs) == list(range(1, 51))
        assert queue.commits <= 2  # the first write's commit, then everything queued meanwhile
        assert [p for _, _, p in await queue.pending("CP-7")] == [{"n": 7}]
    finally:
        queue.close()


async def test_a_failing_write_is_rolled_back_alone_and_its_neighbours_commit(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    try:
        bad = [queue.push_statement("CP-2", "MeterValues", {"n": 2}),
               ("INSERT INTO nowhere VALUES (1)", ())]  # its second statement fails
        results = await asyncio.gather(
            queue.push("CP-1", "MeterValues", {"n": 1}),
            queue.write(bad),
            queue.push("CP-3", "MeterValues", {"n": 3}, also=[queue.state_statement("CP-3", "k", 1)]),
            return_exceptions=True)
        assert isinstance(results[0], int) and isinstance(results[2], int)
        assert isinstance(results[1], sqlite3.OperationalError)
        assert queue.commits == 1  # the three shared one transaction: rerun in savepoints
        assert [p for _, _, p in await queue.pending("CP-1")] == [{"n": 1}]
        assert await queue.pending("CP-2") == []  # its first statement went with it
        assert [p for _, _, p in await queue.pending("CP-3")] == [{"n": 3}]
        assert await queue.state("CP-3") == {"k": 1}
    finally:
        queue.close()


async def test_values_keep_their_keys_and_rows_the_standard_library_wrote_still_read(
        tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    try:
        await queue.keep("CP-1", "limits", {1: 16.0, 2: None})
        assert await queue.state("CP-1") == {"limits": {"1": 16.0, "2": None}}  # as json wrote them
        await queue.write([("INSERT INTO state VALUES (?, ?, ?)",
                            ("CP-1", "old", json.dumps({"v": float("nan")})))])
        state = await queue.state("CP-1")
        assert state["old"]["v"] != state["old"]["v"]  # NaN, read back
        await queue.keep("CP-1", "big", {"id": 2**70})  # beyond orjson's 64 bits: as json writes it
        assert (await queue.state("CP-1"))["big"] == {"id": 2**70}
    finally:
        queue.close()


async def test_a_closed_queue_refuses_writes(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    queue.close()
    with pytest.raises(Exception, match="q.db"):
        await queue.push("CP-1", "MeterValues", {})


async def test_the_log_is_checkpointed_on_a_thread_once_it_grows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits run on the loop and never checkpoint themselves (that waits for the disk); once
    CHECKPOINT_COMMITS commits have gone by a checkpoint runs on a thread (writes wait for it, so
    it completes), after which the log starts over instead of growing without end, and nothing
    written is lost."""
    from common import durable

    monkeypatch.setattr(durable, "CHECKPOINT_COMMITS", 5)
    monkeypatch.setattr(durable, "JOURNAL_LIMIT_BYTES", 0)
    queue = DurableQueue(tmp_path / "q.db")
    wal = tmp_path / "q.db-wal"
    sizes: list[int] = []
    try:
        for round_ in range(20):
            seqs = await asyncio.gather(*(queue.push(f"CP-{n}", "MeterValues", {"pad": "x" * 500, "r": round_})
                                          for n in range(40)))
            await asyncio.gather(*(queue.remove(seq) for seq in seqs[:-1]))
            sizes.append(wal.stat().st_size)
        assert queue.checkpoints >= 5
        assert max(sizes) < 256 * 1024  # started over (and cut back), not 20 rounds of frames
        assert [p["r"] for _, _, p in await queue.pending("CP-39")] == list(range(20))
    finally:
        queue.close()
    reopened = DurableQueue(tmp_path / "q.db")  # what the log held is in the database
    try:
        assert len(await reopened.pending("CP-39")) == 20 and await reopened.pending("CP-0") == []
    finally:
        reopened.close()


async def test_a_lock_held_by_another_process_fails_the_batch_and_then_clears(tmp_path: Path) -> None:
    """BEGIN runs on the event loop: a write lock held elsewhere (a sqlite3 shell) fails the
    batch after BUSY_S, once (no second wait for a rerun), and the queue writes again after."""
    queue = DurableQueue(tmp_path / "q.db")
    other = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        results = await asyncio.gather(queue.push("CP-1", "MeterValues", {"n": 1}),
                                       queue.push("CP-2", "MeterValues", {"n": 2}), return_exceptions=True)
        assert [type(r) for r in results] == [sqlite3.OperationalError] * 2
        assert "locked" in str(results[0]) and queue.commits == 0
        other.execute("ROLLBACK")
        assert isinstance(await queue.push("CP-1", "MeterValues", {"n": 3}), int)
        assert [p for _, _, p in await queue.pending("CP-1")] == [{"n": 3}]
    finally:
        other.close()
        queue.close()


async def test_a_failed_checkpoint_is_logged_and_tried_again_soon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from common import durable

    monkeypatch.setattr(durable, "CHECKPOINT_COMMITS", 10)
    queue = DurableQueue(tmp_path / "q.db")
    real, calls = queue._checkpoint, []

    def failing_once() -> None:
        calls.append(queue.commits)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real()
    monkeypatch.setattr(queue, "_checkpoint", failing_once)
    try:
        for n in range(14):
            await queue.push("CP-1", "MeterValues", {"n": n})  # a commit each (writes wait for a checkpoint)
        assert calls[:2] == [10, 11]  # failed at the tenth commit, tried again after one more
        assert queue.checkpoints == 1
        assert "checkpoint of" in caplog.text and "disk I/O error" in caplog.text
    finally:
        queue.close()
