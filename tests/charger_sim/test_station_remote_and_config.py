"""The simulated station against our real CSMS: remote start and stop, reset, availability, configuration."""

from __future__ import annotations

import asyncio
import time

import pytest

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    BUDGET,
    FAST,
    Sims,
    _at_least,
    _one_tx,
    _stopped,
    back_online,
    calls,
    connectors,
    eventually,
    go_offline,
    history,
    last_message_id,
    send,
    start_tx,
    station_events,
    template,
    transactions,
    until_status,
)
from tests.helpers import add_id_tag

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- remote start / stop ------------------------------------------------------------------------
@pytest.mark.parametrize("authorize_remote", [True, False])
async def test_remote_start_plugs_in_after_the_delay_and_starts(stack: Stack, sim: Sims,
                                                                authorize_remote: bool) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-RS-{authorize_remote}"
        st = await sim.start(cp)
        answer = await send(stack, cp, "ChangeConfiguration", {
            "key": "AuthorizeRemoteTxRequests", "value": str(authorize_remote).lower()})
        assert answer == {"status": "Accepted"}
        mark = await last_message_id(stack, cp)
        started = time.monotonic()
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-RS"}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _one_tx(stack, cp))
        assert time.monotonic() - started >= FAST["plug_in_delay"]
        assert (tx["connector_id"], tx["id_tag"], tx["stop_timestamp"]) == (1, "TAG-RS", None)
        actions = [a for _, a, _ in await calls(stack, cp, after=mark)
                   if a in ("Authorize", "StartTransaction")]
        if authorize_remote:
            assert actions == ["Authorize", "StartTransaction"]
        else:
            assert actions == ["StartTransaction"]
        assert (await history(stack, cp, 1))[-3:] == ["Available", "Preparing", "Charging"]
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id == tx["id"]


async def test_remote_start_with_rejected_tag_and_authorize_first_starts_nothing(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        await add_id_tag(stack, "TAG-BLOCKED", status="Blocked")
        st = await sim.start("CP-RS-BLOCKED")
        await send(stack, st.identity, "ChangeConfiguration",
                   {"key": "AuthorizeRemoteTxRequests", "value": "true"})
        assert (await send(stack, st.identity, "RemoteStartTransaction",
                           {"connectorId": 1, "idTag": "TAG-BLOCKED"}))["status"] == "Accepted"
        await eventually(lambda: _at_least(stack, st.identity, "Authorize", 1))
        await asyncio.sleep(FAST["plug_in_delay"] + 0.3)
        assert await transactions(stack, st.identity) == []
        assert st.connectors[1].tx is None and st.connectors[1].status == "Available"


async def test_remote_start_times_out_when_nobody_plugs_in(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RS-TIMEOUT"
        st = await sim.start(cp, template(plug_in_delay=None))
        assert await send(stack, cp, "ChangeConfiguration",
                          {"key": "ConnectionTimeOut", "value": "1"}) == {"status": "Accepted"}
        assert (await send(stack, cp, "RemoteStartTransaction",
                           {"connectorId": 1, "idTag": "TAG-1"}))["status"] == "Accepted"
        await until_status(stack, cp, 1, "Preparing")
        started = time.monotonic()
        await until_status(stack, cp, 1, "Available", timeout=4)
        assert 0.5 <= time.monotonic() - started <= 3
        assert await transactions(stack, cp) == []
        assert (await history(stack, cp, 1))[-3:] == ["Available", "Preparing", "Available"]
        assert any(e.startswith("connection_timeout") for e in station_events(st))
        assert st.connectors[1].tx is None and not st.connectors[1].plugged


async def test_remote_stop_ends_the_transaction_with_reason_remote(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RSTOP"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1, "TAG-STOP")
        await asyncio.sleep(1.2)
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-X"}) == {"status": "Rejected"}
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id + 1000}) == {"status": "Rejected"}
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "Remote")
        assert tx["meter_stop"] > tx["meter_start"]
        await until_status(stack, cp, 1, "Finishing")  # the car is still plugged in
        assert st.connectors[1].tx is None


# -- reset, availability, configuration ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_stops_the_transaction_and_reboots(stack: Stack, sim: Sims, kind: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-RESET-{kind}"
        st = await sim.start(cp)
        tx_id = await start_tx(st)
        assert await send(stack, cp, "Reset", {"type": kind}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, f"{kind}Reset")
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        await back_online(st, 1)
        assert st.stats["connects"] == 2
        assert any(e.startswith("reset") for e in station_events(st))


async def test_change_availability_is_scheduled_during_a_transaction(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-AVAIL"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 1, "type": "Inoperative"}) == {"status": "Scheduled"}
        await asyncio.sleep(0.3)
        assert (await connectors(stack, cp))[1]["status"] == "Charging"
        assert st.connectors[1].tx is not None
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Unavailable")
        # an unavailable connector takes no remote start
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-1"}) == {"status": "Rejected"}
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 1, "type": "Operative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Preparing")  # the car is still plugged in
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 2, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 2, "Unavailable")
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 9, "type": "Inoperative"}) == {"status": "Rejected"}


async def test_change_availability_of_the_whole_station_reports_connector_0(
        stack: Stack, sim: Sims) -> None:
    """Connector 0 is the charge point itself: made Inoperative as a whole it is Unavailable (the
    station reports it that way at boot, too), and Available again when made Operative."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-AVAIL-0"
        await sim.start(cp)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Unavailable")
        await until_status(stack, cp, 2, "Unavailable")
        await until_status(stack, cp, 0, "Unavailable", timeout=2)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Operative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Available")
        await until_status(stack, cp, 0, "Available", timeout=2)


async def test_triggered_status_of_connector_0_matches_the_station(stack: Stack, sim: Sims) -> None:
    """A triggered StatusNotification for connector 0 reports what a reboot would report."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-TRIG-0"
        st = await sim.start(cp)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 2, "Unavailable")
        mark = await last_message_id(stack, cp)
        assert await send(stack, cp, "TriggerMessage",
                          {"requestedMessage": "StatusNotification"}) == {"status": "Accepted"}
        await eventually(lambda: _at_least(stack, cp, "StatusNotification", 3, after=mark))
        triggered = {p["connectorId"]: p["status"]
                     for _, _, p in await calls(stack, cp, "StatusNotification", after=mark)}
        # after a reboot the station reports connector 0 like this (Station._after_boot):
        st.reconnect()
        await back_online(st, 1)
        rebooted = await eventually(lambda: _statuses_after_boot(stack, cp))
        assert rebooted == {0: "Unavailable", 1: "Unavailable", 2: "Unavailable"}
        assert triggered == rebooted


async def _statuses_after_boot(stack: Stack, cp: str) -> dict[int, str]:
    boots = await calls(stack, cp, "BootNotification")
    assert len(boots) == 2
    found = {p["connectorId"]: p["status"]
             for _, _, p in await calls(stack, cp, "StatusNotification", after=boots[1][0])}
    assert len(found) == 3
    return found


async def test_get_and_change_configuration(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CONF"
        st = await sim.start(cp)
        answer = await send(stack, cp, "GetConfiguration",
                            {"key": ["HeartbeatInterval", "NumberOfConnectors", "NoSuchKey"]})
        assert answer == {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
            "unknownKey": ["NoSuchKey"]}
        everything = await send(stack, cp, "GetConfiguration", {})
        keys = {k["key"]: k for k in everything["configurationKey"]}
        assert "unknownKey" not in everything
        assert keys["MeterValueSampleInterval"]["value"] == "1"
        assert keys["SupportedFeatureProfiles"]["readonly"] is True
        assert keys["MeterValuesSampledData"]["value"].split(",")[0] == "Energy.Active.Import.Register"

        async def change(key: str, value: str) -> str:
            return (await send(stack, cp, "ChangeConfiguration", {"key": key, "value": value}))["status"]

        assert await change("NumberOfConnectors", "5") == "Rejected"  # read-only
        assert await change("NoSuchKey", "1") == "NotSupported"
        assert await change("WebSocketPingInterval", "30") == "RebootRequired"
        assert await change("MeterValueSampleInterval", "abc") == "Rejected"
        assert await change("MeterValueSampleInterval", "5") == "Accepted"
        after = await send(stack, cp, "GetConfiguration",
                           {"key": ["MeterValueSampleInterval", "NumberOfConnectors",
                                    "WebSocketPingInterval"]})
        assert [k["value"] for k in after["configurationKey"]] == ["5", "2", "30"]
        assert st.config.get_int("MeterValueSampleInterval") == 5


async def test_clear_cache_forgets_cached_authorizations(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CACHE"
        st = await sim.start(cp)
        assert await st.authorize("TAG-CACHED") == "Accepted"
        await go_offline(st, 1.0)
        assert await st.authorize("TAG-CACHED") == "Accepted"  # from the cache
        assert await st.authorize("TAG-NEVER-SEEN") == "Invalid"
        await back_online(st, 1)
        assert await send(stack, cp, "ClearCache", {}) == {"status": "Accepted"}
        assert st.auth_cache == {}
        await go_offline(st, 1.0)
        assert await st.authorize("TAG-CACHED") == "Invalid"


async def test_data_transfer(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        await sim.start("CP-DT")
        assert await send(stack, "CP-DT", "DataTransfer", {
            "vendorId": "Chargebay", "messageId": "ping", "data": "payload"}) == {
            "status": "Accepted", "data": "payload"}
        assert await send(stack, "CP-DT", "DataTransfer", {"vendorId": "com.other"}) == {
            "status": "UnknownVendorId"}


async def test_unlock_connector_stops_a_running_transaction(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-UNLOCK"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 2)
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 2}) == {"status": "Unlocked"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["connector_id"], tx["stop_reason"]) == (tx_id, 2, "UnlockCommand")
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 9}) == {
            "status": "NotSupported"}


async def test_a_new_heartbeat_interval_applies_at_once(stack: Stack, sim: Sims) -> None:
    """ChangeConfiguration HeartbeatInterval: the next heartbeat is due the new interval from now,
    not after the 300 s the boot set ran out."""
    async with asyncio.timeout(BUDGET):
        st = await sim.start("SIM-HB")
        assert (await send(stack, "SIM-HB", "ChangeConfiguration",
                           {"key": "HeartbeatInterval", "value": "1"}))["status"] == "Accepted"
        mark = await last_message_id(stack, "SIM-HB")
        await eventually(lambda: _at_least(stack, "SIM-HB", "Heartbeat", 2, mark), timeout=6)
        assert st.config.get_int("HeartbeatInterval", 0) == 1
