"""Transaction messages kept on disk while a station is offline, replayed in order later.

One SQLite file serves every station of a process; writes are rare (only while offline) and run
in a thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any


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
