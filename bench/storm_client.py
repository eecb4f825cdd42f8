"""Reconnect-storm client: charge points that connect, boot, report their connectors and hold,
and come back by themselves whenever the socket drops, as stations do (jittered backoff, a refused
or failed handshake retried). bench/reconnect_storm.py runs two of these.

Lean like bench/loadgen.py (raw frames, no compression, no pings). Every ``--report`` seconds a
JSON line on stdout: how many are online, how many booted at least once and at least twice (back
after a restart), connects refused (nothing listening), handshakes that failed after reaching the
server (both retried), boots refused.

    python bench/storm_client.py --port 9000 --charge-points 5000 [--first 0] [--prefix STORM]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from dataclasses import dataclass

import orjson
from loadgen import CALL, CALL_ERROR, CALL_RESULT, Frames
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from common.limits import raise_open_files_limit

CONNECTORS = (0, 1, 2)  # the StatusNotifications a station sends after its boot


@dataclass
class Counts:
    online: int = 0
    booted_once: int = 0
    booted_twice: int = 0
    handshake_failures: int = 0  # reached the server, then the handshake or the boot failed
    connects_refused: int = 0  # nothing listening (the server is down): tried again
    boots_refused: int = 0


async def call(ws: ClientConnection, frame: bytes, message_id: str) -> list[object]:
    """Send one Call, return its answer (Calls from the central system meanwhile: NotImplemented)."""
    await ws.send(frame, text=True)
    while True:
        message = orjson.loads(await ws.recv(decode=False))
        if message[0] == CALL:
            await ws.send(orjson.dumps([CALL_ERROR, message[1], "NotImplemented", "", {}]), text=True)
        elif message[1] == message_id:
            return list(message)


async def station(url: str, frames: Frames, counts: Counts, gate: asyncio.Semaphore, backoff: float) -> None:
    boots = 0
    while True:
        try:
            async with gate:
                ws = await connect(url, subprotocols=["ocpp1.6"], compression=None, max_queue=4,  # type: ignore[list-item]
                                   ping_interval=None, open_timeout=15, close_timeout=1)
                message_id = frames.next_id()
                answer = await asyncio.wait_for(call(ws, frames.boot(message_id), message_id), 30)
                if answer[0] != CALL_RESULT or answer[2].get("status") != "Accepted":  # type: ignore[union-attr]
                    counts.boots_refused += 1
                    await ws.close()
                    raise ConnectionError("boot not accepted")
                for connector in CONNECTORS:
                    message_id = frames.next_id()
                    payload = {"connectorId": connector, "errorCode": "NoError", "status": "Available"}
                    await asyncio.wait_for(call(ws, orjson.dumps([CALL, message_id, "StatusNotification", payload]),
                                                message_id), 30)
            boots += 1
            counts.booted_once += boots == 1
            counts.booted_twice += boots == 2
            counts.online += 1
            try:
                async for message in ws:  # hold: answer whatever the central system asks
                    frame = orjson.loads(message)
                    if frame[0] == CALL:
                        await ws.send(orjson.dumps([CALL_ERROR, frame[1], "NotImplemented", "", {}]), text=True)
            except WebSocketException:
                pass  # the socket died (the server was killed): not a failed handshake
            finally:
                counts.online -= 1
        except ConnectionRefusedError:
            counts.connects_refused += 1
        except (OSError, TimeoutError, WebSocketException, ConnectionError, ValueError):
            counts.handshake_failures += 1
        await asyncio.sleep(backoff * random.uniform(0.5, 1.5))


async def run(args: argparse.Namespace) -> None:
    raise_open_files_limit()
    counts, frames = Counts(), Frames()
    gate = asyncio.Semaphore(args.connect_concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    base = f"ws://{args.host}:{args.port}/ocpp/{args.prefix}"
    tasks = [asyncio.create_task(station(f"{base}{n:05d}", frames, counts, gate, args.backoff))
             for n in range(args.first, args.first + args.charge_points)]
    while not stop.is_set():
        print(json.dumps({"t": time.time(), **counts.__dict__}), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.report)
        except TimeoutError:
            pass
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="STORM")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--charge-points", type=int, default=5000)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--backoff", type=float, default=1.0, help="mean seconds before a retry")
    parser.add_argument("--report", type=float, default=0.5, help="seconds between two reports")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
