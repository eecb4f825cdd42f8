"""The dashboard's network page with a large fleet connected, one command (issue #21).

    python bench/fleet_page.py [--stations 10000] [--window 60] [--ramp 500] [--workers 0]

Starts ``chargebay serve`` (SQLite, a temp dir, free ports: bench/csms_load.py's helpers) and a
simulated fleet (charger_sim's Fleet: ``ac-wallbox`` stations, 2 connectors each, the automatic
transaction generator on with short sessions, so statuses change all the time: idle 30-120 s,
sessions 60-300 s, MeterValues every 30 s). Once the fleet is up, one headless Chromium opens two
network pages, logged in with the same token, side by side for ``--window`` seconds (so both see the
same events), once the fleet has settled (half its connectors charging); then each page alone is
timed searching (side by side, the reference's downloads would slow the server for the other):

- **now**: the page as shipped (the server pages, sorts and filters; the page follows its rows'
  events alone and reads the fleet's totals every 5 s);
- **before**, the reference, measured in the same run: the same page with the network script it
  replaced (bench/reference/network_before.js, from commit 64fc938: up to 1,000 charge points
  downloaded, then downloaded again after every burst of events of the whole fleet).

Per page: bytes received per minute (Chrome's own count of encoded bytes: the event stream
included), requests per minute, the main thread's stalls (a 100 ms timer's lateness: p99 and max),
and how long a search for one charge point takes to show it. Prints them and the ratio of the
bytes per minute (before / now); results also in bench/results/fleet_page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference" / "network_before.js"
RESULTS = HERE / "results" / "fleet_page.json"
CHROMIUM = "/usr/bin/chromium"
# statuses change often: each connector charges 1-5 min, rests 0.5-2 min
ATG = {"idle": (30.0, 120.0), "plug_delay": (0.5, 2.0), "duration": (60.0, 300.0), "probability": 1.0}
LAG_PROBE = """
window.__lag = [];
let last = performance.now();
setInterval(() => { const now = performance.now(); window.__lag.push(now - last - 100); last = now; }, 100);
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Meter:
    """What one page received, counted by Chrome (CDP Network events)."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        self.requests = 0
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.dataReceived", self._data)
        session.on("Network.requestWillBeSent", self._request)

    def _data(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength") or 0)

    def _request(self, _: dict[str, Any]) -> None:
        self.requests += 1

    def reset(self) -> None:
        self.bytes = self.requests = 0


def open_page(browser: Any, base: str, token: str, before: bool) -> tuple[Any, Meter]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(LAG_PROBE)
    if before:
        old = REFERENCE.read_text()
        page.route("**/ui/static/network.js", lambda route: route.fulfill(
            body=old, content_type="text/javascript"))
        page.route("**/ui/static/network_totals.js", lambda route: route.fulfill(
            body="const NetworkTotals = {};", content_type="text/javascript"))
    meter = Meter(page)
    page.set_default_timeout(180_000)  # a 2-core machine also running 10,000 stations
    page.goto(base + "/")
    page.fill('form[data-form="token"] [name="token"]', token)
    page.click('form[data-form="token"] button[type=submit]')
    page.wait_for_selector('a.cp[data-id]', timeout=120_000)
    return page, meter


def lag(page: Any) -> dict[str, float]:
    found = sorted(page.evaluate("window.__lag.splice(0)"))
    if not found:
        return {"p99_ms": 0.0, "max_ms": 0.0}
    return {"p99_ms": round(found[int(0.99 * (len(found) - 1))], 1), "max_ms": round(found[-1], 1)}


def search_ms(page: Any, identity: str) -> float | None:
    """Type one charge point's id in the search box; the time until its row (or card) shows
    (None: not within 30 s — the page it replaced held the first 1,000 charge points only)."""
    from playwright.sync_api import TimeoutError as Timeout

    page.fill("#search", "")
    page.wait_for_timeout(500)
    started = time.perf_counter()
    page.fill("#search", identity)
    try:
        page.wait_for_selector(f'a.cp[data-id="{identity}"]', timeout=30_000)
    except Timeout:
        return None
    took = (time.perf_counter() - started) * 1000
    page.fill("#search", "")
    return round(took, 1)


def wait_booted(fleet: Any, stations: int, timeout: float) -> dict[str, int]:
    deadline, last = time.monotonic() + timeout, 0.0
    while True:
        counters = fleet.poll()
        if counters.get("booted", 0) >= stations or time.monotonic() > deadline:
            return counters
        if time.monotonic() - last >= 5.0:
            last = time.monotonic()
            log(f"fleet_page: connected {counters.get('connected', 0)}, booted {counters.get('booted', 0)}"
                f"/{stations}, charging {counters.get('charging', 0)}")
        time.sleep(0.5)


def settle(fleet: Any, charging: int, timeout: float) -> None:
    """Until ``charging`` connectors charge (the generator starts sessions 30-120 s after boot):
    the window then measures the steady churn, not the start storm."""
    deadline, last = time.monotonic() + timeout, 0.0
    while (now := time.monotonic()) < deadline:
        found = fleet.poll().get("charging", 0)
        if found >= charging:
            return
        if now - last >= 5.0:
            last = now
            log(f"fleet_page: settling, {found}/{charging} connectors charging")
        time.sleep(0.5)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from csms_load import CHARGEBAY, TOKEN, Bench, Cpus
    from playwright.sync_api import sync_playwright

    from charger_sim.fleet import Fleet, FleetOptions

    cpus = Cpus()
    cpus.server = cpus.load = set(os.sched_getaffinity(0))
    bench = Bench(args, cpus=cpus)
    fleet = None
    try:
        server = bench.start_server(CHARGEBAY, env={"CHARGEBAY_ACCEPT_UNKNOWN_ID_TAGS": "true"})
        base = f"http://127.0.0.1:{server.http_port}"
        state = Path(bench.stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-page-")))
        fleet = Fleet(FleetOptions(
            csms=f"ws://127.0.0.1:{server.ws_port}/ocpp", count=args.stations, prefix="FP", atg=True,
            ramp=args.ramp, workers=args.workers, seed=1, state_dir=str(state),
            overrides={"meter_interval": 30}, atg_settings=dict(ATG)))
        fleet.start()
        booted = wait_booted(fleet, args.stations, 120 + args.stations / args.ramp)
        settle(fleet, args.stations, args.settle)  # half the connectors (2 a station)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            names = FleetOptions(csms="", prefix="FP")
            # one of the first thousand (which the old page held), and the last station
            first, last = names.identity(max(1, min(args.stations, 1000) // 2)), names.identity(args.stations)
            found: dict[str, Any] = {}
            pages = {name: open_page(browser, base, TOKEN, before=name == "before") for name in ("now", "before")}
            for page, meter in pages.values():
                lag(page)
                meter.reset()
            # side by side, so both see the same events; the searches after, each page alone (the
            # reference's downloads would slow the server for the other's search)
            log(f"fleet_page: measuring both pages for {args.window:g} s")
            started = time.monotonic()
            while time.monotonic() - started < args.window:
                for page, _ in pages.values():
                    page.wait_for_timeout(250)  # lets Playwright deliver the CDP events
            wall = time.monotonic() - started
            for name, (page, meter) in pages.items():
                found[name] = {"bytes_per_min": round(meter.bytes * 60 / wall),
                               "requests_per_min": round(meter.requests * 60 / wall, 1), **lag(page)}
                page.context.close()
            for name in ("now", "before"):
                page, _ = open_page(browser, base, TOKEN, before=name == "before")
                found[name]["search_ms"] = search_ms(page, first)
                found[name]["search_last_ms"] = search_ms(page, last)
                page.context.close()
            browser.close()
        counters = fleet.poll()
        return {"stations": args.stations, "booted": booted.get("booted", 0),
                "charging_at_end": counters.get("charging", 0), "window_s": round(wall, 1), **found,
                "ratio_bytes": round(found["before"]["bytes_per_min"] / max(found["now"]["bytes_per_min"], 1), 1)}
    finally:
        if fleet is not None:
            fleet.stop()
        bench.stop_all()


def render(r: dict[str, Any]) -> str:
    rows = [f"fleet_page: {r['booted']}/{r['stations']} stations booted, {r['charging_at_end']} connectors "
            f"charging at the end; both pages open {r['window_s']:g} s side by side, then each searched alone",
            f"{'page':<8}{'KB/min':>10}{'requests/min':>14}{'stall p99 ms':>14}{'stall max ms':>14}"
            f"{'search ms':>11}{'search last ms':>16}"]
    for name in ("now", "before"):
        p = r[name]
        rows.append(f"{name:<8}{p['bytes_per_min'] / 1024:>10.1f}{p['requests_per_min']:>14g}{p['p99_ms']:>14g}"
                    f"{p['max_ms']:>14g}{_ms(p['search_ms']):>11}{_ms(p['search_last_ms']):>16}")
    rows.append(f"ratio (before/now) of bytes per minute: {r['ratio_bytes']:g}x")
    if not r["before"]["bytes_per_min"] or not r["charging_at_end"]:
        rows.append("warning: the fleet changed little in the window (the generator rests 30-120 s between "
                    "sessions): these figures say nothing; give a longer --window or more --stations")
    return "\n".join(rows)


def _ms(value: float | None) -> str:
    return "not shown" if value is None else f"{value:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds both pages are measured")
    parser.add_argument("--ramp", type=float, default=500.0, help="new connections per second")
    parser.add_argument("--workers", type=int, default=0, help="simulator processes (0: one per core)")
    parser.add_argument("--settle", type=float, default=180.0,
                        help="seconds at most to wait for half the connectors to charge before measuring")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.chargebay_cmd = None  # csms_load's Bench: our own server
    sys.path.insert(0, str(HERE))
    result = measure(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
