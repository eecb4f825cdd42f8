"""The fleet benchmark's floor: a central system that answers every 1.6 call at once, from a table.

No validation, no store, no log: each CALL gets its canned CALLRESULT (an accepted boot, a fresh
transaction id, an accepted id tag, ``{}``). Run by ``bench/sim_fleet.py --instant`` in place of
``chargebay serve``, it shows what the simulator alone makes of a fleet on this machine: answer
times the stations measure against it are the simulator's own share (its event loops, its lock
per station), which no central system can take away.

    python bench/instant_csms.py --host 127.0.0.1 --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection

_ids = itertools.count(1)
ACCEPTED = {"status": "Accepted"}


def answer(action: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now, "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": now}
    if action in ("Authorize", "StopTransaction"):
        return {"idTagInfo": ACCEPTED}
    if action == "StartTransaction":
        return {"transactionId": next(_ids), "idTagInfo": ACCEPTED}
    return {}


async def serve_one(connection: ServerConnection) -> None:
    async for raw in connection:
        frame = json.loads(raw)
        if type(frame) is list and len(frame) == 4 and frame[0] == 2:
            await connection.send(json.dumps([3, frame[1], answer(frame[2])]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    async with websockets.serve(serve_one, args.host, args.port, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                ping_interval=None, max_queue=None, backlog=4096):
        print(f"instant central system on ws://{args.host}:{args.port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
