"""`chargebay sim`: the console script as a real subprocess, against the real stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from tests.charger_sim import sim_cli
from tests.helpers import rows


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": True}


async def run_sim(stack: Stack, cwd: Path, *args: str) -> tuple[int, str]:
    """Run ``chargebay sim --csms <stack> ARGS`` from ``cwd``; return its exit code and output."""
    run = await sim_cli.run_sim(stack.ws_url, cwd, *args)
    assert run.code is not None
    return run.code, run.out


async def booted_charge_points(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    found = await rows(stack, "SELECT * FROM charge_points WHERE id LIKE :p ORDER BY id",
                       p=f"{prefix}-%")
    return [dict(r) for r in found]


async def test_a_fleet_runs_for_its_duration_and_stops_cleanly(stack: Stack, tmp_path: Path) -> None:
    code, out = await run_sim(stack, tmp_path, "--count", "5", "--duration", "4", "--atg",
                              "--prefix", "T")
    assert code == 0, out
    assert "Traceback" not in out, out
    found = await booted_charge_points(stack, "T")
    assert [cp["id"] for cp in found] == [f"T-{n:05d}" for n in range(1, 6)]
    for cp in found:
        assert (cp["vendor"], cp["model"], cp["firmware_version"], cp["meter_type"],
                cp["charge_point_serial"], cp["boot_status"]) == (
            "Chargebay", "SIM-AC22", "2.4.1", "SIM-METER-3P", cp["id"], "Accepted")
        assert cp["last_boot_at"] is not None and not cp["online"]  # all disconnected at the end
    statuses = await rows(stack, "SELECT charge_point_id, connector_id, status FROM connectors "
                                 "WHERE charge_point_id LIKE 'T-%'")
    assert len(statuses) == 5 * 3
    assert list((tmp_path / "data" / "sim").glob("queue-T-*.db"))  # state in the data directory
    # the summary
    assert "5 stations (ac-wallbox)" in out
    assert out.count("chargebay sim: 5 stations") == 1, out  # one table
    table = sim_cli.table_of(out)
    assert sim_cli.number(table["booted"]) == 5, out
    assert table["sessions rejected"] == "0", out  # unknown tags are accepted here


async def test_dc_fast_template(stack: Stack, tmp_path: Path) -> None:
    code, out = await run_sim(stack, tmp_path, "--count", "2", "--duration", "2",
                              "--template", "dc-fast", "--prefix", "DC", "--workers", "1")
    assert code == 0, out
    assert "2 stations (dc-fast)" in out
    found = await booted_charge_points(stack, "DC")
    assert [(cp["id"], cp["model"], cp["firmware_version"], cp["meter_type"]) for cp in found] == [
        ("DC-00001", "SIM-DC150", "1.9.0", "SIM-METER-DC"),
        ("DC-00002", "SIM-DC150", "1.9.0", "SIM-METER-DC")]
    statuses = await rows(stack, "SELECT connector_id FROM connectors WHERE charge_point_id = "
                                 "'DC-00001' ORDER BY connector_id")
    assert [r["connector_id"] for r in statuses] == [0, 1]  # one outlet


async def test_a_bad_template_fails_with_a_clear_message(stack: Stack, tmp_path: Path) -> None:
    code, out = await run_sim(stack, tmp_path, "--count", "1", "--duration", "2",
                              "--template", "warp-drive", "--prefix", "BAD")
    assert "no template 'warp-drive'" in out, out
    assert "ac-wallbox" in out  # says which templates exist
    assert await booted_charge_points(stack, "BAD") == []
    assert code != 0, out
    assert "Traceback" not in out, out


async def test_a_mixed_fleet_of_16_and_201_stations(stack: Stack, tmp_path: Path) -> None:
    """``--mix 1.6=70,2.0.1=30``: three of every ten stations speak 2.0.1 (the 4th of four);
    ``--ocpp-version`` makes them all one version; a bad mix is refused before anything runs."""
    code, out = await run_sim(stack, tmp_path, "--count", "4", "--duration", "3", "--prefix", "MIX",
                              "--mix", "1.6=70,2.0.1=30", "--workers", "1")
    assert code == 0 and "Traceback" not in out, out
    code, out = await run_sim(stack, tmp_path, "--count", "2", "--duration", "3", "--prefix", "V2",
                              "--ocpp-version", "2.0.1", "--workers", "1")
    assert code == 0 and "Traceback" not in out, out
    versions = {cp["id"]: cp["ocpp_version"] for cp in [*await booted_charge_points(stack, "MIX"),
                                                        *await booted_charge_points(stack, "V2")]}
    assert versions == {"MIX-00001": "1.6", "MIX-00002": "1.6", "MIX-00003": "1.6", "MIX-00004": "2.0.1",
                        "V2-00001": "2.0.1", "V2-00002": "2.0.1"}
    code, out = await run_sim(stack, tmp_path, "--count", "1", "--mix", "1.6=50,2.0.1=20", "--prefix", "NO")
    assert code == 2 and "add up to 70, not 100" in out and "Traceback" not in out, out


def test_the_mix_assigns_versions_by_station_number() -> None:
    from charger_sim.fleet import FleetOptions, parse_mix
    opts = FleetOptions(csms="ws://x", mix=parse_mix("1.6=70,2.0.1=30"))
    versions = [opts.version(n) for n in range(1, 201)]
    assert versions.count("2.0.1") == 60 and versions.count("1.6") == 140
    assert FleetOptions(csms="ws://x").version(5) is None


def test_a_station_locked_out_for_guessing_says_why(tmp_path: Path) -> None:
    """After too many wrong passwords the CSMS answers 429: the note says what to do."""
    from charger_sim.console import notes
    from charger_sim.fleet import COUNTERS, UNBOOTED, FleetOptions

    totals = {**dict.fromkeys(COUNTERS, 0), UNBOOTED + "server rejected WebSocket connection: HTTP 429": 2}
    found = notes(totals, FleetOptions(csms="ws://x", state_dir=str(tmp_path)))
    assert found == ["note: 2 stations did not boot: server rejected WebSocket connection: HTTP 429 (the CSMS "
                     "refuses this address after too many wrong passwords: wait, then give the right --password)"]
