"""Test charge points written with the `ocpp` library, as a real charge point vendor would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call

ocpp_call = call


class TestChargePoint(ChargePoint):
    """Answers CSMS-initiated calls with canned replies set per action in ``replies``."""

    __test__ = False

    def __init__(self, cp_id: str, ws: Any) -> None:
        super().__init__(cp_id, ws, response_timeout=10)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("RemoteStartTransaction")
    def on_remote_start(self, **kwargs: Any) -> Any:
        self.received.append(("RemoteStartTransaction", kwargs))
        from ocpp.v16 import call_result
        return call_result.RemoteStartTransaction(status="Accepted")


@contextlib.asynccontextmanager
async def connect(url: str, cp_id: str, cls: type[Any] = TestChargePoint,
                  subprotocols: tuple[str, ...] = ("ocpp1.6",), **kwargs: Any) -> AsyncIterator[Any]:
    """Connect a charge point (``cls``: the ``ocpp`` library's, 1.6 or 2.0.1) to ``url``/``cp_id``
    and run its read loop in the background."""
    async with websockets.connect(f"{url}/{cp_id}", subprotocols=list(subprotocols),  # type: ignore[arg-type]
                                  **kwargs) as ws:
        cp = cls(cp_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
