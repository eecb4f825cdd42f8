"""Every benchmark still runs end to end (a few seconds each, tiny parameters).

Benchmarks are run by hand, so a refactor can break one without any test noticing (it happened:
bench/locker_bus.py read a bay attribute that had moved). These runs check that each completes,
exits 0 and prints its figures; the figures themselves are not judged here — speed is measured by
running the benchmarks, not by timed tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import POSTGRES

ROOT = Path(__file__).resolve().parent.parent

SMOKE = {
    "csms_load": (["--charge-points", "20", "--duration", "2", "--rounds", "1", "--skip-baseline", "--skip-idle"],
                  "chargebay (validated, persisted)"),
    # 200 requests: the reference's server CPU must add up to more than psutil's 10 ms ticks
    "api_commands": (["--charge-points", "5", "--requests", "200", "--warmup", "5",
                      "--concurrency", "2", "--fanout", "5"], "fan-out: RemoteStartTransaction"),
    "sim_fleet": (["--stations", "20", "--hold", "2", "--ramp", "100", "--workers", "1"],
                  "all_requested_connected_through_hold yes"),
    "sim_fleet_versions": (["--stations", "12", "--hold", "2", "--ramp", "100", "--workers", "1"],
                           "2.0.1 / 1.6"),
    "locker_bus": (["--duration", "1", "--warmup", "0.5", "--samples", "5",
                    "--warmup-samples", "1"], "target: p99 <= 20 ms"),
    "bridge_restart": (["--boards", "2", "--bays", "4", "--rounds", "1"], "bridge restart:"),
    "handshakes": (["--duration", "0.5", "--concurrency", "2"], "wss+mtls: chargebay CPU per handshake"),
    "compression_rss": (["--connections", "20"], "compression costs"),
    "reconnect_storm": (["--charge-points", "40", "--timeout", "60"], "back and booted after the kill"),
    "load_groups": (["--members", "50"], "a naive allocator"),
    "metrics_scrape": (["--charge-points", "50", "--history", "2", "--rounds", "2"], "/metrics with 50 charge points"),
    "fleet_page": (["--stations", "20", "--window", "3", "--ramp", "100", "--workers", "1", "--settle", "0"],
                   "ratio (before/now) of bytes per minute"),
    "cluster": (["--charge-points", "20", "--duration", "2", "--commands", "10",
                 "--command-charge-points", "4", "--concurrency", "2", "--warmup", "2"],
                "1 node, SQLite"),
}


def run_bench(name: str, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[str, dict]:
    args, _ = SMOKE[name]
    output = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout, json.loads(output.read_text())


@pytest.mark.parametrize("name", ["csms_load", "api_commands", "sim_fleet", "sim_fleet_versions", "locker_bus",
                                  "bridge_restart", "handshakes", "compression_rss", "reconnect_storm",
                                  "load_groups", "fleet_page", "metrics_scrape"])
def test_benchmark_runs(name: str, tmp_path: Path) -> None:
    stdout, results = run_bench(name, tmp_path)
    assert SMOKE[name][1] in stdout
    assert results
    assert "PROTOCOL:" not in stdout  # the locker bus kept the boards' inter-frame silence
    if name == "api_commands":  # the fleet command reached every charge point in one request;
        # the reference (bare FastAPI routes) answered every request, and the ratio is reported
        assert results["fleet"]["all_accepted"], results["fleet"]
        reference = results["reference"]
        assert reference["requests"] == 200 and reference["errors"] + reference["not_accepted"] == 0, reference
        assert results["ratio_cpu_vs_reference"] is not None
    if name == "sim_fleet":  # the hold began once the connectors charged; the probe station
        # was answered throughout it (its transaction accepted, its MeterValues stored)
        assert results["settle"]["settled"], results["settle"]
        station = results["hold"]["probe_station"]
        assert "error" not in station, station
        assert station["MeterValues"]["n"] > 0 and station["call_error_count"] == 0, station
    if name == "reconnect_storm":  # every station came back after the kill, none refused
        assert results["back_after_kill_s"]["1.0"] is not None and results["boots_refused"] == 0
    if name == "load_groups":  # every scenario ran; a round with nothing changed sends nothing
        assert [r["scenario"] for r in results["scenarios"]][3] == "nothing changed"
        assert results["scenarios"][3]["messages"] == 0 and results["scenarios"][0]["messages"] == 100
    if name == "handshakes":  # every connect at every profile was admitted, by both servers
        assert [(m, s, r["errors"]) for m, by in results["modes"].items() for s, r in by.items()
                if r["errors"] or not r["handshakes"]] == []


@pytest.mark.skipif(not POSTGRES, reason="the cluster scenarios need PostgreSQL (the PG pass)")
def test_cluster_benchmark_runs_every_scenario(tmp_path: Path) -> None:
    base = POSTGRES.rsplit("/", 1)[0] + "/postgres"
    stdout, results = run_bench("cluster", tmp_path, {"CHARGEBAY_BENCH_POSTGRES_URL": base})
    assert SMOKE["cluster"][1] in stdout
    for label, scenario in results["scenarios"].items():
        assert "skipped" not in scenario and "error" not in scenario, (label, scenario)


def test_the_fleet_runs_against_the_instant_floor(tmp_path: Path) -> None:
    """``sim_fleet.py --instant``: the same fleet against canned answers; it boots, charges and
    reports the stations' answer times (the simulator's own share)."""
    output = tmp_path / "instant.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sim_fleet.py"), *SMOKE["sim_fleet"][0], "--instant",
         "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "all_requested_connected_through_hold yes" in proc.stdout
    results = json.loads(output.read_text())
    # the stations' answer times (their transaction starts while settling) and the probe's
    assert results["settle"]["answer_p50_ms"] is not None
    assert results["hold"]["probe_station"]["all"]["n"] > 0


def test_csms_load_reports_the_median_rounds_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load phases' ratio is the median of the rounds' ratios; a round where chargebay
    answered nothing counts (as 0), and the table shows each server's median round."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import csms_load

    def one(ours: float, theirs: float) -> dict[str, Any]:
        return {csms_load.CHARGEBAY: {"calls_per_s": ours}, csms_load.BASELINE: {"calls_per_s": theirs}}

    assert csms_load.median_ratio([one(0, 100), one(0, 100), one(330, 100)]) == 0.0
    assert csms_load.median_ratio([one(300, 100), one(350, 100), one(330, 90)]) == pytest.approx(3.5)
    assert csms_load.median_ratio([one(300, 100), one(400, 100)]) == 3.0  # the lower of two
    assert csms_load.median_ratio([{csms_load.CHARGEBAY: {"calls_per_s": 9}}]) is None  # no baseline
    rounds = [one(300, 100), one(350, 100), one(330, 90)]
    assert csms_load._median_round(rounds, csms_load.CHARGEBAY)["calls_per_s"] == 330
