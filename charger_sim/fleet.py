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


def parse_range(text: str, option: str) -> tuple[float, float]:
    """``5-60`` -> (5.0, 60.0), ``30`` -> (30.0, 30.0): seconds drawn from that range; ValueError
    (naming ``option``) for anything else."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not SECONDS or MIN-MAX (e.g. 5-60)") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"{option}: {text!r}: give 0 <= MIN <= MAX")
    return bounds


def read_id_tags(path: str) -> list[str]:
    """The id tags of a file: one a line, blank lines and lines starting with # left out."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"--id-tags-file: cannot read {path}: {exc.strerror or exc}") from None
    tags = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tags:
        raise ValueError(f"--id-tags-file: {path} names no id tag (one a line, # for comments)")
    return tags


STOP_GRACE = 10.0  # seconds the stations' last transaction messages get to reach the CSMS
# seconds a worker may take to end after it was asked to: the drivers leave (STOP_GRACE at most),
# the sessions end (STOP_GRACE), the sockets close (10 s), and some slack for a loaded machine
STOP_WAIT = 3 * STOP_GRACE + 15

# answers within each bound of chargepoint.client.ANSWER_BUCKETS_MS (the last: slower), in ms
ANSWER_COUNTERS = tuple(f"answered_le_{ms}ms" for ms in ANSWER_BUCKETS_MS) + ("answered_slower",)
# booted: now; boot_accepted: the CSMS accepted its boot in this run (connected now or not);
# sessions: transactions started that the CSMS accepted; rejected (and "rejected:<status>", by
# the CSMS's status): sessions it refused, at the Authorize or in its answer to the start; open:
# transactions running; stopping: workers ending their run; ended: transactions the end of the run
# ended; ends_queued: of those (and earlier ends), the ones the CSMS had not answered when the
# stations closed, kept for the next run; "unbooted:<why>": stations never accepted at boot
COUNTERS = ("stations", "connected", "booted", "boot_accepted", "boot_pending", "boot_rejected",
            "transactions", "sessions", "rejected", "charging", "open", "calls", "call_errors",
            "queued", "connects", "stopping", "ended", "ends_queued", *ANSWER_COUNTERS)
REJECTED = "rejected:"
UNBOOTED = "unbooted:"
NOT_YET = "not connected yet"  # the why of a station whose first connect is still to come


def _counters(stations: list[StationTransactions]) -> dict[str, int]:
    """The worker's totals (once a second over thousands of stations: kept to plain loops)."""
    connected = booted = charging = running = queued = 0
    transactions = unaccepted = calls = call_errors = connects = rejected = 0
    registrations: dict[str | None, int] = {}
    reasons: dict[str, int] = {}
    for st in stations:
        connected += st.connected
        booted += st.booted.is_set()
        registrations[st.registration] = registrations.get(st.registration, 0) + 1
        for c in st.connectors.values():
            if c.status == "Charging":
                charging += 1
            if c.tx is not None:
                running += 1
        queued += st.outbox.backlog  # waiting their turn (the one under way aside)
        stats = st.stats
        transactions += stats["transactions"]
        # a start counts once the CSMS has it: not while it waits in the queue, nor once refused
        unaccepted += st.refused_starts + (_queued(st)[0] if st.outbox.pending else 0)
        calls += stats["calls"]
        call_errors += stats["call_errors"]
        connects += stats["connects"]
        rejected += stats["rejected"]
        for status, n in st.refusals.items():
            reasons[REJECTED + status] = reasons.get(REJECTED + status, 0) + n
    totals = {"stations": len(stations), "connected": connected, "booted": booted,
              "boot_accepted": registrations.get("Accepted", 0),
              "boot_pending": registrations.get("Pending", 0),
              "boot_rejected": registrations.get("Rejected", 0),
              "transactions": transactions, "sessions": transactions - unaccepted,
              "charging": charging, "open": running, "calls": calls, "call_errors": call_errors,
              "queued": queued, "connects": connects, "rejected": rejected, **reasons}
    totals.update(zip(ANSWER_COUNTERS, ANSWERED, strict=True))
    return totals


def _queued(st: StationTransactions) -> tuple[int, int]:
    """Transaction starts and ends waiting for the CSMS's answer (on disk, for the next run if
    this one ends first)."""
    starts = ends = 0
    for _, action, payload in st.outbox.pending:
        kind = action if action != "TransactionEvent" else payload.get("eventType")
        starts += kind in ("StartTransaction", "Started")
        ends += kind in ("StopTransaction", "Ended")
    return starts, ends


def _not_booted(stations: list[StationTransactions], errors: dict[str, str]) -> dict[str, int]:
    """Why stations the CSMS never accepted did not boot (``UNBOOTED`` + why: a boot answered
    Pending or Rejected, or the last connect error), so a wrong URL or password shows."""
    why: dict[str, int] = {}
    for st in stations:
        if st.registration == "Accepted":
            continue
        reason = UNBOOTED + (f"boot {st.registration}" if st.registration
                             else errors.get(st.identity, NOT_YET))
        why[reason] = why.get(reason, 0) + 1
    return why


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
    errors: dict[str, str] = {}  # identity -> its last connect error
    stopping = False

    def note(st: Any, kind: str, data: dict[str, Any]) -> None:
        if kind in ("connect_failed", "connect_refused"):
            errors[st.identity] = data["error"]

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
                             seed=opts.seed, queue=queue, log_size=opts.log_size, on_event=note)
            stations.append(st)
            tasks.append(asyncio.create_task(st.run()))
            if opts.atg:
                generators.append(Generator(st, AtgSettings(**opts.atg_settings)))
                generators[-1].enable()

    async def reporter() -> None:
        while True:
            # why stations are not in, as it happens: a wrong password or URL shows in the
            # progress lines, not only in the final notes
            report.put((worker, {**_counters(stations), **_not_booted(stations, errors),
                                 "stopping": int(stopping)}))
            await asyncio.sleep(1.0)

    ramp_task = asyncio.create_task(ramp())
    report_task = asyncio.create_task(reporter())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), opts.duration)
    ramp_task.cancel()
    stopping = True
    report.put((worker, {**_counters(stations), "stopping": 1}))  # the parent learns it at once
    # the drivers leave: no new session starts while others end (one being started finishes)
    await asyncio.gather(*(generator.leave(STOP_GRACE) for generator in generators))
    # every running session ends (StopTransaction Local, on disk first) and gets a few seconds to
    # reach the CSMS; what does not is sent by the next run of these stations
    ended = await asyncio.gather(*(st.shutdown("Local", STOP_GRACE) for st in stations))
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    report_task.cancel()
    final = {**_counters(stations), **_not_booted(stations, errors), "ended": sum(ended),
             "ends_queued": sum(_queued(st)[1] for st in stations)}
    report.put((worker, final))
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
        self.ending: dict[int, int] = {}  # worker -> transactions running as it began to stop
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
            if counters.get("stopping") and worker not in self.ending:
                self.ending[worker] = counters["open"]
        totals = dict.fromkeys(COUNTERS, 0)  # and the reasons (rejected:..., unbooted:...) found
        for counters in self.latest.values():
            for k, v in counters.items():
                totals[k] = totals.get(k, 0) + v
        return totals

    def alive(self) -> bool:
        return any(p.is_alive() for p in self.processes)

    def request_stop(self) -> None:
        """Ask the workers to end their run (SIGTERM): their sessions end, then they exit."""
        for p in self.processes:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGTERM)

    def kill(self) -> None:
        """End the workers now (what they had not sent stays on disk for the next run)."""
        for p in self.processes:
            if p.is_alive():
                p.kill()
                p.join(5)

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """:meth:`request_stop`, then wait ``timeout`` seconds for the workers, then :meth:`kill`."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(deadline - time.monotonic(), 0.1))
        self.kill()

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid]

