"""/metrics of a 10,000-charge-point fleet: what a scrape costs the central system (issue #21).

The fleet gauges (connector statuses by OCPP version, charge points offline, sessions open, kW
now and kWh today per site) are read from the store at every scrape (csms/exposition.py,
csms/queries/gauges.py). Measured: ``Exposition.render()`` — the three reads and the text
exposition, what one GET /metrics makes the central system do — on a store of N charge points
with 2 connectors each (90 % online, a third of them 2.0.1), H finished sessions per connector
on earlier days (the history a read must not grow with), and today: 30 % of the connectors
charging (an open session with its draw and register), 20 % with a session finished today;
half the charge points in load groups (5 sites, each with a feeder, and 1,000 connector-level
members). On SQLite, and on PostgreSQL when there is one (CHARGEBAY_BENCH_POSTGRES_URL, or the
server scripts/services.sh finds, as bench/cluster.py).

    python bench/metrics_scrape.py [--charge-points 10000] [--history 20] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cluster import fresh_database, postgres_admin_url
from csms_load import log, publish, revision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table  # noqa: E402

from chargebay.migrate import upgrade  # noqa: E402
from common.db import create_engine  # noqa: E402
from common.ratelimit import Throttles  # noqa: E402
from csms.energy.state import Layout  # noqa: E402
from csms.exposition import Exposition  # noqa: E402
from csms.queries.gauges import GaugeQueries  # noqa: E402
from csms.queries.load_groups import LoadGroupQueries  # noqa: E402
from csms.store.energy_models import LoadGroup, LoadGroupMember  # noqa: E402
from csms.store.models import ChargePoint, Connector, Transaction, table  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "metrics_scrape.json"
CHUNK = 5000  # rows per INSERT statement
SITES = 5
STATUSES = ("Available", "Preparing", "SuspendedEV", "Faulted", "Unavailable")


def fleet(charge_points: int, history: int, seed: int = 1) -> dict[Table, list[dict[str, Any]]]:
    """The rows, table by table, in the order they must be inserted."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    cps, connectors, past, sessions, groups, members = [], [], [], [], [], []  # past: earlier days
    for site in range(SITES):
        for offset, parent in ((1, None), (2, 2 * site + 1)):
            groups.append({"id": 2 * site + offset, "name": f"{'site' if parent is None else 'feeder'}-{site}",
                           "parent_id": parent, "limit_value": 1000.0, "unit": "A", "phases": 3,
                           "min_per_session": 0.0, "policy": "equal", "windows": "[]",
                           "timezone": "Europe/Berlin" if site % 2 else "UTC", "tag_priorities": "{}",
                           "created_at": now, "updated_at": now})
    for i in range(charge_points):
        cp = f"CP-{i:05d}"
        cps.append({"id": cp, "registration_status": "Accepted", "online": i % 10 != 0, "node_id": "node-1",
                    "created_at": now, "ocpp_version": "2.0.1" if i % 3 == 0 else "1.6", "security_profile": 0})
        if i < charge_points // 2:
            members.append({"group_id": 2 * (i % SITES) + 1 + i % 2, "kind": "charge_point", "charge_point_id": cp,
                            "connector_id": 0, "rating": 32.0, "priority": 0, "created_at": now})
        elif i < charge_points // 2 + 1000:
            members.append({"group_id": 2 * (i % SITES) + 1, "kind": "connector", "charge_point_id": cp,
                            "connector_id": 1, "rating": 32.0, "priority": 0, "created_at": now})
        for connector in (1, 2):
            draw = rng.random()
            status = "Charging" if draw < 0.3 else rng.choice(STATUSES)
            connectors.append({"charge_point_id": cp, "connector_id": connector, "status": status,
                               "error_code": "NoError", "updated_at": now})
            base = {"charge_point_id": cp, "connector_id": connector, "id_tag": "TAG", "id_tag_status": "Accepted",
                    "power_w": None, "energy_wh": None}
            for day in range(history, 0, -1):
                start = now - timedelta(days=day, hours=rng.random() * 20)
                past.append({**base, "meter_start": 1000 * day, "start_timestamp": start,
                             "meter_stop": 1000 * day + 900, "stop_timestamp": start + timedelta(hours=1),
                             "created_at": start})
            if draw < 0.3:  # charging now
                start = now - timedelta(minutes=rng.random() * 60)
                sessions.append({**base, "meter_start": 100_000, "start_timestamp": start, "meter_stop": None,
                                 "stop_timestamp": None, "created_at": start, "power_w": 7400.0,
                                 "energy_wh": 100_000 + rng.randrange(5000)})
            elif draw < 0.5:  # charged earlier today
                start = now - timedelta(minutes=90)
                sessions.append({**base, "meter_start": 100_000, "start_timestamp": start, "meter_stop": 101_000,
                                 "stop_timestamp": start + timedelta(minutes=60), "created_at": start})
    sessions = sorted(past + sessions, key=lambda row: row["start_timestamp"])  # ids grow with time, as a store's do
    return {table(ChargePoint): cps, table(Connector): connectors, table(Transaction): sessions,
            table(LoadGroup): groups, table(LoadGroupMember): members}


async def measure(url: str, charge_points: int, history: int, rounds: int) -> dict[str, Any]:
    await upgrade(url)
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            for target, rows in fleet(charge_points, history).items():
                for first in range(0, len(rows), CHUNK):
                    await conn.execute(target.insert(), rows[first:first + CHUNK])
        log(f"bench: the fleet stored in {time.perf_counter() - started:.1f} s")
        if url.startswith("postgresql"):  # as autovacuum would have by now
            async with engine.connect() as conn:
                await (await conn.get_raw_connection()).driver_connection.execute("ANALYZE")
        layout = Layout.of(*await LoadGroupQueries(engine).specs())
        queries = GaugeQueries(engine)
        renders, reads, size = [], [], 0
        for _ in range(rounds + 1):  # the first warms the caches: not counted
            exposition = Exposition(queries, lambda: layout, Throttles())  # a new one: no reuse
            began = time.perf_counter()
            text = await exposition.render()
            renders.append(time.perf_counter() - began)
            reads.append(float(next(line for line in text.decode().splitlines()
                                    if line.startswith("chargebay_fleet_gauges_read_seconds ")).split()[1]))
            size = len(text)
        return {"render_ms": _ms(renders[1:]), "read_ms": _ms(reads[1:]), "bytes": size,
                "sessions_stored": charge_points * 2 * history}
    finally:
        await engine.dispose()


def _ms(seconds: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(seconds) * 1000, 1), "max": round(max(seconds) * 1000, 1)}


def render(results: dict[str, Any]) -> list[str]:
    lines = [f"/metrics with {results['charge_points']:,} charge points "
             f"({results['charge_points'] * 2:,} connectors), {results['history']} days of history"]
    for store, found in results["stores"].items():
        if "skipped" in found:
            lines.append(f"  {store}: skipped ({found['skipped']})")
            continue
        lines.append(f"  {store}: render p50 {found['render_ms']['p50']} ms (max {found['render_ms']['max']}), "
                     f"of which the fleet reads p50 {found['read_ms']['p50']} ms; {found['bytes']:,} bytes; "
                     f"{found['sessions_stored']:,} past sessions stored")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charge-points", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=20, help="finished sessions per connector, one a day")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    stores: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="chargebay-metrics-") as folder:
        stores["SQLite"] = asyncio.run(measure(f"sqlite+aiosqlite:///{folder}/fleet.db", args.charge_points,
                                               args.history, args.rounds))
    admin, why = postgres_admin_url()
    if admin is None:
        stores["PostgreSQL"] = {"skipped": why}
    else:
        with fresh_database(admin, f"chargebay_metrics_{int(time.time())}") as url:
            stores["PostgreSQL"] = asyncio.run(measure(url, args.charge_points, args.history, args.rounds))
    publish({"charge_points": args.charge_points, "history": args.history, "rounds": args.rounds,
             "revision": revision(), "stores": stores}, args.output, render)


if __name__ == "__main__":
    main()
