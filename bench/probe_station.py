"""One lightly loaded 1.6 station that times the central system's answers, beside a fleet.

A fleet's own stations time their answers on the simulator's event loop: when that loop is busy
(a 10,000-station fleet keeps its core near 90 % on a 2-core machine), an answer waits there too,
and the times say as much about the simulator as about the central system (``sim_fleet.py
--instant`` measures that floor: p99 of seconds with a central system that answers at once). This
station runs in a process of its own that does almost nothing, so the operating system runs it as
soon as an answer arrives: what it measures is the central system's answer time under the fleet's
load. It boots, starts a transaction, then sends a Heartbeat and a transaction MeterValues (whose
answer waits for the store, as every transaction message's does) every ``--interval`` seconds,
and stops the transaction at the end. Results: JSON on stdout.

    python bench/probe_station.py ws://127.0.0.1:9000/ocpp [--duration 60] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from websockets.sync.client import connect

IDENTITY = "BENCH-PROBE-1"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percentiles(times: list[float]) -> dict[str, Any]:
    ordered = sorted(times)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1], 1)}


class Station:
    def __init__(self, url: str, timeout: float) -> None:
        self.ws = connect(f"{url}/{IDENTITY}", subprotocols=["ocpp1.6"], open_timeout=timeout)  # type: ignore[list-item]
        self.timeout = timeout
        self.ids = itertools.count(1)
        self.errors: list[Any] = []

    def call(self, action: str, payload: dict[str, Any]) -> tuple[Any, float]:
        """The answer's payload and its round trip in ms (a CALLERROR is kept in ``errors``)."""
        uid = f"probe-{next(self.ids)}"
        started = time.monotonic()
        self.ws.send(json.dumps([2, uid, action, payload]))
        while True:
            message = json.loads(self.ws.recv(timeout=self.timeout))
            if message[0] in (3, 4) and message[1] == uid:
                break
        took = (time.monotonic() - started) * 1000
        if message[0] == 4:
            self.errors.append(message[2:])
            return None, took
        return message[2], took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the central system's OCPP URL, without the station id")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two rounds")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds an answer may take")
    args = parser.parse_args()
    station = Station(args.url, args.timeout)
    times: dict[str, list[float]] = {"Heartbeat": [], "MeterValues": []}
    with station.ws:
        station.call("BootNotification", {"chargePointVendor": "chargebay", "chargePointModel": "probe"})
        started, _ = station.call("StartTransaction", {"connectorId": 1, "idTag": "PROBE-TAG",
                                                       "meterStart": 0, "timestamp": now()})
        tx = started["transactionId"] if started else 0
        end = time.monotonic() + args.duration
        energy = 0
        while time.monotonic() < end:
            _, took = station.call("Heartbeat", {})
            times["Heartbeat"].append(took)
            energy += 10
            _, took = station.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": now(), "sampledValue": [{"value": str(energy), "unit": "Wh"}]}]})
            times["MeterValues"].append(took)
            time.sleep(args.interval)
        station.call("StopTransaction", {"transactionId": tx, "meterStop": energy, "timestamp": now()})
    every = [t for ts in times.values() for t in ts]
    print(json.dumps({"identity": IDENTITY, "interval_s": args.interval, "all": percentiles(every),
                      **{action: percentiles(ts) for action, ts in times.items()},
                      "call_errors": station.errors[:10], "call_error_count": len(station.errors)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
