"""Many stations at once: spread over worker processes, ramped, with live counters.

Each worker process runs its share of the stations as asyncio tasks and reports counters once a
second; the parent adds them up for the progress display and the final summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chargepoint.client import ANSWER_BUCKETS_MS, ANSWERED
from charger_sim.atg import AtgSettings, Generator
from charger_sim.station import new_station
from charger_sim.template import load_template
from charger_sim.transactions import StationTransactions
from common.durable import DurableQueue
from common.limits import raise_open_files_limit
from common.loop import run as run_loop
from common.settings import get_settings


@dataclass
class FleetOptions:
    csms: str
    count: int = 1
    template: str = "ac-wallbox"
    prefix: str = "SIM"
    atg: bool = False
    duration: float | None = None
    ramp: float = 200.0  # new connections per second, over all workers
    workers: int = 0  # 0: one per core
    seed: int | None = None
    state_dir: str = field(default_factory=lambda: str(get_settings().sim_dir))
    log_size: int = 20
    overrides: dict[str, Any] = field(default_factory=dict)
    atg_settings: dict[str, Any] = field(default_factory=dict)
    mix: dict[str, int] = field(default_factory=dict)  # OCPP version -> percent of the stations

    def identity(self, n: int) -> str:
        return f"{self.prefix}-{n:05d}"

    def version(self, n: int) -> str | None:
        """The OCPP version of station ``n`` under ``mix``, else the template's own (None). The
        versions interleave in their shares (70/30: stations 4, 7, 10, ... speak 2.0.1, three
        of every ten), so a small fleet is mixed too and station ``n`` keeps its version."""
        if not self.mix:
            return None
        first, *others = self.mix
        for version in others:
            share = self.mix[version]
            if n * share // 100 > (n - 1) * share // 100:
                return version
        return first


def parse_mix(text: str) -> dict[str, int]:
    """``1.6=70,2.0.1=30`` -> {"1.6": 70, "2.0.1": 30}; ValueError unless the versions are 1.6
    and 2.0.1 and the percentages add up to 100."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        version, _, percent = part.partition("=")
        if version not in ("1.6", "2.0.1") or not percent.strip().isdigit():
            raise ValueError(f"--mix: {part!r} is not VERSION=PERCENT with VERSION 1.6 or 2.0.1")
        mix[version] = int(percent)
    if sum(mix.values()) != 100:
        raise ValueError(f"--mix: the percentages add up to {sum(mix.values())}, not 100")
    return mix


STOP_GRACE = 10.0  # seconds the stations' last transaction messages get to reach the CSMS

# answers within each bound of chargepoint.client.ANSWER_BUCKETS_MS (the last: slower), in ms
ANSWER_COUNTERS = tuple(f"answered_le_{ms}ms" for ms in ANSWER_BUCKETS_MS) + ("answered_slower",)
COUNTERS = ("stations", "connected", "booted", "transactions", "charging", "calls", "call_errors",
            "queued", "connects", "rejected", *ANSWER_COUNTERS)


def _counters(stations: list[StationTransactions]) -> dict[str, int]:
    """The worker's totals (once a second over thousands of stations: kept to plain loops)."""
    connected = booted = charging = queued = 0
    transactions = calls = call_errors = connects = rejected = 0
    for st in stations:
        connected += st.connected
        booted += st.booted.is_set()
        for c in st.connectors.values():
            if c.status == "Charging":
                charging += 1
        queued += st.outbox.backlog  # waiting their turn (the one under way aside)
        stats = st.stats
        transactions += stats["transactions"]
        calls += stats["calls"]
        call_errors += stats["call_errors"]
        connects += stats["connects"]
        rejected += stats["rejected"]
    totals = {"stations": len(stations), "connected": connected, "booted": booted,
              "transactions": transactions, "charging": charging, "calls": calls,
              "call_errors": call_errors, "queued": queued, "connects": connects,
              "rejected": rejected}
    totals.update(zip(ANSWER_COUNTERS, ANSWERED, strict=True))
    return totals


async def run_share(opts: FleetOptions, numbers: list[int], report: Any, worker: int) -> None:
    """Run the stations numbered ``numbers`` until the duration ends or SIGTERM/SIGINT."""
    raise_open_files_limit()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    template = load_template(opts.template, opts.overrides)
    templates = {v: template.model_copy(update={"ocpp_version": v}) for v in opts.mix}
    queue = DurableQueue(Path(opts.state_dir) / f"queue-{opts.prefix}-{worker}.db")
    stations: list[StationTransactions] = []
    generators: list[Generator] = []
    tasks: list[asyncio.Task[None]] = []
    share_rate = max(opts.ramp / max(opts.workers, 1), 1.0)

    async def ramp() -> None:
        # On a schedule (t0 + k/rate), not sleep-after-each: a busy loop must not slow the ramp.
        t0 = loop.time()
        for k, n in enumerate(numbers):
            if stop.is_set():
                return
            delay = t0 + k / share_rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            version = opts.version(n)
            st = new_station(opts.identity(n), templates[version] if version else template, opts.csms,
                             seed=opts.seed, queue=queue, log_size=opts.log_size)
            stations.append(st)
            tasks.append(asyncio.create_task(st.run()))
            if opts.atg:
                generators.append(Generator(st, AtgSettings(**opts.atg_settings)))
                generators[-1].enable()

    async def reporter() -> None:
        while True:
            report.put((worker, _counters(stations)))
            await asyncio.sleep(1.0)

    ramp_task = asyncio.create_task(ramp())
    report_task = asyncio.create_task(reporter())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), opts.duration)
    ramp_task.cancel()
    for generator in generators:  # the drivers leave: no new session starts while others end
        generator.disable()
    # every running session ends (StopTransaction Local, on disk first) and gets a few seconds to
    # reach the CSMS; what does not is sent by the next run of these stations
    await asyncio.gather(*(st.shutdown("Local", STOP_GRACE) for st in stations))
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    report.put((worker, _counters(stations)))
    report_task.cancel()
    queue.close()


def _worker_main(opts: FleetOptions, numbers: list[int], report: Any, worker: int) -> None:
    # Thousands of long-lived stations: keep start-up objects out of the collector's way and
    # collect the young generation less often (full collections paused a 4,000-station worker
    # for over a second).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    run_loop(run_share(opts, numbers, report, worker))


class Fleet:
    """Starts the worker processes and keeps the latest counters of each."""

    def __init__(self, opts: FleetOptions) -> None:
        self.opts = opts
        self.workers = opts.workers or os.cpu_count() or 1
        opts.workers = self.workers
        ctx = mp.get_context("spawn")
        self.report = ctx.Queue()
        shares = [list(range(w + 1, opts.count + 1, self.workers)) for w in range(self.workers)]
        self.processes = [ctx.Process(target=_worker_main, args=(opts, share, self.report, w),
                                      name=f"sim-worker-{w}", daemon=True)
                          for w, share in enumerate(shares) if share]
        self.latest: dict[int, dict[str, int]] = {}
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for p in self.processes:
            p.start()

    def poll(self) -> dict[str, int]:
        while True:
            try:
                worker, counters = self.report.get_nowait()
            except Exception:
                break
            self.latest[worker] = counters
        totals = dict.fromkeys(COUNTERS, 0)
        for counters in self.latest.values():
            for k, v in counters.items():
                totals[k] += v
        return totals

    def alive(self) -> bool:
        return any(p.is_alive() for p in self.processes)

    def stop(self, timeout: float = 15.0) -> None:
        for p in self.processes:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(deadline - time.monotonic(), 0.1))
            if p.is_alive():
                p.kill()
                p.join(5)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid]

