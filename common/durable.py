"""A charge point's durable memory on the charge point side: queued messages and kept state.

The simulator's stations and the locker bridge's bays keep here what must survive the process
(a SIGKILL, a crash, a container replaced): the transaction messages not yet answered (the
``queue`` table, in order per charge point) and small facts about themselves (the ``state``
table: the open transaction of a connector, its last meter reading, availability). A message and
the state it goes with are written in one SQLite transaction (:meth:`DurableQueue.write`), so a
kill at any moment leaves either both or neither.

Writes from many charge points are committed together by one flusher (group commit: the writes
of one turn of the event loop share a commit, so a fleet of thousands pays one commit per burst,
not one per message). The database runs in WAL mode with ``synchronous=NORMAL``: a commit appends
to the log in the operating system's cache and waits for no disk, so it runs on the event loop
itself; what waits for the disk is the checkpoint (the log copied into the database, with fsync),
and that runs on a thread of its own, with a connection of its own, every CHECKPOINT_COMMITS
commits (writes wait for it, the event loop does not).
(Commits on a worker thread cost a 5,000-station fleet worker a quarter of its loop: a thread hop
per commit and the GIL handed back and forth on one core, bench/sim_fleet.py.) What is committed
survives the process being killed; a power cut of the machine itself may lose the last commits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from common.ratelimit import Throttle

log = logging.getLogger(__name__)
_failed = Throttle(60.0)
Statement = tuple[str, tuple[Any, ...]]
# Commits between two checkpoints: a commit appends a few pages, so the log stays around 10 MB
# (the file is cut back to JOURNAL_LIMIT_BYTES after each).
CHECKPOINT_COMMITS = 1000
BUSY_S = 0.5  # how long a commit waits for a write lock another connection holds
JOURNAL_LIMIT_BYTES = 4 * 2**20
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " station TEXT NOT NULL, action TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_queue_station ON queue (station, seq)",
    "CREATE TABLE IF NOT EXISTS state (station TEXT NOT NULL, key TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (station, key))",
)


def _text(value: Any) -> str:
    """``value`` as JSON text (orjson: a fleet writes thousands of payloads a second); what
    orjson refuses (an integer beyond 64 bits) as the standard library writes it. A float NaN
    or infinity is written as null by orjson (no JSON peer can send one)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


def _value(text: str) -> Any:
    """JSON text read back; what the standard library wrote before (NaN and all) still reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class _WriteFailed(Exception):
    """A write's own statement failed (not BEGIN or COMMIT): its batch runs again in savepoints."""


class QueueClosed(Exception):
    """The queue was closed (its process is shutting down)."""


@dataclass(slots=True)
class _Write:
    statements: list[Statement]
    future: asyncio.Future[int | None]


class DurableQueue:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        # BEGIN IMMEDIATE runs on the event loop: a lock held by another process (a sqlite3
        # shell) must not freeze it for sqlite3's default 5 s; such a batch fails after BUSY_S
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_S)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on their own thread
        self._db.execute(f"PRAGMA journal_size_limit={JOURNAL_LIMIT_BYTES}")
        for ddl in _SCHEMA:
            self._db.execute(ddl)
        self._checkpointed_at = 0  # self.commits when the last checkpoint started
        self._writes: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self.commits = 0  # group commits so far (the benchmark reports writes per commit)
        self.checkpoints = 0

    # -- reads (rare: at start) ------------------------------------------------------------------
    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._closed:
                raise QueueClosed(str(self.path))
            return self._db.execute(sql, args).fetchall()

    def read_sync(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read at start-up, before the event loop is busy (the owner's own tables)."""
        return self._read(sql, args)

    async def pending(self, station: str) -> list[tuple[int, str, dict[str, Any]]]:
        rows = await asyncio.to_thread(
            self._read, "SELECT seq, action, payload FROM queue WHERE station = ? ORDER BY seq",
            (station,))
        return [(seq, action, _value(payload)) for seq, action, payload in rows]

    async def state(self, station: str) -> dict[str, Any]:
        rows = await asyncio.to_thread(
            self._read, "SELECT key, value FROM state WHERE station = ?", (station,))
        return {key: _value(value) for key, value in rows}

    # -- statements, to combine in one write -----------------------------------------------------
    @staticmethod
    def push_statement(station: str, action: str, payload: dict[str, Any]) -> Statement:
        return ("INSERT INTO queue (station, action, payload) VALUES (?, ?, ?) RETURNING seq",
                (station, action, _text(payload)))

    @staticmethod
    def state_statement(station: str, key: str, value: Any) -> Statement:
        """Keep ``value`` (JSON) under ``key``; None forgets it."""
        if value is None:
            return "DELETE FROM state WHERE station = ? AND key = ?", (station, key)
        return ("INSERT OR REPLACE INTO state (station, key, value) VALUES (?, ?, ?)",
                (station, key, _text(value)))

    # -- writes ----------------------------------------------------------------------------------
    async def write(self, statements: list[Statement]) -> int | None:
        """Run ``statements`` in one transaction, committed with whatever else is waiting; return
        the first value a statement returned (the seq of a push), once it is on disk."""
        if self._closed:
            raise QueueClosed(str(self.path))
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._writes.append(_Write(statements, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await future

    async def push(self, station: str, action: str, payload: dict[str, Any],
                   also: list[Statement] = ()) -> int:  # type: ignore[assignment]
        seq = await self.write([self.push_statement(station, action, payload), *also])
        assert seq is not None
        return seq

    async def update(self, seq: int, payload: dict[str, Any]) -> None:
        await self.write([("UPDATE queue SET payload = ? WHERE seq = ?", (_text(payload), seq))])

    async def remove(self, seq: int, also: list[Statement] = ()) -> None:  # type: ignore[assignment]
        await self.write([("DELETE FROM queue WHERE seq = ?", (seq,)), *also])

    async def keep(self, station: str, key: str, value: Any) -> None:
        await self.write([self.state_statement(station, key, value)])

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the writes queued in this turn of the loop share the commit
        while self._writes:
            if self._checkpointing is not None and not self._checkpointing.done():
                # Writes wait (the loop does not): a checkpoint with writes appended meanwhile
                # never completes, and the log only starts over after a complete one.
                await asyncio.wait([self._checkpointing])
            batch, self._writes = self._writes, []
            try:
                results = self._commit(batch)
            except Exception as exc:  # closed, or locked by another process: nothing was written
                for write in batch:
                    if not write.future.done():
                        write.future.set_exception(exc)
                continue
            for write, result in zip(batch, results, strict=True):
                if write.future.done():
                    continue
                if isinstance(result, Exception):
                    write.future.set_exception(result)
                else:
                    write.future.set_result(result)
            self._maybe_checkpoint()

    def _maybe_checkpoint(self) -> None:
        """Every CHECKPOINT_COMMITS commits, copy the log into the database on a thread (that
        waits for the disk); the next write starts the log over."""
        if self.commits - self._checkpointed_at < CHECKPOINT_COMMITS:
            return
        self._checkpointed_at = self.commits
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
        self._checkpointing.add_done_callback(self._checkpointed)

    def _checkpointed(self, future: asyncio.Future[None]) -> None:
        """A checkpoint that failed or did not copy the whole log is logged and tried again
        after a tenth of the interval: with automatic checkpoints off, nothing else would
        bound the log."""
        error = None if future.cancelled() else future.exception()
        if error is not None or future.cancelled():
            if not self._closed:
                _failed.log(log, logging.WARNING, "checkpoint of %s failed (tried again soon): %r",
                            self.path, error)
                self._checkpointed_at = self.commits - CHECKPOINT_COMMITS + CHECKPOINT_COMMITS // 10

    def _checkpoint(self) -> None:
        with self._checkpoint_lock:
            if self._closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, check_same_thread=False,
                                                     isolation_level=None)
            busy, frames, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or copied < frames:
                raise sqlite3.OperationalError(f"checkpoint incomplete: {copied} of {frames} frames copied")
            self.checkpoints += 1

    def _commit(self, batch: list[_Write]) -> list[int | None | Exception]:
        """One transaction for the batch. Writes almost never fail, so the batch runs straight
        through first; only when one fails is it rolled back and run again with each write in a
        savepoint, so the failing one is reported to its caller and rolled back alone (two
        statements fewer per write on the usual path: a third of the thread's work)."""
        with self._lock:
            if self._closed:
                raise QueueClosed(str(self.path))
            try:
                results = self._run(batch, savepoints=False)
            except _WriteFailed:  # not BEGIN or COMMIT (a lock held elsewhere): that fails them all
                results = self._run(batch, savepoints=True)
            self.commits += 1
        return results

    def _run(self, batch: list[_Write], savepoints: bool) -> list[int | None | Exception]:
        db = self._db
        results: list[int | None | Exception] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                if savepoints:
                    db.execute("SAVEPOINT w")
                try:
                    results.append(self._statements(db, write.statements))
                except sqlite3.Error as exc:
                    if not savepoints:
                        raise _WriteFailed from exc
                    db.execute("ROLLBACK TO w")
                    results.append(exc)
                if savepoints:
                    db.execute("RELEASE w")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results

    @staticmethod
    def _statements(db: sqlite3.Connection, statements: list[Statement]) -> int | None:
        first: int | None = None
        for sql, args in statements:
            row = db.execute(sql, args).fetchone()
            if first is None and row is not None:
                first = int(row[0])
        return first

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
