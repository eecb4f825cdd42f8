"""Reconnect storm: a central system killed under a connected fleet and started again, one command.

``chargebay serve`` (SQLite in a temp dir, one CPU) takes ``--charge-points`` stations from two
bench/storm_client.py processes (the other CPU): each connects, boots, reports three connectors
and holds. Once all are booted the server is killed (SIGKILL: no goodbye, no flush) and started
again on the same database and ports; the stations notice the dead sockets and come back by
themselves (jittered ~1 s backoff; a refused or failed handshake is retried). Measured from the
kill: when 50/90/99/100 % are back and booted, the server's start time, handshakes that failed and
were retried, boots refused, and the server's CPU meanwhile. The issue's target: all back within
30 s. Results: a summary on stdout and bench/results/reconnect_storm.json; progress on stderr.

    python bench/reconnect_storm.py [--charge-points 10000] [--timeout 120]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from csms_load import BENCH, HOST, TOKEN, Bench, Lines, _cpu_seconds, _healthy, free_port, log, publish

RESULTS = BENCH / "results" / "reconnect_storm.json"
TARGET_S = 30.0
CLIENTS = 2


class Storm:
    def __init__(self, args: argparse.Namespace, bench: Bench, workdir: Path) -> None:
        self.args, self.bench, self.workdir = args, bench, workdir
        self.ws_port, self.http_port = free_port(), free_port()
        self.latest: dict[int, dict[str, Any]] = {}
        self.lines = Lines()
        self.clients: list[subprocess.Popen[bytes]] = []

    def start_server(self) -> tuple[subprocess.Popen[bytes], float]:
        """Start chargebay on the storm's ports and database; the process and seconds to healthy."""
        argv, health = self.bench.chargebay_argv(self.ws_port, self.http_port)
        env = {**os.environ, "CHARGEBAY_DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'storm.db'}",
               "CHARGEBAY_API_TOKEN": TOKEN, "CHARGEBAY_LOG_LEVEL": "WARNING",
               "CHARGEBAY_UNKNOWN_CHARGE_POINTS": "accept"}
        started = time.monotonic()
        with (self.workdir / "server.log").open("ab") as log_file:
            process = self.bench.cpus.spawn(self.bench.cpus.server, argv, cwd=self.workdir, env=env,
                                            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        self.bench.children.append(process)
        while health is None or not _healthy(health):
            if process.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(f"the server did not start: see {self.workdir / 'server.log'}")
            time.sleep(0.05)
        return process, time.monotonic() - started

    def start_clients(self) -> None:
        share = self.args.charge_points // CLIENTS
        for n in range(CLIENTS):
            count = share if n < CLIENTS - 1 else self.args.charge_points - share * (CLIENTS - 1)
            argv = [sys.executable, str(BENCH / "storm_client.py"), "--host", HOST, "--port", str(self.ws_port),
                    "--first", str(n * share), "--charge-points", str(count)]
            process = self.bench.cpus.spawn(self.bench.cpus.load, argv, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL)
            self.bench.children.append(process)
            self.clients.append(process)
            assert process.stdout is not None
            self.lines.add(process.stdout, (n, "client"))

    def totals(self) -> dict[str, int]:
        for (n, _), line in self.lines.poll(0.2):
            self.latest[n] = json.loads(line)
        keys = ("online", "booted_once", "booted_twice", "handshake_failures", "connects_refused",
                "boots_refused")
        return {k: sum(int(r.get(k, 0)) for r in self.latest.values()) for k in keys}

    def wait_for(self, key: str, deadline_s: float, since: float) -> dict[float, float | None]:
        """Seconds from ``since`` until 50/90/99/100 % of the stations reached ``key``."""
        n = self.args.charge_points
        reached: dict[float, float | None] = dict.fromkeys((0.5, 0.9, 0.99, 1.0))
        last_log = 0.0
        while time.monotonic() - since < deadline_s:
            totals = self.totals()
            now = time.monotonic() - since
            for share in reached:
                if reached[share] is None and totals[key] >= share * n:
                    reached[share] = round(now, 2)
            if now - last_log >= 2:
                last_log = now
                log(f"reconnect_storm: {now:5.1f} s  {key} {totals[key]}/{n}  online {totals['online']}"
                    f"  failed handshakes {totals['handshake_failures']}")
            if reached[1.0] is not None:
                break
        return reached


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    with tempfile.TemporaryDirectory(prefix="reconnect-storm-") as temp:
        storm = Storm(args, bench, Path(temp))
        try:
            server, first_start = storm.start_server()
            log(f"reconnect_storm: server up in {first_start:.1f} s; {args.charge_points} stations connecting")
            storm.start_clients()
            started = time.monotonic()
            first = storm.wait_for("booted_once", args.timeout, started)
            before = storm.totals()
            if first[1.0] is None:
                raise RuntimeError(f"only {before['booted_once']} of {args.charge_points} booted at first")
            log("reconnect_storm: all booted; SIGKILL to the server")
            server.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            server.wait()
            server, restart_s = storm.start_server()
            back = storm.wait_for("booted_twice", args.timeout, killed)
            after = storm.totals()
            cpu = _cpu_seconds(server.pid)  # its whole life: the start included
        finally:
            bench.stop_all()
    all_back = back[1.0]
    return {
        "charge_points": args.charge_points, "first_connect_s": first, "server_restart_s": round(restart_s, 2),
        "back_after_kill_s": back,
        "handshake_failures_retried": after["handshake_failures"] - before["handshake_failures"],
        "connects_refused_retried": after["connects_refused"] - before["connects_refused"],
        "boots_refused": after["boots_refused"], "server_cpu_s_after_restart": round(cpu, 1),
        "target_s": TARGET_S, "within_target": all_back is not None and all_back <= TARGET_S,
    }


def render(r: dict[str, Any]) -> list[str]:
    back = r["back_after_kill_s"]
    return ["", f"reconnect storm: {r['charge_points']} stations, chargebay killed (SIGKILL) and started again"
                f" on the same SQLite database (restart {r['server_restart_s']} s)",
            f"  back and booted after the kill: 50 % {back[0.5]} s, 90 % {back[0.9]} s, 99 % {back[0.99]} s,"
            f" all {back[1.0]} s; the new server's CPU (its start included) {r['server_cpu_s_after_restart']} s",
            f"  connects refused while it was down {r['connects_refused_retried']}, failed handshakes"
            f" {r['handshake_failures_retried']} (all retried), boots refused {r['boots_refused']};"
            f" first connect of all: {r['first_connect_s'][1.0]} s",
            f"  target: all back within {r['target_s']:g} s: {'yes' if r['within_target'] else 'NO'}"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charge-points", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=120.0, help="longest wait for each phase (s)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return publish(run(args), args.output, render)


if __name__ == "__main__":
    main()
