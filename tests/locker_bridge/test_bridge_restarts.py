"""The bridge across outages: its outbox across a CSMS restart, its transactions across its own
restart, and `chargebay bridge` as a real process at the locker site."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chargebay.stack import Stack, running
from locker_bridge.emulator import Device, Emulator
from locker_bridge.service import BridgeService
from tests.conftest import make_settings
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.bays import last_message_id, messages
from tests.locker_bridge.conftest import bridge_yaml, command, standalone, until
from tests.test_serve import free_port

CLI = str(Path(sys.executable).parent / "chargebay")


async def transactions(stack: Stack) -> list[dict]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions ORDER BY id")]


async def booted(service: BridgeService, identity: str) -> bool:
    return service.cps[identity].booted.is_set()


async def test_outbox_keeps_transactions_across_a_csms_restart(db_url: str, tmp_path: Path,
                                                               emu: Emulator) -> None:
    config = bridge_yaml(tmp_path)
    ws_port = free_port()
    settings = make_settings(db_url, ws_port=ws_port)
    url = f"ws://127.0.0.1:{ws_port}/ocpp"
    for n in (1, 2):
        emu.boards[1].bays[n].place(Device.phone())
    async with contextlib.AsyncExitStack() as outlives_the_csms:
        async with running(settings, migrate=False) as stack:
            await add_id_tag(stack, "TAG-1", max_concurrent_tx=2)
            bridge = await outlives_the_csms.enter_async_context(standalone(config, url))
            await until(lambda: booted(bridge, "LOCKER-A-01"))
            assert (await bridge.start_charging("LOCKER-A-01", "TAG-1"))[0]
            await until(lambda: _count(stack, "SELECT id FROM transactions", 1))
        # the CSMS is gone; the locker keeps working and keeps what the CSMS must hear
        await until(lambda: _not(booted(bridge, "LOCKER-A-01")))
        emu.advance(300)
        await asyncio.sleep(1.5)  # meter values (interval 1 s) are queued
        assert (await bridge.stop_charging("LOCKER-A-01"))[0]
        assert (await bridge.start_charging("LOCKER-A-02", "TAG-1"))[0]  # started offline
        emu.advance(300)
        await asyncio.sleep(1.2)
        assert (await bridge.stop_charging("LOCKER-A-02"))[0]
        queued = {i: [a for _, a, _ in bridge.cps[i].outbox.pending] for i in ("LOCKER-A-01", "LOCKER-A-02")}
        assert queued["LOCKER-A-01"][-1] == "StopTransaction" and "MeterValues" in queued["LOCKER-A-01"]
        assert queued["LOCKER-A-02"][0] == "StartTransaction"
        assert queued["LOCKER-A-02"][-1] == "StopTransaction"
        # the CSMS comes back on the same address and database: everything arrives, in order
        async with running(settings, migrate=False) as again:
            await until(lambda: _drained(bridge), 30)
            txs = await transactions(again)
            meter_rows = await rows(again, "SELECT transaction_id FROM meter_values WHERE transaction_id IS NOT NULL")
    assert [(t["charge_point_id"], t["stop_reason"]) for t in txs] == [
        ("LOCKER-A-01", "Local"), ("LOCKER-A-02", "Local")]
    assert all(t["meter_stop"] > t["meter_start"] for t in txs)
    # the offline transaction's provisional id was replaced by the CSMS's in its meter values
    assert {r["transaction_id"] for r in meter_rows} == {t["id"] for t in txs}


async def _drained(bridge: BridgeService) -> bool:
    return all(len(cp.outbox) == 0 for cp in bridge.cps.values())


async def _count(stack: Stack, sql: str, n: int) -> bool:
    return len(await rows(stack, sql)) == n


async def _not(value) -> bool:  # type: ignore[no-untyped-def]
    return not await value


async def test_bridge_restart_reconciles_transactions_from_a_status_read(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """Bay 1's outlet is still on after the restart: its transaction goes on. Bay 2's went off
    while the bridge was down: its transaction ends (reason Reboot) with the board's meter."""
    # `stack` is the CSMS with the embedded bridge on the same board and outbox; stop that bridge
    # first so two bridges never share the bus
    assert stack.bridge is not None
    for n in (1, 2):
        await add_id_tag(stack, f"TAG-{n}")
        emu.boards[1].bays[n].place(Device.phone())
        assert (await stack.bridge.start_charging(f"LOCKER-A-{n:02d}", f"TAG-{n}"))[0]
    await until(lambda: _count(stack, "SELECT id FROM transactions", 2))
    await stack.bridge.close()
    emu.advance(120)
    emu.boards[1].bays[2].switch_off()
    energy = emu.boards[1].bays[2].energy_register
    async with standalone(bridge_yaml(tmp_path), stack.ws_url) as bridge:
        await until(lambda: _stopped(stack, "LOCKER-A-02"))
        await until(lambda: booted(bridge, "LOCKER-A-01"))
        [tx1, tx2] = await transactions(stack)
        assert tx1["stop_timestamp"] is None and bridge.cps["LOCKER-A-01"].bay.tx is not None
        assert bridge.cps["LOCKER-A-01"].bay.tx.id == tx1["id"]
        assert tx2["stop_reason"] == "Reboot" and tx2["meter_stop"] == energy
        assert bridge.cps["LOCKER-A-02"].bay.tx is None
        # the transaction that survived the restart still answers a RemoteStop by its id
        answer = await command(stack, "LOCKER-A-01", "RemoteStopTransaction", {"transactionId": tx1["id"]})
        assert answer == {"status": "Accepted"}
        await until(lambda: _stopped(stack, "LOCKER-A-01"))
        assert not emu.boards[1].bays[1].outlet_on


async def test_availability_and_maintenance_survive_a_bridge_restart(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """OCPP 1.6: a ChangeAvailability holds across a reboot; so does the operator's maintenance."""
    assert stack.bridge is not None
    answer = await command(stack, "LOCKER-A-01", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    await stack.bridge.set_maintenance("LOCKER-A-02", True)
    await stack.bridge.close()
    mark = await last_message_id(stack)
    async with standalone(bridge_yaml(tmp_path), stack.ws_url) as bridge:
        for n in (1, 2):
            await until(lambda n=n: _said(stack, n, mark, {0: "Unavailable", 1: "Unavailable"}))  # type: ignore[misc]
        await until(lambda: _said(stack, 3, mark, {0: "Available", 1: "Available"}))
        assert (bridge.cabin("LOCKER-A-01")["operative"], bridge.cabin("LOCKER-A-02")["maintenance"]) == (False, True)
        answer = await command(stack, "LOCKER-A-01", "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
        assert answer == {"status": "Accepted"}
        await bridge.set_maintenance("LOCKER-A-02", False)
        for n in (1, 2):
            await until(lambda n=n: _said(stack, n, mark, {0: "Available", 1: "Available"}))  # type: ignore[misc]


async def _said(stack: Stack, n: int, after: int, statuses: dict[int, str]) -> bool:
    """The last StatusNotification of each connector since message ``after`` is as given."""
    last: dict[int, str] = {}
    for message in await messages(stack, n, "StatusNotification", after):
        payload = json.loads(message["frame"])[3]
        last[payload["connectorId"]] = payload["status"]
    return last == statuses


async def test_an_unreachable_csms_is_one_warning_for_the_whole_bridge(
        tmp_path: Path, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """Four bays failing to connect, twice each: one WARNING (then at most one a minute), not
    one a bay and attempt; the rest at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="locker_bridge.charge_point")
    url = f"ws://127.0.0.1:{free_port()}/ocpp"  # nobody listens

    def said() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "cannot reach the CSMS" in r.getMessage()]

    async with standalone(bridge_yaml(tmp_path), url):
        await until(lambda: _true(len(said()) >= 8), 5)
    assert [r.levelno for r in said()].count(logging.WARNING) == 1
    assert said()[0].levelno == logging.WARNING and url in said()[0].getMessage()


async def _true(value: bool) -> bool:
    return value


async def _stopped(stack: Stack, cp: str) -> bool:
    found = await rows(stack, "SELECT stop_reason FROM transactions WHERE charge_point_id = :cp", cp=cp)
    return bool(found) and found[-1]["stop_reason"] is not None


def test_chargebay_bridge_runs_on_its_own(tmp_path: Path) -> None:
    """`chargebay bridge --config` against `chargebay serve`, both real processes; the board is
    emulated by `chargebay emulate-board`."""
    from tests.test_serve import start

    served = start(tmp_path)
    emulator = subprocess.Popen([CLI, "emulate-board", "--link", str(tmp_path / "ttyCOM2"),
                                 "--bays", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    bridge = None
    try:
        assert "emulating" in (emulator.stdout.readline() if emulator.stdout else "")
        config = bridge_yaml(tmp_path).read_text().replace(
            "ws://127.0.0.1:9000/ocpp", f"ws://127.0.0.1:{served.ws_port}/ocpp")
        (tmp_path / "site.yaml").write_text(config)
        bridge = subprocess.Popen([CLI, "bridge", "--config", str(tmp_path / "site.yaml")],
                                  env={**os.environ, "CHARGEBAY_LOG_LEVEL": "INFO"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        import time

        import httpx

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            health = httpx.get(f"http://127.0.0.1:{served.http_port}/health").json()
            if health["connected_charge_points"] == 4:
                break
            time.sleep(0.2)
        assert health["connected_charge_points"] == 4
        bridge.send_signal(signal.SIGTERM)
        _, err = bridge.communicate(timeout=20)
        assert bridge.returncode == 0, err
        assert "4 bay(s) as charge points" in err and "locker bridge stopped" in err
        assert "Traceback" not in err, err
    finally:
        for proc in (bridge, emulator):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        served.stop()


async def test_a_bay_held_off_by_its_charging_limit_stays_off_across_a_bridge_restart(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """Load management: a limit under the outlet's rated power keeps the outlet off with the
    transaction open. The profile is kept across the bridge's restart, so the restarted bridge
    neither switches the outlet on nor ends the transaction as one whose outlet went off; once the
    profile is cleared the outlet goes on."""
    assert stack.bridge is not None
    zero = {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {
            "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}]}}}
    assert await command(stack, "LOCKER-A-01", "SetChargingProfile", zero) == {"status": "Accepted"}
    await add_id_tag(stack, "TAG-1")
    emu.boards[1].bays[1].place(Device.phone())
    assert (await stack.bridge.start_charging("LOCKER-A-01", "TAG-1"))[0]
    await until(lambda: _count(stack, "SELECT id FROM transactions", 1))
    assert not emu.boards[1].bays[1].outlet_on and stack.bridge.cps["LOCKER-A-01"].bay.paused
    await stack.bridge.close()
    mark = await last_message_id(stack)
    async with standalone(bridge_yaml(tmp_path), stack.ws_url) as bridge:
        await until(lambda: booted(bridge, "LOCKER-A-01"))
        await until(lambda: _said(stack, 1, mark, {0: "Available", 1: "SuspendedEVSE"}))
        await asyncio.sleep(1.0)  # polls (every 0.2 s) find the outlet off: still no stop
        [tx] = await transactions(stack)
        assert tx["stop_timestamp"] is None and not emu.boards[1].bays[1].outlet_on
        answer = await command(stack, "LOCKER-A-01", "ClearChargingProfile", {"id": 7})
        assert answer == {"status": "Accepted"}

        async def on() -> bool:
            return bool(emu.boards[1].bays[1].outlet_on)
        await until(on)
        await until(lambda: _said(stack, 1, mark, {0: "Available", 1: "Charging"}))
