"""Handshake benchmark: what a charge point's connect costs the central system at each security
profile, against a bare websocket server with the same TLS in the same run.

A fleet reconnecting at once (a central system restarted, a site's link back) is a storm of
handshakes; TLS makes each one dearer, and profiles 1-3 add the central system's own checks (the
charge point's record, its password, its client certificate's CN). Three modes:

- ``ws``: profile 0, plain ws://;
- ``wss+basic``: profile 2, TLS and a Basic-auth password (verified with scrypt once, then cached);
- ``wss+mtls``: profile 3, mutual TLS, a client certificate whose CN is the charge point id.

Each against ``chargebay serve`` (its own SQLite file; the charge points registered at that profile
over REST first) and against bench/bare_websockets.py (same TLS configuration, nothing else), each
server alone on one CPU, this process's clients on the other. ``--concurrency`` clients connect,
wait for the upgrade, close, and connect again for ``--duration`` s. Figures: handshakes/s,
connect latency p50/p99, the server's CPU per handshake, and chargebay's CPU per handshake as a
multiple of the bare server's (a client-bound run still compares fairly on CPU per handshake).

    python bench/handshakes.py [--duration 10] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from csms_load import BENCH, HOST, TOKEN, Bench, Server, _accepts, _cpu_seconds, free_port, log, publish
from loadgen import percentile

sys.path.insert(0, str(BENCH.parent))
from csms.ca import LocalCA, init_ca, write_issued  # noqa: E402  (the repository root, added above)

RESULTS = BENCH / "results" / "handshakes.json"
CHARGEBAY = "chargebay"
BARE = "bare websockets"
MODES = {"ws": 0, "wss+basic": 2, "wss+mtls": 3}  # mode -> security profile
PASSWORD = "bench-password-0123456789"


class Pki:
    """A CA, the server's certificate, and one client certificate per charge point (CN = its id)."""

    def __init__(self, root: Path, ids: list[str]) -> None:
        self.ca_cert, ca_key = root / "ca.pem", root / "ca.key"
        init_ca(self.ca_cert, ca_key)
        ca = LocalCA(self.ca_cert, ca_key)
        self.cert, self.key = root / "server.pem", root / "server.key"
        write_issued(*ca.issue("bench server", server=True, hosts=[HOST]), self.key, self.cert)
        self.clients: dict[str, tuple[Path, Path]] = {}
        for cp_id in ids:
            cert, key = root / f"{cp_id}.pem", root / f"{cp_id}.key"
            write_issued(*ca.issue(cp_id, server=False), key, cert)
            self.clients[cp_id] = (cert, key)

    def client_context(self, cp_id: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        if cp_id is not None:
            ctx.load_cert_chain(*self.clients[cp_id])
        return ctx

    def serve_args(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key), "--tls-client-ca", str(self.ca_cert)]


def ids_for(mode: str, concurrency: int) -> list[str]:
    return [f"HS-{MODES[mode]}-{n:04d}" for n in range(concurrency)]


async def register(http_port: int, mode: str, ids: list[str]) -> None:
    """Each charge point of ``mode`` made known at its profile (profile 0 ones connect unknown)."""
    profile = MODES[mode]
    if profile == 0:
        return
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{http_port}", timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for cp_id in ids:
            body: dict[str, Any] = {"id": cp_id} | ({"password": PASSWORD} if profile == 2 else {})
            r = await client.post("/api/v1/charge-points", json=body)
            assert r.status_code == 201, r.text
            r = await client.patch(f"/api/v1/charge-points/{cp_id}", json={"security_profile": profile})
            assert r.status_code == 200, r.text


async def storm(port: int, mode: str, ids: list[str], pki: Pki, duration: float,
                server: Server) -> dict[str, Any]:
    """Every client connects, waits for the upgrade, closes, again, for ``duration`` s."""
    scheme = "ws" if mode == "ws" else "wss"
    latencies: list[float] = []
    errors: list[str] = []

    async def client(cp_id: str, deadline: float) -> None:
        ctx = None if mode == "ws" else pki.client_context(cp_id if mode == "wss+mtls" else None)
        auth = base64.b64encode(f"{cp_id}:{PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}"} if mode == "wss+basic" else None
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                async with websockets.connect(f"{scheme}://{HOST}:{port}/ocpp/{cp_id}", ssl=ctx,
                                              additional_headers=headers, open_timeout=10,
                                              subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                    latencies.append(time.perf_counter() - started)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)

    await asyncio.gather(*(client(cp_id, time.monotonic() + 1.0) for cp_id in ids))  # warm-up
    latencies.clear()
    cpu_before, wall_before = _cpu_seconds(server.process.pid), time.monotonic()
    await asyncio.gather(*(client(cp_id, wall_before + duration) for cp_id in ids))
    wall = time.monotonic() - wall_before
    cpu = _cpu_seconds(server.process.pid) - cpu_before
    ordered = sorted(latencies)
    return {"handshakes": len(latencies), "handshakes_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(1000 * percentile(ordered, 0.5), 2), "p99_ms": round(1000 * percentile(ordered, 0.99), 2),
            "server_cpu_percent": round(100 * cpu / wall, 1),
            "server_us_per_handshake": round(1e6 * cpu / len(latencies), 1) if latencies else None,
            "errors": len(errors), "first_error": errors[0] if errors else None}


def start_bare(bench: Bench, tls: Pki | None) -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCH / "bare_websockets.py"), "--host", HOST, "--port", str(port)]
    if tls is not None:
        argv += tls.serve_args()
    workdir = Path(bench.stack.enter_context(tempfile.TemporaryDirectory(prefix="chargebay-bench-")))
    log_path = workdir / "server.log"
    with log_path.open("wb") as out:
        process = bench.cpus.spawn(bench.cpus.server, argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
    bench.children.append(process)
    server = Server(BARE, process, port, log_path)
    deadline = time.monotonic() + 30
    while not _accepts(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{BARE} did not start:\n{server.tail()}")
        time.sleep(0.1)
    return server


async def run(bench: Bench, pki: Pki, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {mode: {} for mode in MODES}
    for tls in (False, True):
        modes = [m for m in MODES if (m != "ws") == tls]
        for label in (CHARGEBAY, BARE):
            if label == CHARGEBAY:
                server = bench.start_server(CHARGEBAY, env={"CHARGEBAY_UNKNOWN_CHARGE_POINTS": "accept"},
                                            extra=pki.serve_args() if tls else ())
            else:
                server = start_bare(bench, pki if tls else None)
            try:
                for mode in modes:
                    ids = ids_for(mode, args.concurrency)
                    if label == CHARGEBAY:
                        assert server.http_port is not None
                        await register(server.http_port, mode, ids)
                    log(f"bench: {mode} against {label}")
                    results[mode][label] = await storm(server.ws_port, mode, ids, pki, args.duration, server)
            finally:
                bench.stop(server.process)
    return results


def render(results: dict[str, Any]) -> list[str]:
    lines = ["", f"{results['concurrency']} clients connecting and closing for {results['duration_s']:g} s "
                 f"per row; server CPUs {results['server_cpus']}, clients on {results['load_cpus']}",
             f"{'mode':<11}{'server':<17}{'handshakes/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'CPU %':>8}"
             f"{'µs CPU/hs':>11}{'errors':>8}"]
    for mode, by_server in results["modes"].items():
        for label, r in by_server.items():
            lines.append(f"{mode:<11}{label:<17}{r['handshakes_per_s']:>13}{r['p50_ms']:>9}{r['p99_ms']:>9}"
                         f"{r['server_cpu_percent']:>8}{r['server_us_per_handshake']!s:>11}{r['errors']:>8}")
    for mode, ratio in results["cpu_ratio"].items():
        lines.append(f"{mode}: chargebay CPU per handshake = {ratio} x the bare server's")
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per mode and server")
    parser.add_argument("--concurrency", type=int, default=20, help="clients connecting at once")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    parser.add_argument("--chargebay-cmd", help=argparse.SUPPRESS)  # csms_load's Bench reads it
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    try:
        root = Path(bench.stack.enter_context(tempfile.TemporaryDirectory(prefix="chargebay-pki-")))
        log("bench: making the CA and certificates")
        pki = Pki(root, ids_for("wss+mtls", args.concurrency))
        modes = asyncio.run(run(bench, pki, args))
    finally:
        bench.stop_all()
    ratios = {mode: round(r[CHARGEBAY]["server_us_per_handshake"] / r[BARE]["server_us_per_handshake"], 2)
              for mode, r in modes.items()
              if r[CHARGEBAY]["server_us_per_handshake"] and r[BARE]["server_us_per_handshake"]}
    results = {"duration_s": args.duration, "concurrency": args.concurrency,
               "server_cpus": sorted(bench.cpus.server), "load_cpus": sorted(bench.cpus.load),
               "modes": modes, "cpu_ratio": ratios}
    return publish(results, args.output, render)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("bench: interrupted; every server stopped")
        sys.exit(130)
