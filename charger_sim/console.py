"""`chargebay sim`: a fleet in the terminal, with a progress bar and a live summary."""

from __future__ import annotations

import signal
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from charger_sim.fleet import Fleet, FleetOptions


def _table(totals: dict[str, int], rate: float, elapsed: float) -> Table:
    table = Table(title="chargebay sim", show_header=True, header_style="bold")
    for col in ("stations", "connected", "booted", "transactions", "rejected", "charging", "calls/s",
                "errors", "queued", "elapsed"):
        table.add_column(col, justify="right")
    table.add_row(str(totals["stations"]), str(totals["connected"]), str(totals["booted"]),
                  str(totals["transactions"]), str(totals["rejected"]), str(totals["charging"]),
                  f"{rate:,.0f}", str(totals["call_errors"]), str(totals["queued"]), f"{elapsed:,.0f} s")
    return table


def run(opts: FleetOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the fleet until ``opts.duration`` or Ctrl-C; return the final counters."""
    console = console or Console()
    fleet = Fleet(opts)
    interrupted = False

    def on_signal(*_: Any) -> None:
        nonlocal interrupted
        interrupted = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    fleet.start()
    console.print(f"[bold]{opts.count}[/] stations ({opts.template}) -> {opts.csms} "
                  f"in {len(fleet.processes)} worker process(es), ramp {opts.ramp:g}/s")
    deadline = None if opts.duration is None else time.monotonic() + opts.duration + 15
    totals = fleet.poll()
    most_booted = 0
    try:
        with Progress(TextColumn("booting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            bar = progress.add_task("boot", total=opts.count)
            while not interrupted and fleet.alive():
                totals = fleet.poll()
                most_booted = max(most_booted, totals["booted"])
                progress.update(bar, completed=totals["booted"])
                if totals["booted"] >= opts.count:
                    break
                time.sleep(0.25)
        last_calls, last_t = fleet.poll()["calls"], time.monotonic()
        with Live(console=console, refresh_per_second=2) as live:
            while not interrupted and fleet.alive() and (deadline is None or time.monotonic() < deadline):
                time.sleep(1.0)
                totals = fleet.poll()
                most_booted = max(most_booted, totals["booted"])
                now = time.monotonic()
                rate = (totals["calls"] - last_calls) / max(now - last_t, 1e-6)
                last_calls, last_t = totals["calls"], now
                live.update(_table(totals, rate, now - fleet.started))
    finally:
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    final = fleet.poll()
    for key in ("transactions", "calls", "call_errors", "connects", "rejected"):
        totals[key] = final[key]
    totals["booted"] = most_booted
    elapsed = time.monotonic() - fleet.started
    console.print(_table(totals, totals["calls"] / max(elapsed, 1e-6), elapsed))
    console.print(f"done: {most_booted}/{opts.count} stations booted (most at once), "
                  f"{totals['transactions']} transactions ({totals['rejected']} sessions rejected by the "
                  f"CSMS), {totals['calls']} calls, {totals['call_errors']} CALLERRORs")
    return totals
