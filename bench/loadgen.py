"""OCPP-J load generator: many charge points in a closed call/answer loop, or just held open.

Kept lean so that the central system, not this process, is the bottleneck: raw JSON frames
(orjson) over plain websockets without the ``ocpp`` library, no compression, no client pings,
payloads built from pre-made pieces, message ids from a counter and latencies appended to a
float array. Progress goes to stderr; the result (or ``READY <n>`` in ``--idle`` mode) to stdout.

    python bench/loadgen.py --port 9000 --charge-points 1000 --duration 20
    python bench/loadgen.py --port 9000 --charge-points 5000 --idle   # until stdin closes / SIGTERM
    python bench/loadgen.py --port 9000 --charge-points 100 --idle --answer-calls  # + answer Calls
    python bench/loadgen.py --port 9000 9001 --charge-points 1000  # first half to 9000, rest 9001
    python bench/loadgen.py --port 9000 --charge-points 1000 --ocpp-version 2.0.1  # 2.0.1 mix

With ``--answer-calls`` (``--idle`` only) the held charge points answer the central system's Calls
(RemoteStartTransaction, Reset, TriggerMessage, ...) with schema-valid CallResults from
``CALL_ANSWERS`` instead of ignoring them; an action not listed there gets NotImplemented.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from frames_201 import Frames201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from common.limits import raise_open_files_limit

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
STATUSES = ("Available", "Preparing", "Charging", "SuspendedEV", "Charging", "Finishing")
BOOT_PAYLOAD = {"chargePointVendor": "chargebay-bench", "chargePointModel": "loadgen"}
ERRORS_SHOWN = 5
# --answer-calls: a schema-valid OCPP 1.6 answer (CallResult payload) per CSMS-initiated action.
CALL_ANSWERS: dict[str, dict[str, Any]] = {
    **dict.fromkeys((
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ChangeConfiguration",
        "ClearCache", "ClearChargingProfile", "DataTransfer", "DeleteCertificate",
        "ExtendedTriggerMessage", "GetCompositeSchedule", "GetInstalledCertificateIds", "GetLog",
        "InstallCertificate", "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow",
        "Reset", "SendLocalList", "SetChargingProfile", "SignedUpdateFirmware", "TriggerMessage",
    ), {"status": "Accepted"}),
    "GetConfiguration": {"configurationKey": []},
    "GetDiagnostics": {},
    "GetLocalListVersion": {"listVersion": 0},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}
# Progress lines the orchestrator (csms_load.py) uses to time the server's CPU over the loop only.
LOOP_STARTED = "closed loop started"
LOOP_FINISHED = "closed loop finished"
# Answers still outstanding this long after the end of the run count as unanswered.
GRACE_S = 10.0
PROGRESS_EVERY_S = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Timestamps:
    """ISO-8601 UTC 'now', formatted at most once per second rather than once per frame."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._text


@dataclass
class Stats:
    """Counters shared by all charge points of this process (one event loop, so no locking)."""

    connected: int = 0
    connect_failed: int = 0
    boot_rejected: int = 0
    calls: int = 0
    errors: int = 0
    server_calls: int = 0
    dropped: int = 0
    last_answer: float = 0.0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    failures_shown: int = 0

    def show_failure(self, what: str) -> None:
        if self.failures_shown < ERRORS_SHOWN:
            self.failures_shown += 1
            log(f"loadgen: {what[:300]}")


class Frames:
    """Builds the Call frames; the fixed parts are made once, only ids and values vary."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._time = Timestamps()
        self._energy: dict[int, int] = {}

    def next_id(self) -> str:
        return str(next(self._ids))

    def boot(self, message_id: str) -> bytes:
        return orjson.dumps([CALL, message_id, "BootNotification", BOOT_PAYLOAD])

    def heartbeat(self, message_id: str) -> bytes:
        return b'[2,"%b","Heartbeat",{}]' % message_id.encode()

    def status(self, message_id: str, status: str) -> bytes:
        payload = {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": status,
            "timestamp": self._time.now(),
        }
        return orjson.dumps([CALL, message_id, "StatusNotification", payload])

    def step(self, index: int, step: int, message_id: str) -> bytes:
        """The ``step``-th call of charge point ``index``: Heartbeat, StatusNotification and
        MeterValues in turn."""
        kind = step % 3
        if kind == 0:
            return self.heartbeat(message_id)
        if kind == 1:
            return self.status(message_id, STATUSES[(step // 3) % len(STATUSES)])
        energy_wh = self._energy[index] = self._energy.get(index, 0) + 25
        return self.meter_values(message_id, energy_wh, 11000, (step // 3) % 101)

    def meter_values(self, message_id: str, energy_wh: int, power_w: int, soc: int) -> bytes:
        sampled = [
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(soc), "measurand": "SoC", "unit": "Percent"},
        ]
        payload = {
            "connectorId": 1,
            "meterValue": [{"timestamp": self._time.now(), "sampledValue": sampled}],
        }
        return orjson.dumps([CALL, message_id, "MeterValues", payload])


async def exchange(ws: ClientConnection, frame: bytes, message_id: str, stats: Stats) -> list[Any]:
    """Send one Call and return its answer; Calls from the server meanwhile get NotImplemented."""
    await ws.send(frame, text=True)
    while True:
        message = orjson.loads(await ws.recv(decode=False))
        if message[0] == CALL:
            stats.server_calls += 1
            refusal = [CALL_ERROR, message[1], "NotImplemented", "load generator", {}]
            await ws.send(orjson.dumps(refusal), text=True)
        elif message[1] == message_id:
            return message


def call_answer(message: list[Any]) -> bytes:
    """The frame that answers a Call from the central system (``--answer-calls``)."""
    payload = CALL_ANSWERS.get(message[2]) if len(message) > 2 else None
    if payload is None:
        return orjson.dumps([CALL_ERROR, message[1], "NotImplemented", "load generator", {}])
    return orjson.dumps([CALL_RESULT, message[1], payload])


async def answer_calls(ws: ClientConnection, stats: Stats) -> None:
    """Answer every Call the central system sends on ``ws`` until the connection closes."""
    try:
        while True:
            message = orjson.loads(await ws.recv(decode=False))
            if message[0] == CALL:
                stats.server_calls += 1
                await ws.send(call_answer(message), text=True)
    except WebSocketException:  # closed: by us at the end, or by the server
        pass
    except (ValueError, IndexError, TypeError) as exc:
        stats.show_failure(f"unexpected frame from the central system: {exc!r}")


async def open_charge_point(
    url: str, frames: Frames | Frames201, stats: Stats, timeout: float
) -> ClientConnection | None:
    """Connect and boot one charge point; None (and the reason on stderr) when that fails."""
    try:
        ws = await connect(
            url,
            subprotocols=["ocpp2.0.1" if isinstance(frames, Frames201) else "ocpp1.6"],
            compression=None,
            max_queue=4,
            ping_interval=None,
            open_timeout=timeout,
            close_timeout=2,
        )
    except (TimeoutError, OSError, WebSocketException) as exc:
        stats.connect_failed += 1
        stats.show_failure(f"connect {url}: {exc!r}")
        return None
    message_id = frames.next_id()
    try:
        async with asyncio.timeout(timeout):
            answer = await exchange(ws, frames.boot(message_id), message_id, stats)
    except (TimeoutError, WebSocketException, ValueError) as exc:
        answer = [None, message_id, repr(exc)]
    if answer[0] != CALL_RESULT:
        stats.boot_rejected += 1
        stats.show_failure(f"BootNotification from {url} answered {answer!r}")
        await ws.close()
        return None
    stats.connected += 1
    return ws


async def connect_all(
    host: str, ports: list[int], path: str, prefix: str, first: int, count: int,
    concurrency: int, timeout: float, frames: Frames | Frames201, stats: Stats,
) -> list[ClientConnection]:
    """Open ``count`` charge points, at most ``concurrency`` handshakes at a time; with several
    ``ports`` (nodes of a cluster) split evenly over them in blocks, in the order given."""
    gate = asyncio.Semaphore(concurrency)
    segment = path.strip("/")
    bases = [f"ws://{host}:{port}/{segment}/" if segment else f"ws://{host}:{port}/"
             for port in ports]

    async def one(index: int) -> ClientConnection | None:
        base = bases[(index - first) * len(bases) // count]
        async with gate:
            return await open_charge_point(f"{base}{prefix}{index:05d}", frames, stats, timeout)

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            failed = stats.connect_failed + stats.boot_rejected
            log(f"loadgen: connected {stats.connected}/{count} (failed {failed})")

    started = time.perf_counter()
    reporter = asyncio.create_task(progress())
    try:
        opened = await asyncio.gather(*(one(i) for i in range(first, first + count)))
    finally:
        reporter.cancel()
    elapsed = time.perf_counter() - started
    log(f"loadgen: {stats.connected}/{count} charge points booted in {elapsed:.1f} s")
    return [ws for ws in opened if ws is not None]


async def drive(
    ws: ClientConnection, index: int, deadline: float, frames: Frames | Frames201, stats: Stats
) -> None:
    """Closed loop for one charge point: a Call, wait for its answer, the next, until the deadline.

    The version's mix in turn (1.6: Heartbeat, StatusNotification, MeterValues; 2.0.1: Heartbeat,
    TransactionEvent, MeterValues); the offset by index spreads it.
    """
    step = index
    latencies = stats.latencies
    clock = time.perf_counter
    try:
        while clock() < deadline:
            message_id = frames.next_id()
            frame = frames.step(index, step, message_id)
            step += 1
            sent = clock()
            answer = await exchange(ws, frame, message_id, stats)
            stats.last_answer = done = clock()
            latencies.append(done - sent)
            if answer[0] == CALL_RESULT:
                stats.calls += 1
            else:
                stats.errors += 1
                stats.show_failure(f"CallError: {answer!r}")
    except (WebSocketException, ValueError) as exc:  # closed, or an answer that is not JSON
        stats.dropped += 1
        stats.show_failure(f"charge point dropped out of the run: {exc!r}")


async def report_progress(started: float, stats: Stats) -> None:
    """A line on stderr every few seconds of the loop, so a long run visibly moves."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        elapsed = time.perf_counter() - started
        log(f"loadgen: {elapsed:.0f} s: {stats.calls} calls ({stats.calls / elapsed:.0f}/s), "
            f"{stats.errors} CallErrors")


def new_frames(args: argparse.Namespace) -> Frames | Frames201:
    return Frames201() if args.ocpp_version == "2.0.1" else Frames()


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[round(fraction * (len(ordered) - 1))] if ordered else 0.0


async def close_all(connections: list[ClientConnection]) -> None:
    """Close politely, but never wait longer than a few seconds for it."""
    if connections:
        await asyncio.wait([asyncio.create_task(ws.close()) for ws in connections], timeout=5.0)


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """Connect, then the closed loop for ``args.duration`` seconds; returns the figures."""
    frames, stats = new_frames(args), Stats()
    connections = await connect_all(
        args.host, args.port, args.path, args.prefix, args.first, args.charge_points,
        args.connect_concurrency, args.timeout, frames, stats,
    )
    log(f"loadgen: {LOOP_STARTED}: {args.duration:g} s, {len(connections)} charge points")
    started = time.perf_counter()
    deadline = started + args.duration
    tasks = [
        asyncio.create_task(drive(ws, i, deadline, frames, stats))
        for i, ws in enumerate(connections)
    ]
    reporter = asyncio.create_task(report_progress(started, stats))
    unanswered: set[asyncio.Task[None]] = set()
    if tasks:
        _, unanswered = await asyncio.wait(tasks, timeout=args.duration + GRACE_S)
        for task in unanswered:
            task.cancel()
    reporter.cancel()
    duration = max(stats.last_answer - started, 1e-9)
    log(f"loadgen: {LOOP_FINISHED}: {stats.calls} calls, {stats.errors} CallErrors")
    await close_all(connections)
    ordered = sorted(stats.latencies)
    return {
        "charge_points": args.charge_points,
        "connected": stats.connected,
        "connect_failed": stats.connect_failed,
        "boot_rejected": stats.boot_rejected,
        "calls": stats.calls,
        "errors": stats.errors,
        "unanswered": len(unanswered),
        "dropped": stats.dropped,
        "server_calls": stats.server_calls,
        "duration": round(duration, 3),
        "calls_per_s": round(stats.calls / duration, 1),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
    }


def _stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """Stop when stdin closes (how the orchestrator ends an idle run); ignored if not pollable."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            stop()

    try:
        loop.add_reader(fd, readable)
    except (PermissionError, OSError):
        pass


async def run_idle(args: argparse.Namespace) -> dict[str, Any]:
    """Connect and boot, print ``READY <n>``, hold the connections until told to stop."""
    frames, stats = new_frames(args), Stats()
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    _stop_on_stdin_eof(loop, stopped.set)
    connections = await connect_all(
        args.host, args.port, args.path, args.prefix, args.first, args.charge_points,
        args.connect_concurrency, args.timeout, frames, stats,
    )
    answering = [asyncio.create_task(answer_calls(ws, stats))
                 for ws in connections] if args.answer_calls else []
    print(f"READY {len(connections)}", flush=True)
    try:
        await asyncio.wait_for(stopped.wait(), timeout=args.idle_timeout)
    except TimeoutError:
        log(f"loadgen: idle timeout ({args.idle_timeout:g} s), closing")
    for task in answering:
        task.cancel()
    await close_all(connections)
    result = {"connected": stats.connected, "connect_failed": stats.connect_failed,
              "boot_rejected": stats.boot_rejected}
    if args.answer_calls:
        log(f"loadgen: answered {stats.server_calls} calls from the central system")
        result["server_calls"] = stats.server_calls
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, nargs="+", default=[9000],
                        help="websocket port(s); several: the charge points split evenly, in blocks")
    parser.add_argument("--path", default="/ocpp/", help="URL path before the charge point id")
    parser.add_argument("--prefix", default="BENCH", help="charge point id prefix")
    parser.add_argument("--first", type=int, default=0, help="index of the first charge point")
    parser.add_argument("--charge-points", type=int, default=1000)
    parser.add_argument("--ocpp-version", choices=("1.6", "2.0.1"), default="1.6",
                        help="the charge points' version and mix (2.0.1: bench/frames_201.py)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of closed loop")
    parser.add_argument("--connect-concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=30.0, help="connect/boot timeout (s)")
    parser.add_argument("--idle", action="store_true", help="connect, boot and hold; no calls")
    parser.add_argument("--idle-timeout", type=float, default=900.0,
                        help="longest hold in --idle (s)")
    parser.add_argument("--answer-calls", action="store_true",
                        help="in --idle, answer the central system's Calls (RemoteStartTransaction,"
                             " Reset, ...) with schema-valid CallResults")
    args = parser.parse_args(argv)
    if args.answer_calls and not args.idle:
        parser.error("--answer-calls needs --idle")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run as the CLI would; returns the result dict (also printed as JSON in load mode)."""
    args = parse_args(argv)
    raise_open_files_limit()
    if args.idle:
        return asyncio.run(run_idle(args))
    result = asyncio.run(run_load(args))
    print(orjson.dumps(result).decode(), flush=True)
    return result


if __name__ == "__main__":
    main()
