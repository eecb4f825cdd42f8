"""The bridge's own memory, so a restart picks up where it was: which bay holds which transaction
(to reconcile with the boards) and which bays are out of service.

It lives in the bridge's :class:`~common.durable.DurableQueue` (the ``state`` table, beside the
queued transaction messages), so a transaction's state and its StartTransaction or
StopTransaction are written together: a bridge killed at any moment never has a transaction on
disk without its message, nor the other way round. Per bay: ``tx`` (id, id tag, meter start, the
last register known for it and the offset a board reset added) and ``availability``
(ChangeAvailability from the CSMS, maintenance from the locker operator), which OCPP 1.6 wants
kept across a reboot; ``starting`` while a start is between START_CHARGING and its
StartTransaction on disk, so that an outlet a killed bridge left on is switched off at restart.
"""

from __future__ import annotations

import json
from typing import Any

from common.durable import DurableQueue, Statement
from locker_bridge.bay import Tx

TX, AVAILABILITY, STARTING, PROFILES = "tx", "availability", "starting", "profiles"


class BridgeStore:
    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        self._adopt_old_tables()

    def _adopt_old_tables(self) -> None:
        """State files of bridges before the shared state table kept it in two tables of their
        own: move it over once (in one transaction), so an upgrade forgets nothing."""
        tables = {name for (name,) in self.queue.read_sync(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "bay_tx" not in tables:
            return
        self.queue.read_sync(
            "INSERT OR IGNORE INTO state (station, key, value) SELECT identity, ?, tx FROM bay_tx",
            (TX,))
        if "bay_availability" in tables:
            self.queue.read_sync(
                "INSERT OR IGNORE INTO state (station, key, value) SELECT identity, ?, "
                "json_object('operative', json(CASE operative WHEN 1 THEN 'true' ELSE 'false' END),"
                " 'maintenance', json(CASE maintenance WHEN 1 THEN 'true' ELSE 'false' END)) "
                "FROM bay_availability", (AVAILABILITY,))
            self.queue.read_sync("DROP TABLE bay_availability")
        self.queue.read_sync("DROP TABLE bay_tx")

    def _all(self, key: str) -> dict[str, str]:
        return dict(self.queue.read_sync("SELECT station, value FROM state WHERE key = ?", (key,)))

    def load(self) -> dict[str, Tx]:
        """Read once at start (before the event loop is busy)."""
        return {identity: Tx.from_json(json.loads(value)) for identity, value in self._all(TX).items()}

    def load_availability(self) -> dict[str, tuple[bool, bool]]:
        """identity -> (operative, maintenance), read once at start like :meth:`load`."""
        found = {identity: json.loads(value) for identity, value in self._all(AVAILABILITY).items()}
        return {identity: (bool(v["operative"]), bool(v["maintenance"])) for identity, v in found.items()}

    @staticmethod
    def tx_statement(identity: str, tx: Tx | None) -> Statement:
        """Keep (or, None, forget) a bay's transaction: to write with its message."""
        return DurableQueue.state_statement(identity, TX, None if tx is None else tx.to_json())

    async def save(self, identity: str, tx: Tx) -> None:
        await self.queue.write([self.tx_statement(identity, tx)])

    async def forget(self, identity: str) -> None:
        await self.queue.write([self.tx_statement(identity, None)])

    @staticmethod
    def starting_statement(identity: str, on: bool) -> Statement:
        """The marker of a start under way: set before START_CHARGING, gone in the same write as
        the StartTransaction (or once the start has failed and the outlet is off again)."""
        return DurableQueue.state_statement(identity, STARTING, True if on else None)

    async def starting(self, identity: str, on: bool) -> None:
        await self.queue.write([self.starting_statement(identity, on)])

    def load_starting(self) -> set[str]:
        """The bays whose start was under way when the bridge stopped (read once at start)."""
        return set(self._all(STARTING))

    async def save_availability(self, identity: str, operative: bool, maintenance: bool) -> None:
        await self.queue.keep(identity, AVAILABILITY,
                              {"operative": operative, "maintenance": maintenance})

    def load_profiles(self) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        """identity -> the charging profiles it holds (read once at start, like :meth:`load`)."""
        return {identity: [(int(c), p) for c, p in json.loads(value)]
                for identity, value in self._all(PROFILES).items()}

    async def save_profiles(self, identity: str, installed: list[tuple[int, dict[str, Any]]]) -> None:
        await self.queue.keep(identity, PROFILES, [[c, p] for c, p in installed] or None)
