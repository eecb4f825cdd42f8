"""Transaction messages of a charge point, kept on disk while the CSMS is unreachable.

OCPP 1.6 (section 3.16) asks a charge point to deliver StartTransaction, StopTransaction and
transaction MeterValues reliably and in order. The simulator's stations and the locker bridge's
virtual charge points share this: :class:`DurableQueue` (one SQLite file for many charge points;
writes are rare and run in a thread so the event loop never waits on the disk) and
:class:`Outbox` (send now or queue, replay in order, provisional transaction ids renumbered).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from ocpp.exceptions import OCPPError


class QueueClosed(Exception):
    """The queue was closed (its process is shutting down)."""


class DurableQueue:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                         " station TEXT NOT NULL, action TEXT NOT NULL, payload TEXT NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS ix_queue_station ON queue (station, seq)")

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._closed:  # a station still finishing after its process began to stop
                raise QueueClosed(str(self.path))
            return self._db.execute(sql, args).fetchall()

    async def push(self, station: str, action: str, payload: dict[str, Any]) -> int:
        rows = await asyncio.to_thread(
            self._run, "INSERT INTO queue (station, action, payload) VALUES (?, ?, ?) RETURNING seq",
            (station, action, json.dumps(payload)))
        return int(rows[0][0])

    async def pending(self, station: str) -> list[tuple[int, str, dict[str, Any]]]:
        rows = await asyncio.to_thread(
            self._run, "SELECT seq, action, payload FROM queue WHERE station = ? ORDER BY seq",
            (station,))
        return [(seq, action, json.loads(payload)) for seq, action, payload in rows]

    async def update(self, seq: int, payload: dict[str, Any]) -> None:
        await asyncio.to_thread(self._run, "UPDATE queue SET payload = ? WHERE seq = ?",
                                (json.dumps(payload), seq))

    async def remove(self, seq: int) -> None:
        await asyncio.to_thread(self._run, "DELETE FROM queue WHERE seq = ?", (seq,))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()


Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Outbox:
    """One charge point's transaction messages, delivered in order exactly as queued.

    ``call(action, payload)`` sends a call and returns the answer; it raises one of ``transient``
    when the message did not get through (offline, timeout): the message stays queued. A CALLERROR
    is an answer and is not resent. A StartTransaction queued offline carries a negative
    provisional ``transactionId`` (key ``_provisional``) that later messages use; when the CSMS
    numbers it, ``on_renumber(provisional, real)`` lets the owner update its own state.
    Keys starting with ``_`` are bookkeeping and never sent.
    """

    def __init__(self, identity: str, queue: DurableQueue | None, call: Call,
                 transient: tuple[type[BaseException], ...], online: Callable[[], bool], *,
                 on_renumber: Callable[[int, int], None] | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None,
                 spawn: Callable[[Coroutine[Any, Any, None]], Any] = asyncio.ensure_future,
                 retry_interval: Callable[[], float] = lambda: 10.0, rate: float = 20.0) -> None:
        self.identity = identity
        self.queue = queue
        self.call = call
        self.transient = transient
        self.on_renumber = on_renumber
        self.on_event = on_event or (lambda kind, data: None)
        self.spawn = spawn  # the owner's task set, so a stop cancels a replay in progress
        self.retry_interval = retry_interval
        self.rate = rate
        self.online = online  # true while the CSMS has accepted the owner's boot
        self.stats = {"queued": 0, "replayed": 0}
        self.pending: list[tuple[int, str, dict[str, Any]]] = []  # (seq, action, payload)
        self._provisional = itertools.count(-1, -1)
        self._renumbered: dict[int, int] = {}  # provisional -> real, for messages built meanwhile
        self._replaying = False

    async def load(self) -> None:
        """Pick up what an earlier run left queued; provisional ids continue below its own."""
        if self.queue is None:
            return
        self.pending = await self.queue.pending(self.identity)
        lowest = min([0] + [p.get("_provisional", 0) for _, _, p in self.pending]
                     + [p.get("transactionId", 0) for _, _, p in self.pending])
        self._provisional = itertools.count(lowest - 1, -1)

    def provisional_id(self) -> int:
        return next(self._provisional)

    def __len__(self) -> int:
        return len(self.pending)

    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send now when online and nothing is queued before it; else queue it durably.

        Returns the answer when it went out now, None when it was queued. Raises OCPPError
        for a CALLERROR answer.
        """
        self._resolve(payload)
        if self.online() and not self.pending and not self._replaying:
            try:
                return await self.call(action, wire(payload))
            except self.transient:
                pass
        await self._enqueue(action, payload)
        if self.online():  # online but the CSMS did not answer: retry from the queue
            self.spawn(self.replay())
        return None

    async def _enqueue(self, action: str, payload: dict[str, Any]) -> None:
        seq = await self.queue.push(self.identity, action, payload) if self.queue else 0
        if self._resolve(payload) and self.queue is not None:  # renumbered during the push
            await self.queue.update(seq, payload)
        self.pending.append((seq, action, payload))
        self.stats["queued"] += 1
        self.on_event("queued", {"action": action})

    async def replay(self) -> None:
        """Send the queued messages in order, throttled, while online; fix provisional ids."""
        if self._replaying or not self.pending:
            return
        self._replaying = True
        try:
            while self.pending and self.online():
                seq, action, payload = self.pending[0]
                self._resolve(payload)
                try:
                    result: dict[str, Any] | None = await self.call(action, wire(payload))
                except self.transient:
                    await asyncio.sleep(self.retry_interval())
                    continue
                except OCPPError as exc:
                    self.on_event("replay_rejected", {"action": action, "error": str(exc)[:200]})
                    result = None
                if action == "StartTransaction" and result is not None:
                    provisional = payload.get("_provisional")
                    if provisional is not None:
                        await self.renumber(provisional, result["transactionId"])
                self.pending.pop(0)
                if self.queue is not None:
                    await self.queue.remove(seq)
                self.stats["replayed"] += 1
                await asyncio.sleep(1.0 / self.rate)
        finally:
            self._replaying = False

    def _resolve(self, payload: dict[str, Any]) -> bool:
        """Put the real id in place of a provisional one the CSMS has numbered already (a
        message can be built, or be on its way to the queue, while the number arrives)."""
        real = self._renumbered.get(payload.get("transactionId"))  # type: ignore[arg-type]
        if real is None:
            return False
        payload["transactionId"] = real
        return True

    async def renumber(self, provisional: int, real: int) -> None:
        """The CSMS numbered a transaction: use its id in the queued messages, on disk too."""
        self._renumbered[provisional] = real
        if self.on_renumber is not None:
            self.on_renumber(provisional, real)
        for seq, _, queued in self.pending:
            if queued.get("transactionId") == provisional:
                queued["transactionId"] = real
                if self.queue is not None:
                    await self.queue.update(seq, queued)


def wire(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as sent: without the owner's bookkeeping keys (``_provisional``)."""
    return {k: v for k, v in payload.items() if not k.startswith("_")}
