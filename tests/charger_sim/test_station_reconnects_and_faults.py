"""The simulated station against our real CSMS: reconnects, faults and the station's log."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    ADMIN,
    BUDGET,
    Sims,
    _at_least,
    _check,
    _stopped,
    back_online,
    calls,
    connectors,
    eventually,
    last_message_id,
    now_iso,
    send,
    start_tx,
    station_events,
    transactions,
    until_status,
    utc,
)
from tests.helpers import rows

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- reconnects ---------------------------------------------------------------------------------
async def test_reconnects_after_the_csms_deletes_the_charge_point(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-DELETED"
        st = await sim.start(cp)
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as http:
            response = await http.delete(f"/api/v1/charge-points/{cp}")
            assert response.status_code == 204, response.text
        await back_online(st, 1, timeout=6)
        assert "disconnected {'code': 1000}" in station_events(st)
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [row] = await eventually(lambda: _online(stack, cp))
        assert (row["vendor"], row["model"]) == ("Chargebay", "SIM-AC22")
        await sim.ready(st)


async def _online(stack: Stack, cp: str) -> list[Any]:
    found = await rows(stack, "SELECT * FROM charge_points WHERE id = :cp", cp=cp)
    assert len(found) == 1 and found[0]["online"] and found[0]["vendor"], found
    return found


async def test_reconnects_after_a_takeover(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-TAKEOVER"
        st = await sim.start(cp)
        async with websockets.connect(f"{stack.ws_url}/{cp}", subprotocols=["ocpp1.6"]) as intruder:  # type: ignore[list-item]
            await eventually(lambda: _check("disconnected {'code': 4001}" in station_events(st)))
            await back_online(st, 1, timeout=6)
            # the station took its place back: the intruder was replaced in turn
            await asyncio.wait_for(intruder.wait_closed(), 5)
            assert intruder.close_code == 4001
        mark = await last_message_id(stack, cp)
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}
        assert await last_message_id(stack, cp) > mark


async def test_backs_off_while_the_csms_is_unreachable(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        st = await sim.start("CP-BACKOFF", url=f"ws://127.0.0.1:{dead_port}/ocpp", wait=False)
        failures: list[float] = []

        def three_failures() -> None:
            failures[:] = [datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                           for ts, kind, text in st.log
                           if kind == "event" and text.startswith("connect_failed")]
            assert len(failures) >= 3

        await eventually(three_failures, timeout=12, interval=0.05)
        first_gap, second_gap = failures[1] - failures[0], failures[2] - failures[1]
        assert 0.45 <= first_gap <= 1.6  # 1 s with jitter (x 0.5 .. 1.5)
        assert 0.95 <= second_gap <= 3.1  # then 2 s with jitter
        assert st.stats["connects"] == 0 and not st.connected


# -- faults -------------------------------------------------------------------------------------
async def test_fault_connector_and_clear_fault(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-FAULT"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await st.fault_connector(1, "GroundFailure", "leakage")
        row = await until_status(stack, cp, 1, "Faulted", error_code="GroundFailure")
        assert row["info"] == "leakage"
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "Other")
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-1"}) == {"status": "Rejected"}
        assert (await send(stack, cp, "ReserveNow", {
            "connectorId": 1, "expiryDate": now_iso(60), "idTag": "TAG-1",
            "reservationId": 3}))["status"] == "Faulted"
        assert await st.start_local(1, "TAG-1") == "Busy"
        assert (await connectors(stack, cp))[2]["status"] == "Available"  # only connector 1
        await st.clear_fault(1)
        await until_status(stack, cp, 1, "Preparing")  # the car is still plugged in
        await st.unplug(1)
        await until_status(stack, cp, 1, "Available")
        assert await start_tx(st, 1, "TAG-2") > tx_id


async def test_power_loss_stops_the_transaction_reported_after_the_reboot(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-POWER"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await asyncio.sleep(1.1)
        await st.power_loss(outage_s=1.0)
        assert not st.connected and not st.booted.is_set()
        assert [a for _, a, _ in st.outbox.pending][-1] == "StopTransaction"
        await back_online(st, 1, timeout=8)
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "PowerLoss")
        assert tx["meter_stop"] > tx["meter_start"]
        boots = await calls(stack, cp, "BootNotification")
        [(stop_id, _, stop)] = await calls(stack, cp, "StopTransaction")
        assert len(boots) == 2 and stop_id > boots[1][0]  # delivered after the reboot
        assert stop["transactionId"] == tx_id and stop["reason"] == "PowerLoss"


async def test_response_delay_and_dropped_responses_time_the_csms_out(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SLOW"
        st = await sim.start(cp)
        st.response_delay = 1.0
        outcome = await stack.central.commands.send(cp, "ClearCache", {}, timeout=0.3)
        assert outcome.kind == "timeout"
        st.response_delay = 0.0
        await asyncio.sleep(1.0)  # the late answer arrives and is dropped by the CSMS
        assert await send(stack, cp, "ClearCache", {}) == {"status": "Accepted"}
        st.drop_responses = 1.0
        outcome = await stack.central.commands.send(cp, "GetLocalListVersion", {}, timeout=0.5)
        assert outcome.kind == "timeout"
        assert "response_dropped" in station_events(st)
        [command] = await rows(stack, "SELECT status FROM commands WHERE charge_point_id = :cp AND "
                                      "action = 'GetLocalListVersion'", cp=cp)
        assert command["status"] == "timeout"
        st.drop_responses = 0.0
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}


async def test_send_raw_malformed_frames_are_answered_with_call_errors(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RAW"
        st = await sim.start(cp)
        await st.send_raw("this is not an OCPP frame")

        def answered(prefix: str) -> None:
            assert any(text.startswith(prefix) for _, kind, text in st.log if kind == "in")

        await eventually(lambda: answered('[4,"-1","FormationViolation"'))
        await st.send_raw('[2,"raw-1","NoSuchAction",{}]')
        await eventually(lambda: answered('[4,"raw-1","NotImplemented"'))
        await st.send_raw('[2,"raw-2","Heartbeat",{}]')
        await eventually(lambda: answered('[3,"raw-2",{"currentTime"'))
        assert ("out", "this is not an OCPP frame") in [(k, t) for _, k, t in st.log]
        found = await rows(stack, "SELECT direction, message_type, frame FROM messages WHERE "
                                  "charge_point_id = :cp AND (message_type IN (0, 4) OR "
                                  "message_id LIKE 'raw-%') ORDER BY id", cp=cp)
        assert [(r["direction"], r["message_type"]) for r in found] == [
            ("in", 0), ("out", 4), ("in", 2), ("out", 4), ("in", 2), ("out", 3)]
        assert found[0]["frame"] == "this is not an OCPP frame"
        # the station carries on normally
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}
        await start_tx(st, 1)


async def test_clock_skew_shifts_the_station_timestamps(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SKEW"
        st = await sim.start(cp)
        st.clock_skew = 3600.0
        mark = await last_message_id(stack, cp)
        await send(stack, cp, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "connectorId": 2})
        await eventually(lambda: _at_least(stack, cp, "StatusNotification", 1, after=mark))
        now = datetime.now(UTC)
        stamp = utc((await connectors(stack, cp))[2]["timestamp"])
        assert abs((stamp - now).total_seconds() - 3600) < 30
        await start_tx(st, 1)
        [tx] = await transactions(stack, cp)
        assert abs((utc(tx["start_timestamp"]) - now).total_seconds() - 3600) < 30
        st.clock_skew = -7200.0
        await st.stop_local(1)
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert abs((utc(tx["stop_timestamp"]) - now).total_seconds() + 7200) < 30


# -- the station's log --------------------------------------------------------------------------
async def test_every_frame_in_and_out_is_in_the_station_log(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-LOG"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await send(stack, cp, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        await send(stack, cp, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        await send(stack, cp, "DataTransfer", {"vendorId": "nobody"})
        await asyncio.sleep(1.2)
        await send(stack, cp, "RemoteStopTransaction", {"transactionId": tx_id})
        await eventually(lambda: _stopped(stack, cp, 1))
        await st.send_raw("garbage")
        await asyncio.sleep(0.3)
        logged = await rows(stack, "SELECT direction, frame FROM messages WHERE charge_point_id = :cp"
                                   " ORDER BY id", cp=cp)
        csms_in = [r["frame"] for r in logged if r["direction"] == "in"]
        csms_out = [r["frame"] for r in logged if r["direction"] == "out"]
        station_out = [text for _, kind, text in st.log if kind == "out"]
        station_in = [text for _, kind, text in st.log if kind == "in"]
        assert station_out == csms_in
        assert station_in == csms_out
        assert {kind for _, kind, _ in st.log} == {"in", "out", "event"}
        assert len(csms_in) > 10
        for ts, _, _ in st.log:
            assert utc(ts) <= datetime.now(UTC)
