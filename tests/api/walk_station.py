"""A charge point for the OpenAPI walk that answers every CSMS-initiated action in either
version one way: a schema-valid result (the smallest the ``ocpp`` library's response schema
allows), a CALLERROR, or nothing at all — so each command route can be made to answer 200, 502
or 504 without a handler per action."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import websockets

Mode = Literal["answer", "error", "silent"]
BOOT = {"1.6": {"chargePointVendor": "walk", "chargePointModel": "walk"},
        "2.0.1": {"reason": "PowerUp", "chargingStation": {"model": "walk", "vendorName": "walk"}}}


@cache
def response_schema(version: str, action: str) -> dict[str, Any]:
    folder = files("ocpp") / ("v16" if version == "1.6" else "v201") / "schemas"
    return json.loads((folder / f"{action}Response.json").read_text())  # type: ignore[no-any-return]


def smallest(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The smallest instance of ``schema``: required properties only, first enum values."""
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return smallest(node, root)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: smallest(schema["properties"][name], root) for name in schema.get("required", [])}
    if kind == "array":
        return [smallest(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))]
    if kind == "integer" or kind == "number":
        return max(0, schema.get("minimum", 0))
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return "x"


class WalkStation:
    """Connected as ``cp_id``; answers the way ``mode`` says (changeable while connected)."""

    def __init__(self, ws: Any, version: str, mode: Mode) -> None:
        self.ws, self.version, self.mode = ws, version, mode
        self._waiting: dict[str, asyncio.Future[Any]] = {}

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        """A CALL of ours; the central system's result (a CALLERROR raises)."""
        message_id = f"walk-{len(self._waiting)}"
        answer = self._waiting[message_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps([2, message_id, action, payload]))
        return await asyncio.wait_for(answer, 10)

    async def serve(self) -> None:
        async for text in self.ws:
            frame = json.loads(text)
            if frame[0] != 2:
                waiting = self._waiting.get(frame[1])
                if waiting is not None and not waiting.done():
                    if frame[0] == 3:
                        waiting.set_result(frame[2])
                    else:
                        waiting.set_exception(RuntimeError(f"CALLERROR {frame[2:]}"))
                continue
            _, message_id, action, _payload = frame
            if self.mode == "answer":
                schema = response_schema(self.version, action)
                await self.ws.send(json.dumps([3, message_id, smallest(schema, schema)]))
            elif self.mode == "error":
                await self.ws.send(json.dumps([4, message_id, "InternalError", "the walk says no", {}]))


@contextlib.asynccontextmanager
async def walk_station(ws_url: str, cp_id: str, version: str, mode: Mode,
                       password: str | None = None) -> AsyncIterator[WalkStation]:
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    headers = {"Authorization": "Basic " + base64.b64encode(f"{cp_id}:{password}".encode()).decode()} \
        if password else {}
    async with websockets.connect(f"{ws_url}/{cp_id}", subprotocols=[subprotocol],  # type: ignore[list-item]
                                  additional_headers=headers) as ws:
        station = WalkStation(ws, version, mode)
        task = asyncio.create_task(station.serve())
        try:
            await station.call("BootNotification", BOOT[version])
            yield station
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task
