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
