"""`chargebay sim`: a fleet in the terminal or in a log, and one table that sums the run up.

On a terminal it shows a progress bar while the stations boot, then a live table. Piped to a file
or a CI log (where a redrawn view prints nothing until the end) it prints one plain line every
few seconds instead. Either way the run ends with exactly one table, from the workers' final
counters (not the figures of some moment during the stop), and a note for each thing that went
wrong: sessions the CSMS refused (by its reason), stations that never booted (and why),
transaction ends that did not reach the CSMS.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from charger_sim.fleet import NOT_YET, REJECTED, STOP_WAIT, UNBOOTED, Fleet, FleetOptions

PROGRESS_EVERY = 5.0  # seconds between two plain progress lines
START_SLACK = 15.0  # seconds past --duration before the workers are told to stop (they stop on their own)

# what to do about a refusal, for the note under the table
ADVICE = {
    "ConcurrentTx": "the tag is in as many sessions as the CSMS allows it (often one): give more "
                    "tags (--id-tag, --id-tags-file) or raise their limit there",
    "Invalid": "the CSMS does not know the tag: give tags it knows (--id-tag, --id-tags-file)",
    "Blocked": "the tag is blocked at the CSMS", "Expired": "the tag has expired at the CSMS",
}


def _count(n: int, thing: str) -> str:
    """``1 transaction``, ``2 transactions``."""
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _by_reason(totals: dict[str, int], prefix: str) -> list[tuple[str, int]]:
    """(reason, count) of the counters named ``prefix``+reason, the commonest first."""
    found = [(key[len(prefix):], n) for key, n in totals.items() if key.startswith(prefix) and n]
    return sorted(found, key=lambda item: (-item[1], item[0]))


def _reasons(totals: dict[str, int]) -> str:
    """``ConcurrentTx 7, Invalid 2``: the refused sessions by the CSMS's reason."""
    return ", ".join(f"{reason} {n}" for reason, n in _by_reason(totals, REJECTED))


def _rejected(totals: dict[str, int]) -> str:
    reasons = _reasons(totals)
    return str(totals["rejected"]) + (f" ({reasons})" if reasons else "")


def progress_line(totals: dict[str, int], count: int, elapsed: float) -> str:
    """One plain line of where the run is (the same figures as the final table)."""
    line = (f"[{elapsed:5.0f} s] connected {totals['connected']}/{count}, booted {totals['booted']}, "
            f"charging {totals['charging']}, sessions started {totals['sessions']}, "
            f"rejected {_rejected(totals)}, errors {totals['call_errors']}, queued {totals['queued']}")
    failing = [(why, n) for why, n in _by_reason(totals, UNBOOTED) if why != NOT_YET]
    if failing:
        line += "; not booted " + ", ".join(f"{n} ({why})" for why, n in failing)
    if totals["stopping"]:
        line += f"; stopping: {_count(totals['open'], 'transaction')} still running"
    return line


def _live_table(totals: dict[str, int], rate: float, elapsed: float) -> Table:
    table = Table(title="chargebay sim (running)", show_header=True, header_style="bold")
    figures = {"stations": totals["stations"], "connected": totals["connected"], "booted": totals["booted"],
               "charging": totals["charging"], "sessions": totals["sessions"], "rejected": totals["rejected"],
               "calls/s": f"{rate:,.0f}", "errors": totals["call_errors"], "queued": totals["queued"],
               "elapsed": f"{elapsed:,.0f} s"}
    for col in figures:
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in figures.values()))
    if totals["stopping"]:
        table.caption = f"stopping: {_count(totals['open'], 'transaction')} still running"
    return table


def final_table(totals: dict[str, int], opts: FleetOptions, elapsed: float, terminal: bool) -> Table:
    """The one summary of the run: what booted, what the CSMS did with the sessions, what the end
    of the run stopped (two columns, so it fits any width and reads in a log)."""
    table = Table(title=f"chargebay sim: {_count(opts.count, 'station')}, {elapsed:,.0f} s", show_header=False,
                  box=box.SIMPLE if terminal else box.ASCII)
    table.add_column("figure", style="bold" if terminal else None)
    table.add_column("value")
    rows = [
        ("stations", f"{totals['stations']} of {opts.count} started ({opts.template})"),
        ("booted", f"{totals['boot_accepted']} (the CSMS accepted their boot)"
         + (f", {totals['boot_pending']} Pending" if totals["boot_pending"] else "")
         + (f", {totals['boot_rejected']} Rejected" if totals["boot_rejected"] else "")),
        ("sessions started", f"{totals['sessions']} (accepted by the CSMS)"),
        ("sessions rejected", _rejected(totals)),
        ("stopped at the end", _count(totals["ended"], "transaction") + (
            f", {totals['ends_queued']} ends not answered (sent at the next run)" if totals["ends_queued"]
            else ", all answered by the CSMS" if totals["ended"] else "")),
        ("calls", f"{totals['calls']:,} ({totals['calls'] / max(elapsed, 1e-6):,.0f}/s), "
                  f"{totals['call_errors']} CALLERRORs"),
        ("connects", f"{totals['connects']:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def notes(totals: dict[str, int], opts: FleetOptions) -> list[str]:
    """What went wrong, each with what to do about it (nothing when the run went well)."""
    found = []
    reasons = _by_reason(totals, REJECTED)
    if reasons:
        tried = totals["sessions"] + totals["rejected"]
        advice = "; ".join(f"{r}: {ADVICE[r]}" for r, _ in reasons if r in ADVICE)
        found.append(f"note: the CSMS rejected {totals['rejected']} of {tried} sessions ({_reasons(totals)})"
                     + (f"; {advice}" if advice else ""))
    for why, n in _by_reason(totals, UNBOOTED):
        hint = (" (a wrong or missing --password?)" if "HTTP 401" in why else
                " (the CSMS refuses this address after too many wrong passwords: wait, then give the "
                "right --password)" if "HTTP 429" in why else
                " (is the --csms path right? the station's identity is appended to it)" if "HTTP 404" in why else "")
        found.append(f"note: {_count(n, 'station')} did not boot: {why}{hint}")
    if totals["ends_queued"]:
        found.append(f"note: {totals['ends_queued']} transaction ends did not reach the CSMS in time; they are "
                     f"kept in {opts.state_dir} and sent when these stations run again")
    return found


class _Stop:
    """Ctrl-C and SIGTERM: the first asks the workers to end their run (sessions stopped and
    answered), a second one ends them at once."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.asked_at: float | None = None

    def __call__(self, *_: Any) -> None:
        if self.asked_at is None:
            self.ask()
        else:
            self.fleet.kill()

    def ask(self) -> None:
        if self.asked_at is None:
            self.asked_at = time.monotonic()
            self.fleet.request_stop()

    def patience(self) -> float:
        """Seconds the workers still get to end their run once asked (STOP_WAIT in all)."""
        asked = time.monotonic() if self.asked_at is None else self.asked_at
        return max(asked + STOP_WAIT - time.monotonic(), 0.0)


def run(opts: FleetOptions, console: Console | None = None, progress_every: float = PROGRESS_EVERY) -> dict[str, Any]:
    """Run the fleet until ``opts.duration`` or Ctrl-C / SIGTERM; print one final table; return
    the final counters."""
    console = console or Console()
    fleet = Fleet(opts)
    stop = _Stop(fleet)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    fleet.start()
    console.print(f"{opts.count} stations ({opts.template}) -> {opts.csms} in {len(fleet.processes)} worker "
                  f"process(es), ramp {opts.ramp:g}/s" + (f", for {opts.duration:g} s" if opts.duration else ""),
                  soft_wrap=True, highlight=False, markup=False)
    try:
        watch = _watch_terminal if console.is_terminal else _watch_plain
        watch(fleet, opts, console, stop, progress_every)
    finally:
        fleet.stop(stop.patience())
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    totals = fleet.poll()
    elapsed = time.monotonic() - fleet.started
    console.print(final_table(totals, opts, elapsed, console.is_terminal))
    for line in notes(totals, opts):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    return totals


def _running(fleet: Fleet, opts: FleetOptions, stop: _Stop) -> bool:
    """Whether to keep watching: the workers run; past the duration they are told to stop, and
    past STOP_WAIT after that they are ended."""
    now = time.monotonic()
    if opts.duration is not None and now > fleet.started + opts.duration + START_SLACK:
        stop.ask()
    if stop.asked_at is not None and now > stop.asked_at + STOP_WAIT:
        return False
    return fleet.alive()


def _watch_plain(fleet: Fleet, opts: FleetOptions, console: Console, stop: _Stop, every: float) -> None:
    """A progress line every ``every`` seconds, and one as the stop begins."""
    next_line, told = fleet.started + every, False
    while _running(fleet, opts, stop):
        time.sleep(0.25)
        totals = fleet.poll()
        now = time.monotonic()
        line = None
        if fleet.ending and not told:
            told = True
            running = _count(sum(fleet.ending.values()), "running transaction")
            line = f"[{now - fleet.started:5.0f} s] stopping: ending {running}"
        elif now >= next_line:
            line = progress_line(totals, opts.count, now - fleet.started)
        if line is not None:
            console.print(line, soft_wrap=True, highlight=False, markup=False)
            next_line = now + every


def _watch_terminal(fleet: Fleet, opts: FleetOptions, console: Console, stop: _Stop, _: float) -> None:
    """A progress bar while the stations boot, then a live table (both gone at the end, so the
    final table is the only one left on the screen)."""
    with Progress(TextColumn("booting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        bar = progress.add_task("boot", total=opts.count)
        while _running(fleet, opts, stop):
            totals = fleet.poll()
            progress.update(bar, completed=totals["booted"])
            if totals["booted"] >= opts.count or totals["stopping"]:
                break
            time.sleep(0.25)
    last_calls, last_t = fleet.poll()["calls"], time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=True) as live:
        while _running(fleet, opts, stop):
            time.sleep(0.5)
            totals = fleet.poll()
            now = time.monotonic()
            rate = (totals["calls"] - last_calls) / max(now - last_t, 1e-6)
            last_calls, last_t = totals["calls"], now
            live.update(_live_table(totals, rate, now - fleet.started))
