"""Server-Sent Events: connects, disconnects, status changes, transactions, command results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.auth import require
from api.deps import Central
from api.errors import declare
from api.gate import GuardedRoute

router = APIRouter(tags=["events"], route_class=GuardedRoute)
KEEPALIVE_S = 15.0
MAX_CHARGE_POINTS = 100  # ids in one subscription: a query string of at most ~6.5 KB (48-character ids)


@router.get("/api/v1/events", summary="Live event stream (text/event-stream)",
            dependencies=[Depends(require("operator", "integrator", "viewer"))],
            response_class=StreamingResponse,
            responses={200: {"description": "`event: <type>` and `data: <JSON>` per event; a comment "
                                            "line every 15 s keeps the connection open",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                       **declare({})})
async def events(cs: Central,
                 charge_point_id: Annotated[list[str] | None, Query(max_length=MAX_CHARGE_POINTS, description=(
                     "Only this charge point's events; repeated, only theirs (a dashboard page's rows: "
                     "the rest of a large fleet's events never reach it)."))] = None,
                 types: Annotated[str | None, Query(description="Comma-separated event types to keep.")] = None,
                 ) -> StreamingResponse:
    wanted = frozenset(types.split(",")) if types else None

    async def stream() -> AsyncIterator[bytes]:
        async with cs.events.subscribe(wanted, frozenset(charge_point_id) if charge_point_id else None) as queue:
            yield b": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is None:  # shutting down
                    return
                yield b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
