"""The single writer: every write of the central system goes through one batching task.

Why: per-frame transactions cap SQLite at a few thousand commits a second and contend for its one
write lock. Here writes queue up while the previous batch commits, and the next batch takes all of
them in one transaction (group commit): no added delay at low load, large batches at high load.
Order is kept, so a StartTransaction written as an operation lands before the meter values that
follow it. A caller that must know its row is on disk awaits the returned future; the message log
does not. A failing batch is retried item by item so one bad row never takes its neighbours down.

The REST API's changes come through here too (csms.services: charge points, id tags, commands),
so an id tag blocked over REST applies from the next frame handled after it at this node (at
another node as soon as the event bus tells it, within csms.store.id_tag_book.KEEP_S at worst). The one table
written past it is the API's own tokens (csms.services.tokens): the CLI issues them without a
running central system, and no frame is ordered against them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.ratelimit import Throttle
from csms.metrics import STORE_BATCH_ROWS, STORE_WRITE_SECONDS
from csms.store.barriers import Barriers
from csms.store.bulk import Statements
from csms.store.log_rows import LogRow, LogRows, keep_apart
from csms.store.touches import Touches, apply_touches

log = logging.getLogger(__name__)
T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[Any]]

_CREATE, _INSERT, _UPSERT, _OP, _UPDATE = -1, 0, 1, 2, 3  # _CREATE sorts first (see create)
MAX_BATCH = 5000  # writes per commit
_dropped = Throttle(10.0)
# A commit this long held up every answer waiting for it: worth a line in the log (at most one
# every ten seconds), naming what it held, so a stall can be traced to its cause.
SLOW_COMMIT_S = 1.0
_slow = Throttle(10.0)


def _creates_first(group: tuple[tuple[int, Table, tuple[str, ...]], Any]) -> int:
    return 0 if group[0][0] == _CREATE else 1  # a stable sort: the rest keep their order


async def _nothing(conn: AsyncConnection) -> None:
    """An operation that marks a point in the queue (see :meth:`Writer.flush`)."""


class _Item:
    __slots__ = ("kind", "table", "payload", "keys", "future")

    def __init__(self, kind: int, table: Table | None, payload: Any, keys: tuple[str, ...],
                 future: asyncio.Future[Any] | None) -> None:
        self.kind = kind
        self.table = table
        self.payload = payload
        self.keys = keys
        self.future = future


class Writer:
    """Batches inserts, upserts, coalesced ``last_seen`` touches and ordered operations."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._queue: list[_Item] = []
        self._touches = Touches()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._statements = Statements(engine.dialect.paramstyle)
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self.frames = LogRows(engine.dialect.paramstyle)  # the message log's rows, counted apart
        self._barriers = Barriers(self.frames)

    def _future(self) -> asyncio.Future[Any]:
        """A future on the writer's loop, looked up once: Python 3.11's get_running_loop() is a
        getpid() system call (~10 % of the event loop under bench/csms_load.py, py-spy --native)."""
        if self._event_loop is None:
            self._event_loop = asyncio.get_running_loop()
        return self._event_loop.create_future()

    @property
    def engine(self) -> AsyncEngine:
        """The engine the writes go through (its own pool beside the readers')."""
        return self._engine

    # -- enqueueing ------------------------------------------------------------------------
    def _put(self, item: _Item) -> None:
        if self._closing:
            raise RuntimeError("writer is closed")
        self._queue.append(item)
        self._barriers.queued += 1
        self._wake.set()

    def log(self, row: LogRow) -> None:
        """Queue a message log row (see :mod:`csms.store.log_rows`)."""
        if self._closing:
            raise RuntimeError("writer is closed")
        frames = self.frames
        frames.rows.append(row)
        frames.queued += 1
        self._wake.set()

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Queue one row; every row of a table must carry the same keys (one multi-row INSERT)."""
        self._put(_Item(_INSERT, table, row, (), None))

    def insert_many(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self._put(_Item(_INSERT, table, list(rows), (), None))

    def queue(self, table: Table, rows: Sequence[dict[str, Any]]) -> asyncio.Future[Any]:
        """Insert ``rows`` without waiting; the future says whether their batch committed (an
        answer that vouches for them checks it: ChargePointLink.vouch)."""
        fut: asyncio.Future[Any] = self._future()
        self._put(_Item(_INSERT, table, list(rows), (), fut))
        return fut

    async def save(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` and return once they are committed."""
        fut: asyncio.Future[Any] = self._future()
        self._put(_Item(_INSERT, table, list(rows), (), fut))
        await fut

    def create(self, table: Table, row: dict[str, Any]) -> None:
        """Insert ``row`` unless its primary key is taken (a racing twin is harmless).

        Such rows go first when the writes queued since the last operation are applied: making
        a row that did not exist earlier than queued changes nothing written before it, and what
        is queued after it (an update, a row referring to it) finds it. A connect storm of new
        charge points thus costs one multi-row INSERT, not an operation each."""
        self._put(_Item(_CREATE, table, row, (), None))

    def upsert(self, table: Table, row: dict[str, Any], keys: tuple[str, ...]) -> None:
        """Insert or update by ``keys``; within a batch the last row for a key wins."""
        self._put(_Item(_UPSERT, table, row, keys, None))

    def touch(self, charge_point_id: str, when: Any) -> None:
        """Record a charge point's last-seen time; written at most every TOUCH_EVERY seconds."""
        self._touches.charge_points[charge_point_id] = when

    def touch_transaction(self, transaction_id: int, when: Any, power_w: float | None = None,
                          register_wh: int | None = None) -> None:
        """Record that an open transaction was heard of (a meter value), with the draw and energy
        register it gave, if any; written like :meth:`touch`, so a meter value costs no extra
        statement of its own."""
        self._touches.transaction(transaction_id, when, power_w, register_wh)

    def update(self, table: Table, keys: str | tuple[str, ...], row: dict[str, Any],
               future: asyncio.Future[Any] | None = None) -> None:
        """Queue ``UPDATE table SET … WHERE key = row[key]`` (every key of ``keys``); same-shaped
        updates of a batch go out as one executemany (a connect storm's online flags cost one
        round trip, not 10,000). ``future``: done when its batch committed (or failed)."""
        self._put(_Item(_UPDATE, table, row, (keys,) if isinstance(keys, str) else keys, future))

    def submit(self, op: Op) -> None:
        """Queue ``op`` without waiting for it (order is kept; a failure is logged)."""
        self._put(_Item(_OP, None, op, (), None))

    async def run(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``op`` inside the next batch's transaction, in queue order; return its result."""
        fut: asyncio.Future[T] = self._future()
        self._put(_Item(_OP, None, op, (), fut))
        return await fut

    async def changed(self, stmt: Executable) -> int:
        """Run one UPDATE, DELETE or INSERT in queue order; the number of rows it changed (an
        insert that skips a conflict changes none)."""
        result = await self.run(lambda c: c.execute(stmt))
        return int(result.rowcount)

    async def durable(self) -> None:
        """Wait until everything queued so far is committed, without queueing anything.

        An answer goes on the wire only after this: a node killed at any moment has stored every
        frame a charge point was answered for. Unlike :meth:`flush` it adds no item, so the
        multi-row inserts of a busy batch stay whole.
        """
        if self._barriers.settled() or self._task is None or self._task.done():
            return
        fut: asyncio.Future[None] = self._future()
        self._barriers.add(fut)
        await fut

    def after_commit(self, job: Callable[[], None]) -> None:
        """Run ``job`` once everything queued so far is committed (at once if it is).

        What :meth:`durable` guards, without a task waiting: an answer handed over here is
        sent by the writer as its batch ends, and the connection's task goes back to reading
        (a wait and a wake-up per answer cost ~12 % of the server's CPU under
        bench/csms_load.py). Jobs run in queue order, before any task waiting in
        :meth:`durable` resumes; one that fails is logged."""
        if self._barriers.settled() or self._task is None or self._task.done():
            job()
            return
        self._barriers.add(job)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (later writes are not waited for)."""
        if self._task is not None and not self._task.done():
            self._touches.due = 0.0
            for _ in range(max(self._touches.chunks(), 1)):  # as many commits as those held need
                await self.run(_nothing)
            await self.durable()  # and the log rows (a commit takes at most MAX_ROWS of them)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._loop(), name="store-writer")

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        try:
            await self._run()
        finally:
            self._barriers.release(everything=True)  # never leave an answer waiting forever

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._touches:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(self._touches.due - loop.time(), 0))
            else:
                await self._wake.wait()
            self._wake.clear()
            # Bounded batches keep each commit short; the rest waits for the next one.
            if len(self._queue) <= MAX_BATCH:  # the usual case: the whole queue, no copies
                batch, self._queue = self._queue, []
            else:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            if self._queue:
                self._wake.set()
            touches: dict[str, Any] = {}
            tx_touches: dict[int, Any] = {}
            if self._touches and (loop.time() >= self._touches.due or self._closing):
                touches, tx_touches = self._touches.take(loop.time())
                if self._touches:
                    self._wake.set()  # the rest with the next commit
            frames = self.frames.take()
            if self.frames.rows:
                self._wake.set()
            if batch or touches or tx_touches or frames:
                await self._commit(batch, touches, tx_touches, frames)
                self._barriers.committed += len(batch)
                self.frames.committed += len(frames)
                self._barriers.release()
            if self._closing and not self._queue and not self._touches and not self.frames.rows:
                return

    # -- committing ------------------------------------------------------------------------
    async def _commit(self, batch: list[_Item], touches: dict[str, Any],
                      tx_touches: dict[int, Any] | None = None, frames: list[LogRow] | None = None) -> None:
        """Commit ``batch`` in one transaction; if that fails, each item on its own, and the log
        rows apart (:func:`csms.store.log_rows.keep_apart`)."""
        started = time.perf_counter()
        results: list[Any] = [None] * len(batch)
        logged = False  # whether the log rows went in before the failure (then an item failed)
        try:
            async with self._engine.begin() as conn:
                if frames:
                    await self.frames.insert(conn, frames)
                    logged = True
                await self._apply(conn, batch, results)
                if touches or tx_touches:
                    await apply_touches(conn, touches, tx_touches or {})
        except Exception as exc:
            if frames:  # the log rows apart; the rest whole if they failed, else one by one
                log.exception("batch of %d writes and %d log rows failed; retrying apart", len(batch),
                              len(frames))
                await keep_apart(self._engine, frames)
                if logged:
                    await self._one_by_one(batch, touches, tx_touches)
                elif batch or touches or tx_touches:
                    await self._commit(batch, touches, tx_touches)
                return
            if len(batch) + bool(touches or tx_touches) > 1:
                log.exception("batch of %d writes failed; retrying one by one", len(batch))
                await self._one_by_one(batch, touches, tx_touches)
                return
            # once per item of a failed batch, so per frame while the database is away
            _dropped.log(log, logging.ERROR, "write failed and was dropped", exc_info=True)
            for item in batch:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            took = time.perf_counter() - started
            STORE_WRITE_SECONDS.observe(took)
            if took >= SLOW_COMMIT_S:
                _slow.log(log, logging.WARNING, "a store commit took %.2f s (%d writes, %d operations)",
                          took, len(batch), sum(1 for item in batch if item.kind == _OP))
        STORE_BATCH_ROWS.observe(len(batch))
        for item, result in zip(batch, results, strict=True):
            if item.future is not None and not item.future.done():
                item.future.set_result(result)

    async def _one_by_one(self, batch: list[_Item], touches: dict[str, Any],
                          tx_touches: dict[int, Any] | None) -> None:
        for item in batch:
            await self._commit([item], {})
        if touches or tx_touches:
            await self._commit([], touches, tx_touches)

    async def _apply(self, conn: AsyncConnection, batch: list[_Item], results: list[Any]) -> None:
        """Execute the batch in order; rows for one table between two operations go out as one
        multi-row statement (see :mod:`csms.store.bulk`)."""
        groups: dict[tuple[int, Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        updated: dict[tuple[str, Any], tuple[str, ...]] = {}  # row → the keys of the group that updates it
        run: list[int] = []  # operations that run as one (a ``many``), after the rows between them
        for index, item in enumerate(batch):
            if item.kind == _OP:
                many = getattr(item.payload, "many", None)
                if run and many is not batch[run[0]].payload.many:
                    await self._many(conn, batch, run, results, groups)
                    updated.clear()
                if many is not None:
                    run.append(index)
                    continue
                await _flush_groups(self._statements, conn, groups)
                updated.clear()
                results[index] = await item.payload(conn)
                continue
            if item.kind == _UPDATE:  # updates of one row by different keys: applied in queue order
                row_key = (item.table.name, item.payload[item.keys[0]])  # type: ignore[union-attr]
                if updated.setdefault(row_key, item.keys) != item.keys:
                    await _flush_groups(self._statements, conn, groups)
                    updated.clear()
                    updated[row_key] = item.keys
            rows = groups.setdefault((item.kind, item.table, item.keys), [])  # type: ignore[arg-type]
            if type(item.payload) is list:
                rows.extend(item.payload)
            else:
                rows.append(item.payload)
        await self._many(conn, batch, run, results, groups)
        await _flush_groups(self._statements, conn, groups)

    async def _many(self, conn: AsyncConnection, batch: list[_Item], run: list[int], results: list[Any],
                    groups: dict[tuple[int, Table, tuple[str, ...]], list[dict[str, Any]]]) -> None:
        """Operations of one kind with only rows between them run as one call of their ``many``
        (csms.store.starts), after those rows: each sees what was queued before it, and rows of
        other clients queued after it (none of its own: an answer waits for its own commit, and
        no answer leaves before it, so they could as well have come first)."""
        if run:
            await _flush_groups(self._statements, conn, groups)
            ops = [batch[index].payload for index in run]
            for index, result in zip(run, await ops[0].many(conn, ops), strict=True):
                results[index] = result
            run.clear()


async def _flush_groups(statements: Statements, conn: AsyncConnection,
                        groups: dict[tuple[int, Table, tuple[str, ...]], list[dict[str, Any]]]) -> None:
    """The rows gathered since the last operation, one statement (or chunked few) per group."""
    for (kind, target, keys), rows in sorted(groups.items(), key=_creates_first):
        if not rows:
            continue
        if kind == _UPDATE:
            await statements.update(conn, target, keys, rows)
        else:
            await statements.insert(target, tuple(rows[0]), keys, kind == _CREATE).execute(conn, rows)
    groups.clear()
