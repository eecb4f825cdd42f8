"""Memory of websocket compression: RSS per booted 2.0.1 connection with permessage-deflate
against the same connections without it, each against a fresh ``chargebay serve`` in one run.

OCPP 2.0.1 requires a central system to accept RFC 7692 compression; each compressed connection
holds a zlib inflater and deflater (our windows: 1 KiB each way, memLevel 2). This measures what
that costs per connection, the uncompressed connection being the reference.

    python bench/compression_rss.py [--connections 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import websockets
from csms_load import BENCH, HOST, Bench, log, publish

RESULTS = BENCH / "results" / "compression_rss.json"
BOOT = {"chargingStation": {"model": "Bench-201", "vendorName": "chargebay"}, "reason": "PowerUp"}


async def hold(port: int, count: int, compression: str | None) -> tuple[list[Any], int]:
    """``count`` 2.0.1 connections, each booted (a frame each way: zlib allocates on first use)."""
    held: list[Any] = []
    failed = 0
    for n in range(count):
        try:
            ws = await websockets.connect(f"ws://{HOST}:{port}/ocpp/RSS{n:05d}", subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                                          compression=compression, open_timeout=30)
            await ws.send(json.dumps([2, "b", "BootNotification", BOOT]))
            answer = json.loads(await ws.recv())
            failed += answer[0] != 3
            held.append(ws)
        except (OSError, websockets.WebSocketException, TimeoutError):
            failed += 1
    return held, failed


async def phase(bench: Bench, count: int, compression: str | None) -> dict[str, Any]:
    server = bench.start_server("chargebay", env={"CHARGEBAY_UNKNOWN_CHARGE_POINTS": "accept"})
    try:
        await asyncio.sleep(1.0)
        before = server.rss()
        started = time.monotonic()
        held, failed = await hold(server.ws_port, count, compression)
        await asyncio.sleep(2.0)  # the writer settles
        after = server.rss()
        negotiated = sum(1 for ws in held if ws.protocol.extensions)
        result = {"connections": len(held), "failed": failed, "compressed": negotiated,
                  "connect_s": round(time.monotonic() - started, 1),
                  "rss_before_mb": round(before / 2**20, 1), "rss_after_mb": round(after / 2**20, 1),
                  "rss_per_connection_kb": round((after - before) / max(len(held), 1) / 1024, 1)}
        await asyncio.wait([asyncio.create_task(ws.close()) for ws in held] or [asyncio.sleep(0)], timeout=10)
        return result
    finally:
        bench.stop(server.process)


def render(results: dict[str, Any]) -> list[str]:
    lines = ["", f"{results['connections']} booted OCPP 2.0.1 connections held open, server on CPUs "
                 f"{results['server_cpus']}",
             f"{'':<22}{'connected':>10}{'compressed':>11}{'RSS before MB':>15}{'RSS after MB':>14}{'KB/conn':>9}"]
    for label, r in results["phases"].items():
        lines.append(f"{label:<22}{r['connections']:>10}{r['compressed']:>11}{r['rss_before_mb']:>15}"
                     f"{r['rss_after_mb']:>14}{r['rss_per_connection_kb']:>9}")
    lines.append(f"compression costs {results['extra_kb_per_connection']} KB per connection "
                 f"({results['ratio']} x the uncompressed connection's RSS)")
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)  # csms_load's Bench reads it
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    phases: dict[str, Any] = {}
    try:
        for label, compression in (("uncompressed", None), ("permessage-deflate", "deflate")):
            log(f"bench: {args.connections} connections, {label}")
            phases[label] = asyncio.run(phase(bench, args.connections, compression))
    finally:
        bench.stop_all()
    plain, packed = phases["uncompressed"], phases["permessage-deflate"]
    results = {"connections": args.connections, "server_cpus": sorted(bench.cpus.server), "phases": phases,
               "extra_kb_per_connection": round(packed["rss_per_connection_kb"] - plain["rss_per_connection_kb"], 1),
               "ratio": round(packed["rss_per_connection_kb"] / plain["rss_per_connection_kb"], 2)
               if plain["rss_per_connection_kb"] else None}
    return publish(results, args.output, render)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("bench: interrupted; every server stopped")
        sys.exit(130)
