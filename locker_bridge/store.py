"""The bridge's own memory of open transactions, so a restart can reconcile them with the boards.

The outbox keeps the *messages*; this keeps which bay holds which transaction (id, id tag, meter
start). It lives in the outbox's SQLite file, one row per bay with a transaction, written only when
a transaction starts, is numbered by the CSMS, or ends.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

from locker_bridge.bay import Tx


class TxStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS bay_tx (identity TEXT PRIMARY KEY, tx TEXT NOT NULL)")

    def load(self) -> dict[str, Tx]:
        """Read once at start (before the event loop is busy)."""
        with self._lock:
            rows = self._db.execute("SELECT identity, tx FROM bay_tx").fetchall()
        return {identity: Tx(**json.loads(tx)) for identity, tx in rows}

    def _write(self, sql: str, args: tuple[str, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    async def save(self, identity: str, tx: Tx) -> None:
        await asyncio.to_thread(self._write, "INSERT OR REPLACE INTO bay_tx (identity, tx) VALUES (?, ?)",
                                (identity, json.dumps(tx.to_json())))

    async def forget(self, identity: str) -> None:
        await asyncio.to_thread(self._write, "DELETE FROM bay_tx WHERE identity = ?", (identity,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
