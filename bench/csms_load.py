"""Central system load benchmark: chargebay against a minimal ``ocpp``-library CSMS, one command.

Why two servers: an absolute calls/s figure says little on its own; the same load against the bare
library (bench/minimal_csms.py: no persistence, library defaults) shows what chargebay's validation
and persistence cost, on the same machine, in the same run. The server gets one CPU and the load
generator (bench/loadgen.py) the other, so the client never competes with the server for a core.

Phases: closed-loop load against chargebay and against the baseline, in ``--rounds`` rounds
that alternate which goes first, then idle connections (RSS per held connection) against a fresh
instance of each. Why rounds: this machine's speed drifts by ±20 % over minutes (a VM beside
others), and one run of each, one after the other, put the drift into the ratio (3.0× and 3.3×
minutes apart for the same commit). Each round's ratio compares two neighbouring runs; the figure
reported is the median round's ratio, with every round's shown. Results: a table on stdout and
bench/results/csms_load.json.

    python bench/csms_load.py [--charge-points 1000] [--duration 15] [--rounds 3]
                              [--idle-connections 10000] [--skip-baseline] [--skip-idle]
                              [--ocpp-versions 1.6,2.0.1]

The load phases run each OCPP version's mix (1.6: Heartbeat / StatusNotification / MeterValues;
2.0.1: Heartbeat / TransactionEvent / MeterValues, bench/frames_201.py) against both servers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
from loadgen import LOOP_FINISHED, LOOP_STARTED, raise_open_files_limit

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "csms_load.json"
HOST = "127.0.0.1"
TOKEN = "bench-token-0123456789abcdefghijklm"  # CHARGEBAY_API_TOKEN: 32 characters or more
CHARGEBAY = "chargebay (validated, persisted)"
BASELINE = "minimal ocpp CSMS (no persistence)"
READY_TIMEOUT_S = 60.0
# One loadgen process per this many idle connections: connecting is faster from several processes,
# and each process stays far below the per-process open-files limit.
IDLE_PER_PROCESS = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def publish(results: dict[str, Any], path: Path, render: Any) -> dict[str, Any]:
    """Write the JSON, print the table: the end of every benchmark here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(render(results)))
    log(f"bench: results written to {path}")
    return results


def revision() -> str | None:
    """The checked-out commit (``-dirty`` with uncommitted changes): what was measured."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=BENCH.parent,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Cpus:
    """Server on one CPU, load generator (and this process) on another, when there are two.

    Children inherit the CPU affinity of the process that forks them, so this process pins
    itself before each spawn: no race with threads the child starts early.
    """

    def __init__(self) -> None:
        available = sorted(os.sched_getaffinity(0))
        pinned = len(available) >= 2
        self.server = {available[0]} if pinned else set(available)
        self.load = {available[1]} if pinned else set(available)

    def spawn(self, cpus: set[int], argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        os.sched_setaffinity(0, cpus)
        try:
            return subprocess.Popen(argv, **popen)
        finally:
            os.sched_setaffinity(0, self.load)


class Lines:
    """Lines from several child pipes, read with a timeout so that sampling goes on in between."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._partial: dict[int, bytes] = {}

    def add(self, stream: IO[bytes], tag: tuple[int, str]) -> None:
        os.set_blocking(stream.fileno(), False)
        self._selector.register(stream, selectors.EVENT_READ, tag)
        self._partial[stream.fileno()] = b""

    @property
    def open(self) -> bool:
        return bool(self._selector.get_map())

    def poll(self, timeout: float) -> list[tuple[tuple[int, str], str]]:
        """Complete lines that arrived within ``timeout`` seconds, each with its stream's tag."""
        if not self.open:
            time.sleep(timeout)
            return []
        lines = []
        for key, _ in self._selector.select(timeout):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self._selector.unregister(key.fileobj)
                chunk = b"\n" if self._partial[key.fd] else b""
            *complete, self._partial[key.fd] = (self._partial[key.fd] + chunk).split(b"\n")
            lines += [(key.data, line.decode(errors="replace")) for line in complete]
        return lines

    def close(self) -> None:
        self._selector.close()


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    ws_port: int
    log_path: Path
    http_port: int | None = None

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def rss(self) -> int:
        """Resident memory of the server and any children, in bytes."""
        total = 0
        for process in _tree(self.process.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(pid: int) -> float:
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Sampler:
    """CPU over the closed loop only (from CPU times) of the server and the load generator, and
    the server's peak RSS meanwhile; the load generator's CPU shows whether it was the limit.
    ``more``: further servers (nodes of a cluster), counted together with ``server``."""

    server: Server
    loadgen_pid: int
    cpu_start: tuple[float, float] = (0.0, 0.0)
    wall_start: float = 0.0
    cpu_seconds: tuple[float, float] = (0.0, 0.0)
    wall_seconds: float = 0.0
    rss_peak: int = 0
    running: bool = False
    more: Sequence[Server] = ()

    def _cpu(self) -> tuple[float, float]:
        servers = sum(_cpu_seconds(s.process.pid) for s in (self.server, *self.more))
        return servers, _cpu_seconds(self.loadgen_pid)

    def start(self) -> None:
        self.cpu_start, self.wall_start = self._cpu(), time.monotonic()
        self.running = True

    def sample(self) -> None:
        if self.running:
            rss = sum(server.rss() for server in (self.server, *self.more))
            self.rss_peak = max(self.rss_peak, rss)

    def stop(self) -> None:
        if self.running:
            self.sample()
            server, loadgen = self._cpu()
            self.cpu_seconds = (server - self.cpu_start[0], loadgen - self.cpu_start[1])
            self.wall_seconds = max(time.monotonic() - self.wall_start, 1e-9)
            self.running = False

    def percent(self, which: int) -> float:
        if not self.wall_seconds:
            return 0.0
        return round(100 * self.cpu_seconds[which] / self.wall_seconds, 1)


@dataclass
class Bench:
    """Everything the run started, so that it can all be stopped on any exit path."""

    args: argparse.Namespace
    cpus: Cpus = field(default_factory=Cpus)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def chargebay_argv(self, ws_port: int, http_port: int) -> tuple[list[str], str | None]:
        """The command line and health URL of our server (or of --chargebay-cmd, for testing)."""
        health = f"http://{HOST}:{http_port}/health"
        if self.args.chargebay_cmd:
            template = self.args.chargebay_cmd
            values = {"python": sys.executable, "bench": BENCH, "host": HOST,
                      "ws_port": ws_port, "http_port": http_port}
            argv = shlex.split(template.format(**values))
            return argv, health if "{http_port}" in template else None
        script = Path(sys.executable).parent / "chargebay"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "chargebay.cli"]
        serve = ["serve", "--host", HOST, "--ws-port", str(ws_port), "--http-port", str(http_port)]
        return command + serve, health

    def start_server(self, label: str, env: dict[str, str] | None = None,
                     extra: Sequence[str] = ()) -> Server:
        """Start one server in a fresh temp dir (its own SQLite file unless ``env`` names another
        CHARGEBAY_DATABASE_URL; ``extra``: more ``serve`` options), wait until it answers."""
        temp = tempfile.TemporaryDirectory(prefix="chargebay-bench-")
        workdir = Path(self.stack.enter_context(temp))
        ws_port, http_port = free_port(), free_port()
        overrides, env = env or {}, dict(os.environ)
        if label != BASELINE:
            argv, health = self.chargebay_argv(ws_port, http_port)
            argv += extra
            env.update({
                "CHARGEBAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
                "CHARGEBAY_API_TOKEN": TOKEN,
                "CHARGEBAY_LOG_LEVEL": "WARNING",
                "CHARGEBAY_UNKNOWN_CHARGE_POINTS": "accept",
                **overrides,
            })
        else:
            argv = [sys.executable, str(BENCH / "minimal_csms.py"),
                    "--host", HOST, "--port", str(ws_port)]
            health = None
        log_path = workdir / "server.log"
        with log_path.open("wb") as log_file:
            process = self.cpus.spawn(self.cpus.server, argv, cwd=workdir, env=env,
                                      stdin=subprocess.DEVNULL, stdout=log_file,
                                      stderr=subprocess.STDOUT)
        self.children.append(process)
        server = Server(label, process, ws_port, log_path,
                        http_port if label != BASELINE else None)
        log(f"bench: started {label}: {shlex.join(argv)}")
        self._wait_ready(server, health)
        return server

    def _wait_ready(self, server: Server, health: str | None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                code = server.process.returncode
                raise RuntimeError(f"{server.label} exited ({code}):\n{server.tail()}")
            if _accepts(server.ws_port) and (health is None or _healthy(health)):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{server.label} not ready after {READY_TIMEOUT_S:g} s:\n{server.tail()}")

    def stop(self, process: subprocess.Popen[bytes], grace: float = 0.0) -> None:
        """Stop a child (after ``grace`` seconds to end on its own) and close its pipes."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def stop_all(self) -> None:
        for process in reversed(self.children):
            self.stop(process)
        self.stack.close()

    def loadgen(self, ws_ports: int | Sequence[int], *extra: str) -> subprocess.Popen[bytes]:
        """A load generator on the load CPU; with several ports its charge points are split
        evenly over them, in blocks (see loadgen.py --port)."""
        ports = [ws_ports] if isinstance(ws_ports, int) else list(ws_ports)
        argv = [sys.executable, str(BENCH / "loadgen.py"),
                "--host", HOST, "--port", *map(str, ports), *extra]
        process = self.cpus.spawn(self.cpus.load, argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.children.append(process)
        return process

    def load_phase(self, label: str, ocpp_version: str = "1.6") -> dict[str, Any]:
        """Closed loop against a fresh server: loadgen's figures plus the server's CPU and RSS."""
        server = self.start_server(label)
        try:
            return self.closed_loop([server], ocpp_version=ocpp_version)[0]
        finally:
            self.stop(server.process)

    def closed_loop(self, servers: Sequence[Server], sampler_type: Callable[..., Sampler] = Sampler,
                    ocpp_version: str = "1.6") -> tuple[dict[str, Any], Sampler]:
        """Closed loop against running ``servers`` (the charge points split evenly over them):
        loadgen's figures plus the servers' CPU and RSS, and the sampler that measured them. The
        servers keep running; ``server_survived`` says whether all of them did."""
        server, *more = servers
        label = " + ".join(s.label for s in servers)
        args = self.args
        process = self.loadgen([s.ws_port for s in servers],
                               "--charge-points", str(args.charge_points),
                               "--duration", str(args.duration), "--ocpp-version", ocpp_version)
        sampler = sampler_type(server, process.pid, more=more)
        lines = Lines()
        lines.add(process.stdout, (0, "out"))
        lines.add(process.stderr, (0, "err"))
        output: list[str] = []
        # Connecting takes well under 60 ms per charge point; the rest is the loop and its grace.
        deadline = time.monotonic() + 120 + args.charge_points * 0.06 + args.duration
        while lines.open and time.monotonic() < deadline:
            for (_, stream), line in lines.poll(1.0):
                if stream == "out":
                    output.append(line)
                    continue
                log(f"  {line}")
                if LOOP_STARTED in line:
                    sampler.start()
                elif LOOP_FINISHED in line:
                    sampler.stop()
            sampler.sample()
        lines.close()
        sampler.stop()
        self.stop(process)
        alive = all(s.process.poll() is None for s in servers)
        if not output:
            raise RuntimeError(
                f"loadgen gave no result against {label}; server log:\n{server.tail()}")
        result: dict[str, Any] = json.loads(output[-1])
        calls, server_cpu_s = result["calls"], sampler.cpu_seconds[0]
        result.update({
            "server_cpu_percent": sampler.percent(0),
            "server_cpu_us_per_call": round(1e6 * server_cpu_s / calls, 1) if calls else None,
            "loadgen_cpu_percent": sampler.percent(1),
            "server_rss_mb": round(sampler.rss_peak / 2**20, 1),
            "server_survived": alive,
        })
        return result, sampler

    def idle_phase(self, label: str) -> dict[str, Any]:
        """A fresh server's RSS before and after ``--idle-connections`` silent charge points."""
        server = self.start_server(label)
        time.sleep(1.0)
        rss_before = server.rss()
        total = self.args.idle_connections
        lines = Lines()
        processes = []
        for index, first in enumerate(range(0, total, IDLE_PER_PROCESS)):
            share = min(IDLE_PER_PROCESS, total - first)
            process = self.loadgen(server.ws_port, "--idle", "--charge-points", str(share),
                                   "--first", str(first))
            processes.append(process)
            lines.add(process.stdout, (index, "out"))
            lines.add(process.stderr, (index, "err"))
        ready: dict[int, int] = {}
        started = time.monotonic()
        deadline = started + 120 + total * 0.06
        while (len(ready) < len(processes) and time.monotonic() < deadline
               and all(process.poll() is None for process in processes)):
            for (index, stream), line in lines.poll(1.0):
                if stream == "err":
                    log(f"  [{index}] {line}")
                elif line.startswith("READY "):
                    ready[index] = int(line.split()[1])
        connect_s = time.monotonic() - started
        time.sleep(2.0)  # let the server finish whatever the boots triggered
        rss_after = server.rss()
        connected = sum(ready.values())
        for process in processes:
            process.stdin.close()
        for process in processes:
            self.stop(process, grace=30)
        lines.close()
        self.stop(server.process)
        return {
            "requested": total,
            "connected": connected,
            "loadgen_processes": len(processes),
            "connect_s": round(connect_s, 1),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_after_mb": round(rss_after / 2**20, 1),
            "rss_per_connection_kb":
                round((rss_after - rss_before) / connected / 1024, 1) if connected else None,
        }


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _row(cells: list[Any], widths: list[int]) -> str:
    first, *rest = cells
    return f"{first:<{widths[0]}}" + "".join(f"{cell!s:>{w}}" for cell, w in zip(rest, widths[1:], strict=False))


MIXES = {"1.6": ("load", "ratio_calls_per_s", "Heartbeat / StatusNotification / MeterValues"),
         "2.0.1": ("load_201", "ratio_calls_per_s_201", "Heartbeat / TransactionEvent / MeterValues")}


def render(results: dict[str, Any]) -> Iterator[str]:
    """The human-readable summary of ``results``."""
    widths = [36, 11, 9, 8, 8, 7, 8, 8, 10, 9]
    for version, (key, ratio, mix) in MIXES.items():
        if not results.get(key):
            continue
        yield ""
        yield (f"OCPP {version}: {results['charge_points']} charge points, {results['duration_s']:g} s "
               f"closed loop ({mix}); server CPUs {results['server_cpus']}, load generator CPUs "
               f"{results['load_cpus']}")
        yield _row(["server", "connected", "calls/s", "p50 ms", "p99 ms", "CPU %", "RSS MB", "errors",
                    "loadgen %", "µs/call"], widths)
        for label, r in results[key].items():
            yield _row([label, r["connected"], r["calls_per_s"], r["p50_ms"], r["p99_ms"],
                        r["server_cpu_percent"], r["server_rss_mb"], r["errors"] + r["unanswered"],
                        r["loadgen_cpu_percent"], r["server_cpu_us_per_call"]], widths)
        rounds = results.get(key + "_rounds") or []
        if len(rounds) > 1:
            for n, one in enumerate(rounds, 1):
                cells = ", ".join(f"{label.split(' ')[0]} {r['calls_per_s']:g} calls/s "
                                  f"{r['server_cpu_us_per_call']:g} µs/call" for label, r in one.items())
                yield f"  round {n}: {cells}" + (f", ratio {_ratio(one):.2f}" if _ratio(one) else "")
            yield "  (the table shows each server's median round)"
        if ratio in results:
            yield f"OCPP {version} chargebay / baseline calls/s: {results[ratio]:.2f}" + (
                " (median of the rounds' ratios)" if len(rounds) > 1 else "")
    if results["idle"]:
        widths = [36, 11, 11, 15, 14, 10]
        yield ""
        yield _row(["idle connections", "connected", "connect s", "RSS before MB", "RSS after MB",
                    "KB/conn"], widths)
        for label, r in results["idle"].items():
            yield _row([label, r["connected"], r["connect_s"], r["rss_before_mb"],
                        r["rss_after_mb"], r["rss_per_connection_kb"]], widths)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charge-points", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of closed loop")
    parser.add_argument("--rounds", type=int, default=3,
                        help="load runs of each server per version, alternating which goes first")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--ocpp-versions", default="1.6,2.0.1",
                        help="the mixes of the load phases, in order (1.6, 2.0.1 or both)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    # Testing the bench itself without chargebay: a command template for the "chargebay" slot,
    # e.g. "{python} {bench}/minimal_csms.py --host {host} --port {ws_port}".
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    raise_open_files_limit()  # inherited by the servers and load generators started below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    bench = Bench(args)
    labels = [CHARGEBAY] if args.skip_baseline else [CHARGEBAY, BASELINE]
    results: dict[str, Any] = {
        "charge_points": args.charge_points,
        "duration_s": args.duration,
        "server_cpus": sorted(bench.cpus.server),
        "load_cpus": sorted(bench.cpus.load),
        "load": {},
        "idle": {},
    }
    versions = [v.strip() for v in args.ocpp_versions.split(",") if v.strip()]
    unknown = set(versions) - set(MIXES)
    if unknown:
        raise SystemExit(f"--ocpp-versions: no mix for {sorted(unknown)} (1.6, 2.0.1)")
    try:
        for version in versions:
            key = MIXES[version][0]
            rounds: list[dict[str, Any]] = results.setdefault(key + "_rounds", [])
            for n in range(max(args.rounds, 1)):
                one: dict[str, Any] = {}
                for label in (labels if n % 2 == 0 else labels[::-1]):
                    log(f"bench: load phase, OCPP {version}, {label}, round {n + 1} of {args.rounds}")
                    one[label] = bench.load_phase(label, version)
                rounds.append(one)
            results[key] = {label: _median_round(rounds, label) for label in labels}
        if not args.skip_idle:
            for label in labels:
                log(f"bench: idle phase, {label}")
                results["idle"][label] = bench.idle_phase(label)
    finally:
        bench.stop_all()
    for key, ratio_key, _ in MIXES.values():
        ratio = median_ratio(results.get(key + "_rounds") or [])
        if ratio is not None:
            results[ratio_key] = round(ratio, 3)
    return publish(results, args.output, render)


def median_ratio(rounds: list[dict[str, Any]]) -> float | None:
    """The median of the rounds' ratios (the lower one of two); None without any."""
    ratios = sorted(r for r in map(_ratio, rounds) if r is not None)
    return ratios[(len(ratios) - 1) // 2] if ratios else None


def _ratio(one: dict[str, Any]) -> float | None:
    """chargebay's calls/s over the baseline's in one round (None without a baseline, or where
    the baseline answered nothing; a round where chargebay answered nothing counts, as 0)."""
    if BASELINE not in one or not one[BASELINE]["calls_per_s"] or CHARGEBAY not in one:
        return None
    return float(one[CHARGEBAY]["calls_per_s"] / one[BASELINE]["calls_per_s"])


def _median_round(rounds: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """``label``'s figures of its median round by calls/s (the lower one of two)."""
    runs = sorted((one[label] for one in rounds), key=lambda r: r["calls_per_s"])
    return dict(runs[(len(runs) - 1) // 2])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("bench: interrupted; all servers and load generators stopped")
        sys.exit(130)
