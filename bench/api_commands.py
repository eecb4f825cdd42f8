"""REST command benchmark: REST -> OCPP -> charge point -> REST round trips, and a fan-out.

Three phases, each against a fresh ``chargebay serve`` (own temp dir and SQLite file) on one CPU,
with the charge points (bench/loadgen.py ``--idle --answer-calls``: held open, answering every
Call with a schema-valid CallResult) and this process, the HTTP client, on the other:

1. round trip: ``--charge-points`` booted charge points; ``--requests`` synchronous commands
   (``?wait=30``; RemoteStartTransaction, Reset and TriggerMessage in turn) over HTTP/1.1
   keep-alive with ``--concurrency`` in flight, each in-flight slot on its own charge points (a
   charge point takes one command at a time); the REST latency of each, after ``--warmup``
   uncounted ones.
2. fan-out: ``--fanout`` connected charge points; RemoteStartTransaction to every one of them at
   once through the API (``--fanout-concurrency`` HTTP requests in flight): the wall time until
   all came back 200 with ``"status": "Accepted"``, and the latency of each request.
3. fleet command: the same RemoteStartTransaction to the same ``--fanout`` charge points in one
   request (POST /api/v1/commands/fleet/RemoteStartTransaction): the wall time until its answer
   says every one accepted. Each phase also reports the server's CPU per command.

The HTTP connections (bench/rawhttp.py, one keep-alive connection per request in flight) are opened before
timing. Over the timed part the CPU of the server, of this client and of everything else on the
machine is sampled (the last shows whether something else competed). Results: a table on stdout
and bench/results/api_commands.json; progress on stderr.

    python bench/api_commands.py [--charge-points 100] [--requests 2000] [--concurrency 20]
                                 [--fanout 1000] [--fanout-concurrency 200] [--warmup 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from csms_load import BENCH, CHARGEBAY, HOST, TOKEN, Bench, Lines, Sampler, Server, free_port, log, publish, revision
from loadgen import percentile, raise_open_files_limit
from rawhttp import Client, HttpError

RESULTS = BENCH / "results" / "api_commands.json"
REFERENCE = "bare FastAPI"
CHARGE_POINT_ID = "BENCH{:05d}"  # the ids loadgen.py gives with its default --prefix
MIX = (
    ("RemoteStartTransaction", {"connectorId": 1, "idTag": "BENCH"}),
    ("Reset", {"type": "Soft"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
)
REMOTE_START = MIX[0]
WAIT_S = 30  # ?wait= of every command: the server gives up on the charge point after this
HTTP_TIMEOUT_S = WAIT_S + 15  # and the client on the server after this
HEALTH_TIMEOUT_S = 30.0
# loadgen.py --answer-calls, on stderr at the end
ANSWERED = re.compile(r"loadgen: answered (\d+) calls")


class ApiBench(Bench):
    """csms_load's Bench, which also remembers the REST port of the server it started last."""

    http_port = 0

    def chargebay_argv(self, ws_port: int, http_port: int) -> tuple[list[str], str | None]:
        self.http_port = http_port
        return super().chargebay_argv(ws_port, http_port)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"


@dataclass
class ChargePoints:
    """One loadgen process holding ``count`` booted charge points that answer the server's Calls
    (split evenly over ``server`` and ``more``, in blocks, when there are several nodes)."""

    process: subprocess.Popen[bytes]
    lines: Lines
    connected: int = 0
    answered: int | None = None

    @classmethod
    def start(cls, bench: Bench, server: Server, count: int, *more: Server) -> ChargePoints:
        process = bench.loadgen([s.ws_port for s in (server, *more)], "--idle", "--answer-calls",
                                "--charge-points", str(count))
        lines = Lines()
        lines.add(process.stdout, (0, "out"))
        lines.add(process.stderr, (0, "err"))
        held = cls(process, lines)
        deadline = time.monotonic() + 60 + count * 0.06
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            for (_, stream), line in lines.poll(1.0):
                if stream == "err":
                    log(f"  {line}")
                elif line.startswith("READY "):
                    held.connected, ready = int(line.split()[1]), True
        if held.connected != count:
            raise RuntimeError(f"only {held.connected}/{count} charge points booted "
                               f"(loadgen {'running' if process.poll() is None else 'exited'}); "
                               f"server log:\n{server.tail()}")
        return held

    def stop(self, bench: Bench) -> None:
        """Close loadgen's stdin (its signal to close the connections), collect its last words."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        deadline = time.monotonic() + 30
        while self.lines.open and time.monotonic() < deadline:
            for (_, stream), line in self.lines.poll(1.0):
                found = ANSWERED.search(line) if stream == "err" else None
                if found:
                    self.answered = int(found.group(1))
        self.lines.close()
        bench.stop(self.process, grace=5)


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have run (user + system; not interrupts)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system


class MachineSampler(Sampler):
    """csms_load's Sampler (server and load generator CPU), plus every process's CPU over the
    same window: what neither the bench nor the server used shows other load on the machine."""

    machine_seconds = 0.0

    def start(self) -> None:
        self._machine_start = _busy_seconds()
        super().start()

    def stop(self) -> None:
        if self.running:
            self.machine_seconds = _busy_seconds() - self._machine_start
        super().stop()

    def others_percent(self, client_cpu_seconds: float) -> float:
        ours = sum(self.cpu_seconds) + client_cpu_seconds
        return round(100 * max(self.machine_seconds - ours, 0.0) / self.wall_seconds, 1)


@dataclass
class Sample:
    action: str
    seconds: float
    status_code: int | None  # None: no HTTP response (timeout, connection error)
    answer: str | None  # the charge point's "status", or what went wrong


async def command(client: Client, index: int, action: str,
                  payload: dict[str, Any]) -> Sample:
    """One synchronous REST command to charge point ``index``, timed from send to full answer."""
    url = f"/api/v1/charge-points/{CHARGE_POINT_ID.format(index)}/commands/{action}"
    started = time.perf_counter()
    try:
        response = await client.post(url, params={"wait": WAIT_S}, json=payload)
    except HttpError as exc:
        return Sample(action, time.perf_counter() - started, None, repr(exc))
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return Sample(action, seconds, response.status_code, response.text[:300])
    body = response.json()
    answer = (body.get("response") or {}).get("status") if body.get("status") == "result" else None
    return Sample(action, seconds, 200, answer)


async def open_clients(stack: contextlib.AsyncExitStack, base_url: str, count: int) -> list[Client]:
    """``count`` clients of one HTTP/1.1 keep-alive connection each, that connection opened
    (bench/rawhttp.py: httpx cost this process more CPU per request than the server spends on
    a bare FastAPI route, and made it, not the server, the limit of the fan-out)."""
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    clients = [
        await stack.enter_async_context(Client(host, int(port), {"Authorization": f"Bearer {TOKEN}"},
                                               timeout=HTTP_TIMEOUT_S))
        for _ in range(count)
    ]
    responses = await asyncio.gather(*(client.get("/health") for client in clients),
                                     return_exceptions=True)
    failed = [r for r in responses if isinstance(r, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} connections failed: {failed[0]!r}")
    return clients


async def run_commands(clients: list[Client], targets: Sequence[int],
                       mix: Sequence[tuple[str, dict[str, Any]]], total: int,
                       samples: list[Sample]) -> None:
    """``total`` commands (``mix`` in turn) to the charge points numbered ``targets``, one in
    flight per client. Client slot s keeps to targets s, s + len(clients), ...: no two requests
    in flight queue for the same charge point (unless there are more clients than targets)."""
    numbers = itertools.count()
    count, concurrency = len(targets), len(clients)

    async def worker(slot: int) -> None:
        client, own = clients[slot], targets[slot % count::concurrency]
        for turn in itertools.count():
            number = next(numbers)
            if number >= total:
                return
            action, payload = mix[number % len(mix)]
            samples.append(await command(client, own[turn % len(own)], action, payload))

    await asyncio.gather(*(worker(slot) for slot in range(concurrency)))


async def wait_known(client: Client, count: int) -> float:
    """Seconds until /health counts ``count`` connected charge points and the API lists as many
    (a command to a charge point the API does not know yet is a 404); bounded."""
    started = time.monotonic()
    deadline = started + HEALTH_TIMEOUT_S
    connected = listed = None
    while time.monotonic() < deadline:
        try:
            connected = (await client.get("/health")).json().get("connected_charge_points")
            if connected == count:
                page = await client.get("/api/v1/charge-points", params={"page_size": 1})
                listed = page.json().get("total")
                if listed == count:
                    return time.monotonic() - started
        except (HttpError, ValueError, AttributeError) as exc:
            log(f"bench: waiting for the charge points: {exc!r}")
        await asyncio.sleep(0.1)
    raise RuntimeError(f"after {HEALTH_TIMEOUT_S:g} s /health counts {connected} connected charge "
                       f"points and the API lists {listed}; expected {count}")


def summarize(samples: list[Sample], wall: float, accepted: set[str],
              show: bool = True) -> dict[str, Any]:
    """Counts and latency percentiles (ms) of ``samples`` over ``wall`` seconds; the first few
    failures on stderr when ``show``."""
    ordered = sorted(s.seconds for s in samples)
    errors = [s for s in samples if s.status_code != 200]
    refused = [s for s in samples if s.status_code == 200 and s.answer not in accepted]
    for sample in (errors + refused)[:5] if show else ():
        log(f"bench: {sample.action}: HTTP {sample.status_code}: {sample.answer}")
    return {
        "requests": len(samples),
        "errors": len(errors),
        "not_accepted": len(refused),
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(samples) / wall, 1) if wall else None,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
    }


async def round_trips(base_url: str, args: argparse.Namespace,
                      sampler: MachineSampler, reference: bool = False) -> dict[str, Any]:
    """Phase 1: ``args.requests`` commands, ``args.concurrency`` in flight, spread out (to the
    reference, bench/bare_fastapi.py, when ``reference``: it knows no charge points)."""
    count, concurrency = args.charge_points, args.concurrency
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, base_url, concurrency)
        known_after = 0.0 if reference else await wait_known(clients[0], count)
        warmup: list[Sample] = []
        await run_commands(clients, range(count), MIX, args.warmup, warmup)
        log(f"bench: warm-up: {len(warmup)} commands, "
            f"{sum(s.status_code != 200 for s in warmup)} errors")
        samples: list[Sample] = []
        cpu, started = time.process_time(), time.perf_counter()
        sampler.start()
        async with asyncio.timeout(120 + args.requests * 0.2):
            await run_commands(clients, range(count), MIX, args.requests, samples)
        sampler.stop()
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu
    result = summarize(samples, wall, {"Accepted"})
    result["by_action"] = {
        action: {k: v for k, v in summarize([s for s in samples if s.action == action], wall,
                                             {"Accepted"}, show=False).items()
                 if k in ("requests", "errors", "p50_ms", "p99_ms", "max_ms")}
        for action, _ in MIX
    }
    result["client_cpu_percent"] = round(100 * client_cpu / wall, 1)
    # the reference's sampler counts this process as its load generator: not twice
    result["others_cpu_percent"] = sampler.others_percent(0.0 if reference else client_cpu)
    result["api_knew_charge_points_after_s"] = round(known_after, 2)
    return result


def run_reference(bench: ApiBench, args: argparse.Namespace) -> dict[str, Any]:
    """Phase 1 against bench/bare_fastapi.py on the server's CPU: FastAPI's own cost."""
    log("bench: reference: starting bare FastAPI command routes (uvicorn)")
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bare_fastapi:app", "--app-dir", str(BENCH), "--host", HOST,
            "--port", str(port), "--log-level", "warning", "--no-access-log"]
    workdir = Path(bench.stack.enter_context(tempfile.TemporaryDirectory(prefix="chargebay-bench-")))
    log_path = workdir / "server.log"
    with log_path.open("wb") as log_file:
        process = bench.cpus.spawn(bench.cpus.server, argv, cwd=workdir, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, "CHARGEBAY_API_TOKEN": TOKEN})
    bench.children.append(process)
    server = Server(REFERENCE, process, port, log_path, port)
    bench._wait_ready(server, f"http://{HOST}:{port}/health")  # noqa: SLF001 (csms_load's own helper)
    sampler = MachineSampler(server, os.getpid())
    try:
        result = asyncio.run(round_trips(f"http://{HOST}:{port}", args, sampler, reference=True))
    finally:
        alive = process.poll() is None
        bench.stop(process)
    result.update({"server_cpu_percent": sampler.percent(0), "server_rss_mb": round(sampler.rss_peak / 2**20, 1),
                   "server_survived": alive, "argv": shlex.join(argv)})
    log("bench: reference: done")
    return result


async def fan_out(base_url: str, args: argparse.Namespace,
                  sampler: MachineSampler) -> dict[str, Any]:
    """Phase 2: RemoteStartTransaction to every one of ``args.fanout`` charge points at once."""
    count, concurrency = args.fanout, args.fanout_concurrency
    action, payload = REMOTE_START
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, base_url, concurrency)
        known_after = await wait_known(clients[0], count)
        # The bounded semaphore: a request in flight holds one of the ``concurrency`` clients.
        idle: asyncio.Queue[Client] = asyncio.Queue()
        for client in clients:
            idle.put_nowait(client)
        first_done: list[float] = []
        await command(clients[0], 0, action, payload)  # warm-up: a schema compiles on its first use

        async def one(index: int) -> Sample:
            client = await idle.get()
            try:
                sample = await command(client, index, action, payload)
            finally:
                idle.put_nowait(client)
            first_done.append(time.perf_counter())
            return sample

        cpu, started = time.process_time(), time.perf_counter()
        sampler.start()
        async with asyncio.timeout(120 + count * 0.2):
            samples = await asyncio.gather(*(one(i) for i in range(count)))
        sampler.stop()
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu
    result = summarize(samples, wall, {"Accepted"})
    result.update({
        "charge_points": count,
        "http_concurrency": concurrency,
        "all_accepted": result["errors"] == 0 and result["not_accepted"] == 0,
        "first_response_ms": round((min(first_done) - started) * 1000, 2) if first_done else None,
        "client_cpu_percent": round(100 * client_cpu / wall, 1),
        "others_cpu_percent": sampler.others_percent(client_cpu),
        "api_knew_charge_points_after_s": round(known_after, 2),
    })
    return result


async def fleet_command(base_url: str, args: argparse.Namespace,
                        sampler: MachineSampler) -> dict[str, Any]:
    """Phase 3: RemoteStartTransaction to every one of ``args.fanout`` charge points in one
    request (POST /api/v1/commands/fleet/{action}): each still gets a command of its own."""
    count = args.fanout
    action, payload = REMOTE_START
    async with contextlib.AsyncExitStack() as stack:
        (client,) = await open_clients(stack, base_url, 1)
        known_after = await wait_known(client, count)
        body = {"charge_point_ids": [CHARGE_POINT_ID.format(i) for i in range(count)], "payload": payload}
        await command(client, 0, action, payload)  # warm-up: a schema compiles on its first use
        cpu, started = time.process_time(), time.perf_counter()
        sampler.start()
        response = await client.post(f"/api/v1/commands/fleet/{action}", params={"wait": WAIT_S}, json=body)
        sampler.stop()
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - cpu
    answers = ([r.get("response", {}) or {} for r in response.json()["results"]]
               if response.status_code == 200 else [])
    accepted = sum(a.get("status") == "Accepted" for a in answers)
    if response.status_code != 200:
        log(f"bench: fleet command: HTTP {response.status_code}: {response.text[:300]}")
    return {"charge_points": count, "status_code": response.status_code, "accepted": accepted,
            "all_accepted": accepted == count, "wall_s": round(wall, 3),
            "client_cpu_percent": round(100 * client_cpu / wall, 1),
            "others_cpu_percent": sampler.others_percent(client_cpu),
            "api_knew_charge_points_after_s": round(known_after, 2)}


def server_ms_per_command(result: dict[str, Any], commands: int) -> float | None:
    """Server CPU per command (ms): its CPU share over the timed part, spread over the commands."""
    if not commands or result.get("server_cpu_percent") is None:
        return None
    return round(result["server_cpu_percent"] / 100 * result["wall_s"] / commands * 1000, 3)


def run_phase(bench: ApiBench, name: str, count: int, body: Any,
              args: argparse.Namespace) -> dict[str, Any]:
    """A fresh server, ``count`` answering charge points, then ``body`` (an async phase)."""
    log(f"bench: {name}: starting chargebay")
    server = bench.start_server(CHARGEBAY)
    log(f"bench: {name}: connecting {count} answering charge points")
    held = ChargePoints.start(bench, server, count)
    log(f"bench: {name}: {held.connected} charge points booted; measuring")
    sampler = MachineSampler(server, held.process.pid)
    try:
        result = asyncio.run(body(bench.base_url, args, sampler))
    finally:
        held.stop(bench)
        alive = server.process.poll() is None
        bench.stop(server.process)
    result.update({
        "connected": held.connected,
        "calls_answered_by_charge_points": held.answered,
        "server_cpu_percent": sampler.percent(0),
        "loadgen_cpu_percent": sampler.percent(1),
        "server_rss_mb": round(sampler.rss_peak / 2**20, 1),
        "server_survived": alive,
    })
    log(f"bench: {name}: done")
    return result


def _row(cells: list[Any], widths: list[int]) -> str:
    first, *rest = cells
    return f"{first:<{widths[0]}}" + "".join(f"{cell!s:>{w}}" for cell, w in zip(rest, widths[1:], strict=False))


def render(results: dict[str, Any]) -> Iterator[str]:
    """The human-readable summary of ``results``."""
    rt, fo, fl = results["round_trip"], results["fanout"], results.get("fleet") or {}
    widths = [36, 9, 8, 8, 9, 9, 9, 8, 10, 10, 12]
    yield ""
    yield (f"REST commands, synchronous (?wait={WAIT_S}), HTTP/1.1 keep-alive; server CPUs "
           f"{results['server_cpus']}, charge points + HTTP client CPUs {results['load_cpus']}; "
           f"load average before {results['load_average_before']}")
    yield _row(["phase", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms", "wall s",
                "srv CPU%", "cli CPU%", "other CPU%"], widths)
    if rt:
        yield _row([f"round trip, {rt['connected']} CPs, {results['concurrency']} in flight",
                    rt["requests"], rt["errors"] + rt["not_accepted"], rt["requests_per_s"],
                    rt["p50_ms"], rt["p99_ms"], rt["max_ms"], rt["wall_s"],
                    rt["server_cpu_percent"], rt["client_cpu_percent"],
                    rt["others_cpu_percent"]], widths)
        for action, r in rt["by_action"].items():
            yield _row([f"  {action}", r["requests"], r["errors"], "", r["p50_ms"], r["p99_ms"],
                        r["max_ms"], "", "", "", ""], widths)
    if fo:
        yield _row([f"fan-out RemoteStart, {fo['connected']} CPs", fo["requests"],
                    fo["errors"] + fo["not_accepted"], fo["requests_per_s"], fo["p50_ms"],
                    fo["p99_ms"], fo["max_ms"], fo["wall_s"], fo["server_cpu_percent"],
                    fo["client_cpu_percent"], fo["others_cpu_percent"]], widths)
        verdict = "all 200 Accepted" if fo["all_accepted"] else (
            f"NOT all accepted: {fo['errors']} errors, {fo['not_accepted']} not Accepted")
        yield (f"fan-out: RemoteStartTransaction to {fo['charge_points']} charge points through "
               f"the API ({fo['http_concurrency']} HTTP requests in flight): {verdict} in "
               f"{fo['wall_s']:.3f} s (first answer after {fo['first_response_ms']} ms)")
    if fl:
        yield _row([f"fleet RemoteStart, {fl['connected']} CPs", 1, 0 if fl["all_accepted"] else 1, "",
                    "", "", "", fl["wall_s"], fl["server_cpu_percent"], fl["client_cpu_percent"],
                    fl["others_cpu_percent"]], widths)
        verdict = "all Accepted" if fl["all_accepted"] else (
            f"NOT all accepted: HTTP {fl['status_code']}, {fl['accepted']} Accepted")
        yield (f"fleet command: RemoteStartTransaction to {fl['charge_points']} charge points in one "
               f"request (POST /api/v1/commands/fleet/...): {verdict} in {fl['wall_s']:.3f} s")
    per = [(name, server_ms_per_command(r, n)) for name, r, n in (
        ("round trip", rt, rt.get("requests", 0)), ("fan-out", fo, fo.get("requests", 0)),
        ("fleet command", fl, fl.get("charge_points", 0))) if r]
    ref = results.get("reference") or {}
    if ref:
        yield _row(["reference: bare FastAPI routes", ref["requests"], ref["errors"] + ref["not_accepted"],
                    ref["requests_per_s"], ref["p50_ms"], ref["p99_ms"], ref["max_ms"], ref["wall_s"],
                    ref["server_cpu_percent"], ref["client_cpu_percent"], ref["others_cpu_percent"]], widths)
    if per:
        yield "server CPU per command: " + ", ".join(f"{name} {ms} ms" for name, ms in per)
    if ref and results.get("ratio_cpu_vs_reference"):
        yield (f"reference (bench/bare_fastapi.py: the same routes, token check, body and response models, "
               f"nothing behind them): {results['reference_ms_per_request']} ms of server CPU a request; "
               f"a chargebay command costs {results['ratio_cpu_vs_reference']}x that")
    known = [f"{r['connected']} charge points after {r['api_knew_charge_points_after_s']} s"
             for r in (rt, fo, fl) if r]
    if known:
        yield ("the API listed (and accepted commands for) all booted charge points only: "
               + ", ".join(known) + " (not timed)")
    yield ("errors: not HTTP 200 or not \"Accepted\"; latencies: REST request sent to answer read; "
           "CPU %: of one CPU, over the timed part: srv = chargebay, cli = this HTTP client, "
           "other = everything else on the machine but the charge points")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charge-points", type=int, default=100, help="phase 1 charge points")
    parser.add_argument("--requests", type=int, default=2000, help="phase 1 commands (timed)")
    parser.add_argument("--concurrency", type=int, default=20, help="phase 1 requests in flight")
    parser.add_argument("--warmup", type=int, default=100, help="phase 1 commands before timing")
    parser.add_argument("--fanout", type=int, default=1000, help="phase 2 charge points (0: skip)")
    parser.add_argument("--fanout-concurrency", type=int, default=200,
                        help="phase 2 HTTP requests in flight")
    parser.add_argument("--skip-round-trip", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    # As in csms_load.py, for testing the bench itself: a command template for the server, e.g.
    # "{python} other_serve.py --host {host} --ws-port {ws_port} --http-port {http_port}".
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("charge_points", "requests", "concurrency", "fanout_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.fanout < 0:
        parser.error("--warmup and --fanout cannot be negative")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    raise_open_files_limit()  # inherited by the server and the load generator
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    bench = ApiBench(args)
    results: dict[str, Any] = {
        "charge_points": args.charge_points,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "mix": [action for action, _ in MIX],
        "wait_s": WAIT_S,
        "server_cpus": sorted(bench.cpus.server),
        "load_cpus": sorted(bench.cpus.load),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "revision": revision(),
        "python": platform.python_version(),
        "http_client": "bench/rawhttp.py (httptools)",
        "round_trip": {},
        "fanout": {},
        "fleet": {},
        "reference": {},
    }
    try:
        if not args.skip_round_trip:
            results["round_trip"] = run_phase(bench, "round trip", args.charge_points,
                                              round_trips, args)
            results["reference"] = run_reference(bench, args)
            ours = server_ms_per_command(results["round_trip"], results["round_trip"]["requests"])
            floor = server_ms_per_command(results["reference"], results["reference"]["requests"])
            results["server_ms_per_command"] = ours
            results["reference_ms_per_request"] = floor
            results["ratio_cpu_vs_reference"] = round(ours / floor, 2) if ours and floor else None
        if args.fanout:
            results["fanout"] = run_phase(bench, "fan-out", args.fanout, fan_out, args)
            results["fleet"] = run_phase(bench, "fleet command", args.fanout, fleet_command, args)
    finally:
        bench.stop_all()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return publish(results, args.output, render)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("bench: interrupted; the servers and load generators are stopped")
        sys.exit(130)
