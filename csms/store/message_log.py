"""The message log's per-charge-point index, kept in batches (migration 0015 says why).

A frame is inserted into ``messages`` alone; a trigger notes it in ``message_pending``. Every
ten seconds (``csms.central.INDEX_EVERY``) the :class:`Indexer` moves what is pending into
``message_index`` in sorted batches: a leaf page of that index then takes ten seconds of a charge
point's frames in one write instead of one write per commit. Ten, not one: with 10,000 charge
points a second's frames are one or two per charge point, and the move saved nothing (measured
with ``bench/sim_fleet.py``: commits of 250 ms on average with a move a second, 18 ms with one
every ten seconds). :func:`frames_of` reads a charge point's frames from both, in one statement
(one snapshot), so a frame is never missing from the log nor seen twice while it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import Message, MessageIndex, MessagePending, table
from csms.store.writer import Writer

log = logging.getLogger(__name__)
BATCH = 20_000  # the most frames one writer operation of a move takes
MIN_BATCH = 200
# What one writer operation of a move may take: answers waiting for a commit wait behind it. A
# move's cost is per index page touched, not per frame: with 1,000 charge points 20,000 frames
# took ~60 ms, with 10,000 charge points 0.3-3 s (each frame another charge point's leaf page),
# and answers stalled that long (bench/sim_fleet.py, p99 of 4-6 s). So the batch is sized to the
# time it took last.
OP_SECONDS = 0.05
LAGGING = 500_000  # frames pending past which the move is said to lag behind (a WARNING)
_M = table(Message)
_INDEX = table(MessageIndex)
_PENDING = table(MessagePending)


async def _move(conn: AsyncConnection, batch: int) -> int:
    """Move up to ``batch`` pending frames (the oldest) into the index; how many moved."""
    if conn.dialect.name == "postgresql":
        # Rows another node is moving are locked: skipped, never moved twice.
        taken = (select(_PENDING.c.id).order_by(_PENDING.c.id).limit(batch)
                 .with_for_update(skip_locked=True))
        moved = (delete(_PENDING).where(_PENDING.c.id.in_(taken))
                 .returning(_PENDING.c.charge_point_id, _PENDING.c.id).cte("moved"))
        result = await conn.execute(
            insert(_INDEX).from_select(["charge_point_id", "id"],
                                       select(moved.c.charge_point_id, moved.c.id))
            .add_cte(moved))
        return int(result.rowcount)
    # SQLite: this connection is the only writer, so what it reads stays pending until it deletes.
    oldest = select(_PENDING.c.id).order_by(_PENDING.c.id).limit(batch).subquery()
    upto = (await conn.execute(select(func.max(oldest.c.id)))).scalar()
    if upto is None:
        return 0
    taken = _PENDING.c.id <= upto
    await conn.execute(insert(_INDEX).from_select(
        ["charge_point_id", "id"],
        select(_PENDING.c.charge_point_id, _PENDING.c.id).where(taken)
        .order_by(_PENDING.c.charge_point_id, _PENDING.c.id)))
    result = await conn.execute(delete(_PENDING).where(taken))
    return int(result.rowcount)


async def index_pending(writer: Writer, batch: int = BATCH) -> int:
    """Move everything pending into the index, ``batch`` rows per writer operation (answers
    queued behind it wait for one batch, not for the whole backlog)."""
    total = 0
    while True:
        moved = await writer.run(lambda conn: _move(conn, batch))
        total += moved
        if moved < batch:
            return total
        await asyncio.sleep(0)


class Indexer:
    """The central system's mover: batches sized so that each writer operation takes about
    :data:`OP_SECONDS` (the size is kept from run to run); one run at a time."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.batch = 2_000
        self._running: asyncio.Task[int] | None = None
        self._stopped = False

    def start(self) -> None:
        """The scheduled job: a run unless one is under way (a run outlasts the interval while
        a fleet boots; the job must not stack runs nor warn about them), or once stopped (a job
        the scheduler fired just before it shut down)."""
        if not self._stopped and (self._running is None or self._running.done()):
            self._running = asyncio.create_task(self._run(), name="index-messages")

    async def run(self) -> int:
        """A run now (or the one under way), awaited: how many frames it moved."""
        self.start()
        assert self._running is not None
        return await asyncio.shield(self._running)

    async def _run(self) -> int:
        total = 0
        while True:
            batch = self.batch
            moved, took = await self.writer.run(functools.partial(_timed_move, batch=batch))
            total += moved
            # the next batch sized to OP_SECONDS, at most doubled or halved; a partial batch
            # (every run's last) is quick because it was partial: it may only shrink it
            if took > 0 and (moved == batch or took > OP_SECONDS):
                self.batch = int(min(max(batch * min(max(OP_SECONDS / took, 0.5), 2.0),
                                         MIN_BATCH), BATCH))
            if moved < batch:
                return total
            if total >= LAGGING and total - moved < LAGGING:
                log.warning("the message log's index lags: %d frames moved in this run so far, "
                            "%d per writer operation", total, self.batch)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Cancel a run under way (each move is its own transaction: nothing is half moved);
        no run starts after this. A cancellation of the caller itself goes on up."""
        self._stopped = True
        if self._running is not None and not self._running.done():
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError


async def _timed_move(conn: AsyncConnection, batch: int) -> tuple[int, float]:
    started = time.perf_counter()
    moved = await _move(conn, batch)
    return moved, time.perf_counter() - started


def frames_of(charge_point_id: str, *where: ColumnElement[bool], newest: int) -> Select[Any]:
    """The ``newest`` frames of a charge point (``messages`` columns) matching ``where``, newest
    first: those indexed and those pending, as one statement (one snapshot, so a frame moving
    meanwhile is seen once). Each half is ordered and cut on its own: PostgreSQL then walks the
    index backwards and stops (it plans no ordered merge of a UNION's halves: without the inner
    LIMIT a busy charge point's first page read its whole log, 300 ms for 300,000 frames)."""
    columns = [c.label(c.name) for c in _M.c if c.name != "id"]
    indexed = (select(_INDEX.c.id.label("id"), *columns)
               .select_from(_INDEX.join(_M, _M.c.id == _INDEX.c.id))
               .where(_INDEX.c.charge_point_id == charge_point_id, *where)
               .order_by(_INDEX.c.id.desc()).limit(newest).subquery("indexed"))
    # Ten seconds of frames at most (6.5 ms to scan 140,000 of them for one charge point);
    # IN makes SQLite look them up by id rather than scan the log.
    pending = (select(_M.c.id.label("id"), *columns)
               .where(_M.c.id.in_(select(_PENDING.c.id)
                                  .where(_PENDING.c.charge_point_id == charge_point_id)), *where)
               .order_by(_M.c.id.desc()).limit(newest).subquery("pending"))
    both = union_all(select(*indexed.c), select(*pending.c)).subquery("frames")
    return select(*both.c).order_by(both.c.id.desc())


def count_of(charge_point_id: str, *where: ColumnElement[bool]) -> Select[Any]:
    """How many frames of a charge point match ``where``: the index's and the pending keys alone
    when nothing is filtered (no frame is read), joined to the frames when something is."""
    def half(keys: Any) -> Any:
        query = select(func.count()).select_from(keys).where(keys.c.charge_point_id == charge_point_id)
        if where:
            query = query.join_from(keys, _M, _M.c.id == keys.c.id).where(*where)
        return query.scalar_subquery()
    return select(half(_INDEX) + half(_PENDING))
