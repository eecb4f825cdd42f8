"""Automatic transaction generator: simulated drivers plugging in, charging and leaving."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charger_sim.transactions import StationTransactions


@dataclass
class AtgSettings:
    """Seconds are (min, max) ranges drawn uniformly from the station's seeded RNG."""

    idle: tuple[float, float] = (5, 60)
    plug_delay: tuple[float, float] = (1, 5)
    duration: tuple[float, float] = (60, 600)
    probability: float = 0.8
    id_tags: list[str] = field(default_factory=lambda: ["SIM-TAG-1", "SIM-TAG-2", "SIM-TAG-3"])


class Generator:
    """One driver loop per connector; :meth:`enable`/:meth:`disable` switch it at runtime."""

    def __init__(self, station: StationTransactions, settings: AtgSettings | None = None) -> None:
        self.station = station
        self.settings = settings or AtgSettings()
        self._tasks: list[asyncio.Task[None]] = []
        self._starting: set[asyncio.Task[Any] | None] = set()  # drivers presenting their tag now
        self._leaving = False

    @property
    def enabled(self) -> bool:
        return bool(self._tasks)

    def enable(self) -> None:
        self._leaving = False
        if not self._tasks:
            self._tasks = [self.station.spawn(self._driver(cid)) for cid in self.station.connectors]

    def disable(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def leave(self, timeout: float = 10.0) -> None:
        """The drivers leave for good (the end of a run): none starts a session from now on,
        but one presenting its tag right now finishes that first (``timeout`` at most), so the
        CSMS's verdict on it is counted and a session it started is running, for the station's
        shutdown to end. Cut off midway (:meth:`disable`), its answer would be lost to the
        counts, or its session could start after the shutdown had ended the others."""
        self._leaving = True
        tasks, self._tasks = self._tasks, []
        busy = [task for task in tasks if task in self._starting]
        for task in tasks:
            if task not in busy:
                task.cancel()
        if busy:
            await asyncio.wait(busy, timeout=timeout)
        for task in busy:
            task.cancel()

    def _draw(self, bounds: tuple[float, float]) -> float:
        return self.station.rng.uniform(*bounds)

    async def _driver(self, connector_id: int) -> None:
        st, s = self.station, self.settings
        while True:
            await asyncio.sleep(self._draw(s.idle))
            if st.rng.random() >= s.probability or not st.booted.is_set():
                continue
            c = st.connectors[connector_id]
            if c.tx is not None or c.status not in ("Available", "Preparing"):
                continue
            await st.plug(connector_id)
            await asyncio.sleep(self._draw(s.plug_delay))
            tag = st.rng.choice(s.id_tags)
            me = asyncio.current_task()
            self._starting.add(me)
            try:
                status = await st.start_local(connector_id, tag)
            finally:
                self._starting.discard(me)
            if self._leaving:
                return
            if status == "Accepted":
                await asyncio.sleep(self._draw(s.duration))
            # refused (at the Authorize or in the StartTransaction's answer): the driver gives up
            # at once rather than sitting out a session that delivers nothing
            await st.stop_local(connector_id, tag)
            await asyncio.sleep(self._draw(s.plug_delay))
            await st.unplug(connector_id)
