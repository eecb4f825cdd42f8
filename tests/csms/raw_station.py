"""A charge point as bare OCPP-J frames over a real websocket, for tests that should depend on no
client library: it sends exactly the JSON a station's firmware would, and answers every call of
the central system Accepted (a load group's charging profiles, say) so none of them waits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
BOOTS: dict[str, dict[str, Any]] = {
    "1.6": {"chargePointVendor": "Raw", "chargePointModel": "Frames"},
    "2.0.1": {"reason": "PowerUp", "chargingStation": {"vendorName": "Raw", "model": "Frames"}},
}


def at(seconds: float = 0.0, since: datetime | None = None) -> str:
    """An OCPP timestamp ``seconds`` after ``since`` (default: now)."""
    moment = (since or datetime.now(UTC)) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RawStation:
    """One connection: :meth:`call` sends a CALL and returns its CALLRESULT's payload."""

    def __init__(self, ws: websockets.ClientConnection, cp_id: str, version: str) -> None:
        self.ws = ws
        self.cp_id = cp_id
        self.version = version
        self._ids = itertools.count()
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        uid = f"raw-{next(self._ids)}"
        answer = self._waiting[uid] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps([2, uid, action, payload]))
        result: dict[str, Any] = await asyncio.wait_for(answer, timeout)
        return result

    async def boot(self) -> None:
        assert (await self.call("BootNotification", BOOTS[self.version]))["status"] == "Accepted"

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame[0] == 2:  # the central system's call: taken
                await self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                continue
            waiting = self._waiting.pop(frame[1], None)
            if waiting is None:
                continue
            if frame[0] == 3:
                waiting.set_result(frame[2])
            else:
                waiting.set_exception(AssertionError(f"CALLERROR {frame[2:]}"))


@contextlib.asynccontextmanager
async def raw_station(ws_url: str, cp_id: str, version: str = "1.6") -> AsyncIterator[RawStation]:
    """Connected and booted; disconnected on leaving."""
    async with websockets.connect(f"{ws_url}/{cp_id}", subprotocols=[SUBPROTOCOLS[version]]) as ws:  # type: ignore[list-item]
        station = RawStation(ws, cp_id, version)
        try:
            await station.boot()
            yield station
        finally:
            station._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await station._reader
