"""The bridge's own memory, so a restart picks up where it was: which bay holds which transaction
(to reconcile with the boards) and which bays are out of service.

The outbox keeps the *messages*; this keeps, per bay, the open transaction (id, id tag, meter
start), written when a transaction starts, is numbered by the CSMS, or ends, and its availability
(ChangeAvailability from the CSMS, maintenance from the locker operator), which OCPP 1.6 wants kept
across a reboot. It lives in the outbox's SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

from locker_bridge.bay import Tx


class BridgeStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS bay_tx (identity TEXT PRIMARY KEY, tx TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS bay_availability (identity TEXT PRIMARY KEY, "
                         "operative INTEGER NOT NULL, maintenance INTEGER NOT NULL)")

    def load(self) -> dict[str, Tx]:
        """Read once at start (before the event loop is busy)."""
        with self._lock:
            rows = self._db.execute("SELECT identity, tx FROM bay_tx").fetchall()
        return {identity: Tx(**json.loads(tx)) for identity, tx in rows}

    def load_availability(self) -> dict[str, tuple[bool, bool]]:
        """identity -> (operative, maintenance), read once at start like :meth:`load`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT identity, operative, maintenance FROM bay_availability").fetchall()
        return {identity: (bool(operative), bool(maintenance)) for identity, operative, maintenance in rows}

    def _write(self, sql: str, args: tuple[str | int, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    async def save(self, identity: str, tx: Tx) -> None:
        await asyncio.to_thread(self._write, "INSERT OR REPLACE INTO bay_tx (identity, tx) VALUES (?, ?)",
                                (identity, json.dumps(tx.to_json())))

    async def forget(self, identity: str) -> None:
        await asyncio.to_thread(self._write, "DELETE FROM bay_tx WHERE identity = ?", (identity,))

    async def save_availability(self, identity: str, operative: bool, maintenance: bool) -> None:
        await asyncio.to_thread(self._write, "INSERT OR REPLACE INTO bay_availability "
                                "(identity, operative, maintenance) VALUES (?, ?, ?)",
                                (identity, int(operative), int(maintenance)))

    def close(self) -> None:
        with self._lock:
            self._db.close()
