"""[scale] benchmark: OCPP calls/s and REST command round trip on 1 and 2 nodes (PostgreSQL + Redis).

Why: scaling out puts PostgreSQL and Redis under every node and a Redis hop into every command
for a charge point held by another node. This measures what that costs against the single-node
SQLite figure of [core], which is measured again in the same run on the same machine (and also
compared with the one recorded in bench/results/csms_load.json, when there is one).

Scenarios, each on fresh state (new temp dirs; a new PostgreSQL database, dropped at the end; a
private redis-server, stopped at the end):

1. "1 node, SQLite": ``chargebay serve`` on a temp SQLite file, no Redis (the [core] reference).
2. "1 node, PostgreSQL + Redis": ``serve --node-id n1`` with CHARGEBAY_DATABASE_URL and
   CHARGEBAY_REDIS_URL.
3. "2 nodes, PostgreSQL + Redis": n1 and n2 sharing that database and Redis.

Each is measured the same way: (a) the closed loop of bench/csms_load.py (bench/loadgen.py:
Heartbeat / StatusNotification / MeterValues, calls/s, p50/p99, server CPU); (b) synchronous REST
TriggerMessage round trips (bench/api_commands.py's client) to charge points held open by
``loadgen.py --idle --answer-calls``. With two nodes the load generator sends half of its charge
points straight to each node's websocket port, with no haproxy in front: a balancer would add its
own hop and CPU to every frame, and the split it would make is known anyway. Every command then
goes to n2's REST port for a charge point held by n1, so each one crosses Redis (call and outcome).

CPU: as csms_load.py, the servers (every node, and redis-server) on one CPU, the load generator
and this process (the HTTP client) on the other. On a 2-core machine both nodes share that one
core, so the 2-node figure shows the per-node overhead of clustering, not horizontal scaling.
PostgreSQL is the machine's own server (not pinned); its backends' CPU for the scenario's
database is reported on its own, as is redis-server's. n1 migrates the new database at start.

PostgreSQL: CHARGEBAY_BENCH_POSTGRES_URL (postgresql+asyncpg://USER:PASSWORD@HOST:PORT/postgres,
a role that may CREATE DATABASE), else the server scripts/services.sh finds. Redis: the
``redis-server`` binary. Without either, scenarios 2 and 3 are skipped (with a message).
Results: a table on stdout, bench/results/cluster.json; progress on stderr.

    python bench/cluster.py [--charge-points 1000] [--duration 15] [--commands 1000]
                            [--command-charge-points 100] [--concurrency 20] [--warmup 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import psutil
import redis
from api_commands import (
    WAIT_S,
    ChargePoints,
    MachineSampler,
    Sample,
    open_clients,
    run_commands,
    summarize,
)
from csms_load import (
    BENCH,
    CHARGEBAY,
    HOST,
    READY_TIMEOUT_S,
    Bench,
    Server,
    _row,
    free_port,
    log,
    publish,
    revision,
)
from csms_load import RESULTS as CORE_RESULTS
from loadgen import raise_open_files_limit
from rawhttp import Client, HttpError
from sqlalchemy.engine import make_url

T = TypeVar("T")
RESULTS = BENCH / "results" / "cluster.json"
TRIGGER = ("TriggerMessage", {"requestedMessage": "Heartbeat"})
SQLITE, PG_1, PG_2 = "1 node, SQLite", "1 node, PostgreSQL + Redis", "2 nodes, PostgreSQL + Redis"
READY_WAIT_S = 60.0
HOW_TO_GET = {
    "postgres": "set CHARGEBAY_BENCH_POSTGRES_URL=postgresql+asyncpg://USER:PASSWORD@HOST:PORT/"
                "postgres (a role allowed to CREATE DATABASE), or run a local server with the "
                "chargebay/chargebay login on 127.0.0.1:5432 (on Debian: CHARGEBAY_CI=1 "
                "scripts/services.sh url installs and sets it up, as CI does)",
    "redis": "install redis-server (Debian: apt-get install redis-server); only the binary is "
             "used, a private instance is started per scenario",
}


@dataclass(frozen=True)
class Scenario:
    label: str
    nodes: int
    cluster: bool  # PostgreSQL + Redis, nodes named n1, n2, ...


SCENARIOS = (Scenario(SQLITE, 1, False), Scenario(PG_1, 1, True), Scenario(PG_2, 2, True))


# -- what the nodes stand on ------------------------------------------------------------------

def postgres_admin_url() -> tuple[str | None, str]:
    """The maintenance-database URL to create scenario databases from, and where it came from
    (or None and why not). Never installs anything: CHARGEBAY_CI is dropped for services.sh."""
    url = os.environ.get("CHARGEBAY_BENCH_POSTGRES_URL")
    source = "CHARGEBAY_BENCH_POSTGRES_URL"
    if not url:
        env = {k: v for k, v in os.environ.items() if k != "CHARGEBAY_CI"}
        try:
            done = subprocess.run([str(BENCH.parent / "scripts" / "services.sh"), "url"], env=env,
                                  capture_output=True, text=True, timeout=30)
            url, source = done.stdout.strip() or None, "scripts/services.sh url"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"scripts/services.sh url failed: {exc}"
        if not url:
            return None, "no PostgreSQL server with the chargebay/chargebay login on 127.0.0.1:5432"
    try:
        version = asyncio.run(_pg_execute(url, "SELECT current_setting('server_version')"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return None, f"cannot connect to {_redacted(url)} ({source}): {exc!r}"
    return url, f"{_redacted(url)} ({source}), PostgreSQL {version}"


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _pg_execute(admin_url: str, sql: str) -> Any:
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    """A new, empty database for one scenario (its URL), dropped afterwards whatever happened."""
    asyncio.run(_pg_execute(admin_url, f'CREATE DATABASE "{name}"'))
    log(f"bench: created database {name}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        log(f"bench: dropped database {name}")


@contextlib.contextmanager
def private_redis(bench: Bench, binary: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server (no persistence) on a free port and the server CPU: its URL."""
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    process = bench.cpus.spawn(bench.cpus.server, argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.children.append(process)
    try:
        client = redis.Redis(host=HOST, port=port, socket_timeout=2)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.1)
        client.close()
        log(f"bench: started redis-server on port {port}")
        yield f"redis://{HOST}:{port}/0", process
    finally:
        bench.stop(process)


@dataclass
class Backing:
    """CPU seconds of what the nodes use outside their own processes: the PostgreSQL backends
    serving the scenario's database (found by name) and the private redis-server."""

    database: str | None = None
    redis_pid: int | None = None
    _start: dict[tuple[str, int], float] = field(default_factory=dict)

    def _snapshot(self) -> dict[tuple[str, int], float]:
        found: dict[tuple[str, int], float] = {}
        processes: list[tuple[str, psutil.Process]] = []
        if self.redis_pid is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                processes.append(("redis", psutil.Process(self.redis_pid)))
        if self.database is not None:
            for process in psutil.process_iter(["cmdline"]):
                cmdline = " ".join(process.info["cmdline"] or ())
                if cmdline.startswith("postgres:") and f" {self.database} " in cmdline:
                    processes.append(("postgres", process))
        for kind, process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = process.cpu_times()
                found[(kind, process.pid)] = times.user + times.system
        return found

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> dict[str, float]:
        """Seconds per kind since start (backends that ended meanwhile are not counted)."""
        seconds: dict[str, float] = {}
        for (kind, pid), now in self._snapshot().items():
            seconds[kind] = seconds.get(kind, 0.0) + now - self._start.get((kind, pid), 0.0)
        return seconds


@dataclass
class NodesSampler(MachineSampler):
    """api_commands' MachineSampler over all nodes, plus PostgreSQL's and Redis's CPU and this
    process's own (the HTTP client), so that "other" is what nothing of the run used."""

    backing: Backing = field(default_factory=Backing)
    backing_seconds: dict[str, float] = field(default_factory=dict)
    own_seconds: float = 0.0

    def start(self) -> None:
        self.backing.start()
        self._own_start = time.process_time()
        super().start()

    def stop(self) -> None:
        if self.running:
            self.backing_seconds = self.backing.stop()
            self.own_seconds = time.process_time() - self._own_start
        super().stop()

    def figures(self) -> dict[str, Any]:
        """CPU % (of one CPU) over the measured window, by who used it."""
        def percent(seconds: float | None) -> float | None:
            if seconds is None or not self.wall_seconds:
                return None
            return round(100 * seconds / self.wall_seconds, 1)

        ours = sum(self.cpu_seconds) + sum(self.backing_seconds.values()) + self.own_seconds
        return {
            "server_cpu_percent": self.percent(0),
            "postgres_cpu_percent": percent(self.backing_seconds.get("postgres")),
            "redis_cpu_percent": percent(self.backing_seconds.get("redis")),
            "loadgen_cpu_percent": self.percent(1),
            "bench_cpu_percent": percent(self.own_seconds),
            "others_cpu_percent": percent(max(self.machine_seconds - ours, 0.0)),
        }


# -- the two measurements -----------------------------------------------------------------------

def closed_loop(bench: Bench, nodes: list[Server], backing: Backing) -> dict[str, Any]:
    """(a) csms_load's closed loop over all nodes, with the CPU split by who used it."""
    result, sampler = bench.closed_loop(nodes, functools.partial(NodesSampler, backing=backing))
    assert isinstance(sampler, NodesSampler)
    result.update(sampler.figures())
    return result


async def wait_ready(nodes: list[Server], shares: list[int], via: Client,
                     registry: redis.Redis | None, count: int) -> float:
    """Seconds until every node holds its share, Redis routes them all, and ``via``'s API lists
    them (a command for a charge point not routed yet is a 409, one not stored yet a 404)."""
    started = time.monotonic()
    state: Any = None
    async with httpx.AsyncClient(timeout=5.0) as client:
        while time.monotonic() < started + READY_WAIT_S:
            try:
                held = [(await client.get(f"http://{HOST}:{node.http_port}/health"))
                        .json()["connected_charge_points"] for node in nodes]
                routed = (sum(1 for _ in registry.scan_iter("cb:cp:*", count=1000))
                          if registry is not None else count)
                page = await via.get("/api/v1/charge-points", params={"page_size": 1})
                listed = page.json()["total"]
                state = {"held": held, "routed": routed, "listed": listed}
                if held == shares and routed == count and listed >= count:
                    return time.monotonic() - started
            except (httpx.HTTPError, HttpError, OSError, redis.RedisError, ValueError, KeyError) as exc:
                state = repr(exc)
            await asyncio.sleep(0.1)
    raise RuntimeError(f"charge points not ready after {READY_WAIT_S:g} s: {state} "
                       f"(expected held {shares}, {count} routed and listed)")


async def _round_trips(args: argparse.Namespace, nodes: list[Server], via: Server,
                       targets: range, registry: redis.Redis | None,
                       sampler: NodesSampler) -> dict[str, Any]:
    count = args.command_charge_points
    # loadgen's split: charge point i to node i * len(nodes) // count
    shares = [sum(1 for i in range(count) if i * len(nodes) // count == node)
              for node in range(len(nodes))]
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, f"http://{HOST}:{via.http_port}", args.concurrency)
        ready_after = await wait_ready(nodes, shares, clients[0], registry,
                                       args.command_charge_points)
        warmup: list[Sample] = []
        await run_commands(clients, targets, [TRIGGER], args.warmup, warmup)
        log(f"bench: warm-up: {len(warmup)} commands, "
            f"{sum(s.status_code != 200 for s in warmup)} errors")
        publishes = _publishes(registry)
        samples: list[Sample] = []
        started = time.perf_counter()
        sampler.start()
        async with asyncio.timeout(120 + args.commands * 0.2):
            await run_commands(clients, targets, [TRIGGER], args.commands, samples)
        sampler.stop()
        wall = time.perf_counter() - started
        publishes = _publishes(registry) - publishes
    result = summarize(samples, wall, {"Accepted"})
    result["charge_points_ready_after_s"] = round(ready_after, 2)
    if registry is not None:
        result["redis_publish_per_command"] = round(publishes / max(len(samples), 1), 2)
    return result


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with SIGTERM cancelling the main task as asyncio does for Ctrl-C, then exiting
    (143): the SystemExit main()'s SIGTERM handler raises in whatever task runs at that moment
    leaves asyncio.run waiting for the other tasks forever."""
    previous = signal.getsignal(signal.SIGTERM)
    terminated = False

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
        return await coro

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if terminated:
            raise SystemExit(143) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _publishes(registry: redis.Redis | None) -> int:
    """PUBLISH commands Redis has served (cross-node calls, outcomes and events)."""
    if registry is None:
        return 0
    return int(registry.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))


def command_round_trips(bench: Bench, args: argparse.Namespace, nodes: list[Server],
                        backing: Backing, redis_url: str | None) -> dict[str, Any]:
    """(b) Synchronous TriggerMessage through the REST API of the last node, to charge points
    held by the first one: with two nodes every command crosses Redis."""
    count = args.command_charge_points
    via = nodes[-1]
    # loadgen splits in blocks, in the order of the ports: the first node holds (at least)
    # charge points 0 .. count // len(nodes) - 1
    targets = range(count // len(nodes))
    held = ChargePoints.start(bench, nodes[0], count, *nodes[1:])
    log(f"bench: {held.connected} answering charge points booted; {args.commands} TriggerMessage "
        f"to {len(targets)} of them (held by n1) through {'n2' if len(nodes) > 1 else 'the node'}")
    sampler = NodesSampler(nodes[0], held.process.pid, more=nodes[1:], backing=backing)
    registry = redis.Redis.from_url(redis_url, socket_timeout=5) if redis_url else None
    try:
        result = run_async(_round_trips(args, nodes, via, targets, registry, sampler))
    finally:
        held.stop(bench)
        if registry is not None:
            registry.close()
    result.update({
        "charge_points": count,
        "targets": len(targets),
        "sent_to": "n2 (REST) for charge points held by n1: every command crossed Redis"
                   if len(nodes) > 1 else "the node holding the charge points (no Redis hop)",
        "crosses_redis": len(nodes) > 1,
        "calls_answered_by_charge_points": held.answered,
        "servers_survived": all(node.process.poll() is None for node in nodes),
        **sampler.figures(),
    })
    return result


def run_scenario(bench: Bench, args: argparse.Namespace, scenario: Scenario, number: int,
                 postgres: str | None, redis_binary: str | None) -> dict[str, Any]:
    """Fresh database and Redis (for a cluster), the nodes, (a), (b); everything stopped after."""
    with contextlib.ExitStack() as cleanup:
        env: dict[str, str] = {}
        backing = Backing()
        redis_url = None
        if scenario.cluster:
            assert postgres is not None and redis_binary is not None
            database = f"cb_bench_{os.getpid()}_{number}"
            env["CHARGEBAY_DATABASE_URL"] = cleanup.enter_context(
                fresh_database(postgres, database))
            redis_url, redis_process = cleanup.enter_context(private_redis(bench, redis_binary))
            env["CHARGEBAY_REDIS_URL"] = redis_url
            backing = Backing(database, redis_process.pid)
        nodes: list[Server] = []
        for index in range(1, scenario.nodes + 1):
            label = f"{scenario.label}, n{index}" if scenario.cluster else scenario.label
            node = bench.start_server(label, env,
                                      ["--node-id", f"n{index}"] if scenario.cluster else ())
            cleanup.callback(bench.stop, node.process)
            nodes.append(node)
        log(f"bench: {scenario.label}: closed loop, {args.charge_points} charge points"
            + (", half on each node" if scenario.nodes > 1 else ""))
        load = closed_loop(bench, nodes, backing)
        log(f"bench: {scenario.label}: {load['calls_per_s']} calls/s; command round trips")
        commands = command_round_trips(bench, args, nodes, backing, redis_url)
        log(f"bench: {scenario.label}: {commands['requests_per_s']} commands/s, "
            f"p50 {commands['p50_ms']} ms")
    return {"nodes": scenario.nodes, "store": "PostgreSQL + Redis" if scenario.cluster else
            "SQLite", "load": load, "commands": commands}


# -- report -------------------------------------------------------------------------------------

def recorded_core() -> dict[str, Any] | None:
    """The [core] figure recorded by bench/csms_load.py, with the settings it was taken at."""
    try:
        recorded = json.loads(CORE_RESULTS.read_text())
        load = recorded["load"][CHARGEBAY]
        return {"file": str(CORE_RESULTS.relative_to(BENCH.parent)),
                "calls_per_s": load["calls_per_s"], "charge_points": recorded["charge_points"],
                "duration_s": recorded["duration_s"], "revision": recorded.get("revision")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def add_ratios(results: dict[str, Any]) -> None:
    scenarios = {k: v for k, v in results["scenarios"].items() if "load" in v}
    reference = scenarios.get(SQLITE)
    core = results["core_recorded"]
    for result in scenarios.values():
        calls = result["load"]["calls_per_s"]
        if reference and reference["load"]["calls_per_s"]:
            result["calls_per_s_vs_sqlite"] = round(calls / reference["load"]["calls_per_s"], 3)
            rps = reference["commands"]["requests_per_s"]
            if rps:
                result["commands_per_s_vs_sqlite"] = round(
                    result["commands"]["requests_per_s"] / rps, 3)
        if core and core["calls_per_s"]:
            result["calls_per_s_vs_core_recorded"] = round(calls / core["calls_per_s"], 3)


def _cell(value: Any) -> Any:
    return "-" if value is None else value


def render(results: dict[str, Any]) -> Iterator[str]:
    """The human-readable summary of ``results``."""
    yield ""
    yield (f"[scale] {results['charge_points']} charge points, {results['duration_s']:g} s closed "
           f"loop (Heartbeat / StatusNotification / MeterValues); {results['cpu_count']} CPUs: "
           f"servers (nodes, redis-server) on {results['server_cpus']}, load generator and HTTP "
           f"client on {results['load_cpus']}; load average before {results['load_average_before']}")
    widths = [29, 8, 9, 8, 8, 7, 7, 9, 11, 9, 8, 10, 10]
    yield _row(["OCPP closed loop", "nodes", "calls/s", "p50 ms", "p99 ms", "srv %", "pg %",
                "redis %", "loadgen %", "other %", "errors", "x SQLite", "x [core]"], widths)
    done = {k: v for k, v in results["scenarios"].items() if "load" in v}
    for label, r in done.items():
        load = r["load"]
        yield _row([label, r["nodes"], load["calls_per_s"], load["p50_ms"], load["p99_ms"],
                    load["server_cpu_percent"], _cell(load["postgres_cpu_percent"]),
                    _cell(load["redis_cpu_percent"]), load["loadgen_cpu_percent"],
                    load["others_cpu_percent"], load["errors"] + load["unanswered"],
                    _cell(r.get("calls_per_s_vs_sqlite")),
                    _cell(r.get("calls_per_s_vs_core_recorded"))], widths)
    yield ""
    yield (f"REST TriggerMessage round trip (?wait={results['wait_s']}, {results['concurrency']} "
           f"in flight, {results['commands']} timed after {results['warmup']}; "
           f"{results['command_charge_points']} answering charge points)")
    yield _row(["REST commands", "targets", "req/s", "p50 ms", "p99 ms", "srv %", "pg %",
                "redis %", "cli+cp %", "other %", "errors", "x SQLite", "via Redis"], widths)
    for label, r in done.items():
        c = r["commands"]
        yield _row([label, c["targets"], c["requests_per_s"], c["p50_ms"], c["p99_ms"],
                    c["server_cpu_percent"], _cell(c["postgres_cpu_percent"]),
                    _cell(c["redis_cpu_percent"]),
                    round(c["bench_cpu_percent"] + c["loadgen_cpu_percent"], 1),
                    c["others_cpu_percent"], c["errors"] + c["not_accepted"],
                    _cell(r.get("commands_per_s_vs_sqlite")),
                    "yes" if c["crosses_redis"] else "no"], widths)
    for label, r in results["scenarios"].items():
        if "load" not in r:
            yield f"{label}: {r.get('skipped') or r.get('error')}"
    yield ""
    if PG_2 in done:
        yield (f"{PG_2}: every command went to n2's REST port for a charge point held by n1, so "
               f"each crossed Redis (call to n1, outcome back: "
               f"{done[PG_2]['commands'].get('redis_publish_per_command')} PUBLISH per command, "
               f"events included); the load generator sent half of the charge points to each "
               f"node's websocket port directly (no haproxy).")
        if results["nodes_share_server_cpus"]:
            yield (f"both nodes share the server CPU {results['server_cpus']} of this "
                   f"{results['cpu_count']}-CPU machine: the 2-node figure shows the per-node "
                   f"overhead of clustering, not horizontal scaling.")
    core = results["core_recorded"]
    yield ("x SQLite: calls/s (req/s) over the 1-node SQLite scenario of this run; x [core]: "
           + (f"calls/s over {core['calls_per_s']} recorded in {core['file']} "
              f"({core['charge_points']} charge points, {core['duration_s']:g} s"
              + (f", revision {core['revision']}" if core["revision"] else "") + ")"
              if core else "no recorded [core] figure (run bench/csms_load.py)"))
    yield ("CPU %: of one CPU over the timed part; srv = chargebay node(s), pg = PostgreSQL "
           "backends of the scenario's database (unpinned), redis = the private redis-server, "
           "loadgen / cli+cp = charge points and this HTTP client, other = the rest of the machine")


# -- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charge-points", type=int, default=1000,
                        help="closed-loop charge points (split over the nodes)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of closed loop")
    parser.add_argument("--commands", type=int, default=1000, help="timed REST commands")
    parser.add_argument("--command-charge-points", type=int, default=100,
                        help="answering charge points for the commands (split over the nodes)")
    parser.add_argument("--concurrency", type=int, default=20, help="REST commands in flight")
    parser.add_argument("--warmup", type=int, default=100, help="commands before timing")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--skip-sqlite", action="store_true",
                        help="no scenario 1 (then no in-run ratios)")
    # As in csms_load.py, for testing the bench itself (see there).
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("charge_points", "commands", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.command_charge_points < 2:
        parser.error("--command-charge-points must be at least 2 (one per node)")
    if args.warmup < 0 or args.duration <= 0:
        parser.error("--warmup cannot be negative, --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    raise_open_files_limit()  # inherited by the servers and load generators
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    # Ctrl-C cleans up too when started from a shell that had SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    bench = Bench(args)
    postgres, postgres_info = postgres_admin_url()
    redis_binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
    missing = []
    if postgres is None:
        missing.append(f"PostgreSQL: {postgres_info}; to get it, {HOW_TO_GET['postgres']}")
    if redis_binary is None:
        missing.append(f"Redis: redis-server not found; to get it, {HOW_TO_GET['redis']}")
    for line in missing:
        log(f"bench: skipping the PostgreSQL + Redis scenarios. {line}")
    if (targets := args.command_charge_points // 2) < args.concurrency:
        log(f"bench: note: {targets} command targets with 2 nodes < --concurrency "
            f"{args.concurrency}: some requests will queue behind others for one charge point")
    results: dict[str, Any] = {
        "charge_points": args.charge_points,
        "duration_s": args.duration,
        "command_charge_points": args.command_charge_points,
        "commands": args.commands,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "wait_s": WAIT_S,
        "command": dict(zip(("action", "payload"), TRIGGER, strict=True)),
        "cpu_count": os.cpu_count(),
        "server_cpus": sorted(bench.cpus.server),
        "load_cpus": sorted(bench.cpus.load),
        "nodes_share_server_cpus": len(bench.cpus.server) < 2,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "revision": revision(),
        "python": platform.python_version(),
        "postgres": postgres_info if postgres else None,
        "redis": redis_binary,
        "core_recorded": recorded_core(),
        "scenarios": {},
    }
    failed = False
    try:
        for number, scenario in enumerate(SCENARIOS):
            if scenario.label == SQLITE and args.skip_sqlite:
                continue
            if scenario.cluster and missing:
                results["scenarios"][scenario.label] = {"skipped": "; ".join(missing)}
                continue
            log(f"bench: scenario {number + 1}: {scenario.label}")
            try:
                results["scenarios"][scenario.label] = run_scenario(
                    bench, args, scenario, number, postgres, redis_binary)
            except (RuntimeError, OSError, asyncpg.PostgresError, redis.RedisError,
                    httpx.HTTPError, HttpError, TimeoutError) as exc:
                failed = True
                log(f"bench: scenario {scenario.label} failed: {exc}")
                results["scenarios"][scenario.label] = {"error": str(exc)[:2000]}
    finally:
        bench.stop_all()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    add_ratios(results)
    publish(results, args.output, render)
    if failed:
        sys.exit(1)
    return results


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("bench: interrupted; servers, redis-server and load generators stopped, "
            "databases dropped")
        sys.exit(130)
