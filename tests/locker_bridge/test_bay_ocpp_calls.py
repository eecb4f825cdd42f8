"""How a locker bay behaves as an OCPP charge point, end to end: meter values and the CSMS's calls.

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator, Fault
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.bays import (
    TAG,
    _count_at_least,
    _status_is,
    _true,
    charging,
    connector,
    data_transfer,
    holds,
    ident,
    last_message_id,
    messages,
    open_tx,
    remote_stop,
    stopped,
    vcp,
    wait_status,
)
from tests.locker_bridge.conftest import api, bridge_yaml, bridged, command, until


async def test_meter_values_arrive_at_the_interval_and_meter_stop_is_the_register(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    tx = await charging(stack, emu, 2, Device.ebike())  # 120 W, far from full for hours

    async def samples(measurand: str) -> list[dict[str, Any]]:
        return [dict(r) for r in await rows(
            stack, "SELECT * FROM meter_values WHERE transaction_id = :tx AND measurand = :m "
            "AND source = 'MeterValues' ORDER BY id", tx=tx["id"], m=measurand)]

    await until(lambda: _count_at_least(samples("Energy.Active.Import.Register"), 1), 3)
    first = int((await samples("Energy.Active.Import.Register"))[0]["value"])
    assert first == tx["meter_start"]
    emu.advance(1800)  # half an hour at 120 W: 60 Wh
    await until(lambda: _count_at_least(samples("Energy.Active.Import.Register"), 3), 6)
    energy = await samples("Energy.Active.Import.Register")
    values = [int(s["value"]) for s in energy]
    assert values == sorted(values) and values[-1] >= first + 55, values
    assert all(s["unit"] == "Wh" and s["context"] == "Sample.Periodic" for s in energy)
    power = await samples("Power.Active.Import")
    assert len(power) == len(energy) and all(p["unit"] == "W" for p in power)
    assert float(power[-1]["value"]) == 120, [p["value"] for p in power]
    # one MeterValues a second (the fixture's meter_interval), not a flood and not a trickle
    sent = await messages(stack, 2, "MeterValues")
    times = [datetime.fromisoformat(str(m["ts"])) for m in sent]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert gaps and all(0.7 <= g <= 1.6 for g in gaps), gaps
    for m in sent:
        payload = json.loads(m["frame"])[3]
        assert payload["transactionId"] == tx["id"] and payload["connectorId"] == 1
    await remote_stop(stack, 2, tx)
    done = await stopped(stack, tx["id"])
    assert not bay.outlet_on
    assert done["meter_stop"] == bay.energy_register >= values[-1]


# == 10. DataTransfer ===========================================================================
async def test_data_transfer_open_locker_status_and_charging_status(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    answer = await data_transfer(stack, 1, "OpenLocker")
    assert answer["status"] == "Accepted"
    data = json.loads(answer["data"])
    assert data["door"] == "open" and data["opened"] is True
    assert bay.door_open  # really open
    await wait_status(stack, 1, "Preparing")
    answer = await data_transfer(stack, 1, "LockerStatus")
    assert answer["status"] == "Accepted"
    assert json.loads(answer["data"]) == {"door": "open", "item": "empty"}
    bay.place(Device.phone())
    bay.close_door()
    answer = await data_transfer(stack, 1, "LockerStatus")
    assert json.loads(answer["data"]) == {"door": "closed", "item": "occupied"}
    answer = await data_transfer(stack, 1, "ChargingStatus")
    assert answer["status"] == "Accepted"
    assert json.loads(answer["data"]) == {"state": "off", "powerW": 0, "energyWh": bay.energy_register}
    await add_id_tag(stack, TAG)
    assert await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG}) == {"status": "Accepted"}
    await open_tx(stack, 1)
    emu.advance(60)
    data = json.loads((await data_transfer(stack, 1, "ChargingStatus"))["data"])
    assert data["state"] == "charging" and data["powerW"] == round(bay.power_w) > 0
    assert data["energyWh"] == bay.energy_register
    answer = await data_transfer(stack, 1, "NoSuchThing")
    assert answer["status"] == "UnknownMessageId"
    answer = await data_transfer(stack, 1, None)
    assert answer["status"] == "UnknownMessageId"
    answer = await data_transfer(stack, 1, "OpenLocker", vendor_id="someone-else")
    assert answer["status"] == "UnknownVendorId"


async def test_open_locker_on_a_stuck_door_is_rejected_and_sent_once(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[3]
    emu.inject(Fault.STUCK_DOOR, command="OPEN_DOOR")  # every OPEN_DOOR: acknowledged, door shut
    answer = await data_transfer(stack, 3, "OpenLocker")
    assert answer["status"] == "Rejected"
    data = json.loads(answer["data"])
    assert data["door"] == "closed" and data["opened"] is False
    assert not bay.door_open
    assert emu.stats.faults[Fault.STUCK_DOOR] == 1  # one OPEN_DOOR frame, no retry
    assert (await connector(stack, 3))["status"] == "Available"  # type: ignore[index]


async def test_open_locker_without_a_reply_is_not_retried_and_reads_the_door(
        stack: Stack, emu: Emulator) -> None:
    """The board opened the door but its acknowledgement was lost: the door state decides."""
    bay = emu.boards[1].bays[4]
    emu.inject(Fault.NO_REPLY, command="OPEN_DOOR")
    answer = await data_transfer(stack, 4, "OpenLocker")
    assert emu.stats.faults[Fault.NO_REPLY] == 1  # sent exactly once
    assert bay.door_open
    assert answer["status"] == "Accepted", answer
    assert json.loads(answer["data"])["door"] == "open"


# == 11. UnlockConnector ========================================================================
async def test_unlock_connector_is_not_supported_by_default(stack: Stack, emu: Emulator) -> None:
    answer = await command(stack, ident(1), "UnlockConnector", {"connectorId": 1})
    assert answer == {"status": "NotSupported"}
    assert not emu.boards[1].bays[1].door_open


async def test_unlock_connector_opens_the_door_where_configured(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    config = bridge_yaml(tmp_path, locker_extra=", overrides: [{number: 2, unlock_opens_door: true}]")
    async with bridged(db_url, config) as stack:
        answer = await command(stack, ident(2), "UnlockConnector", {"connectorId": 1})
        assert answer == {"status": "Unlocked"}
        assert emu.boards[1].bays[2].door_open
        await wait_status(stack, 2, "Preparing")
        # only bay 2 has the option
        answer = await command(stack, ident(3), "UnlockConnector", {"connectorId": 1})
        assert answer == {"status": "NotSupported"}
        assert not emu.boards[1].bays[3].door_open
        # a stuck door is UnlockFailed
        emu.boards[1].bays[2].close_door()
        emu.inject(Fault.STUCK_DOOR, command="OPEN_DOOR")
        answer = await command(stack, ident(2), "UnlockConnector", {"connectorId": 1})
        assert answer == {"status": "UnlockFailed"}


# == 12. TriggerMessage =========================================================================
async def test_trigger_message_sends_what_was_asked(stack: Stack, emu: Emulator) -> None:
    for message in ("StatusNotification", "MeterValues", "Heartbeat", "BootNotification",
                    "DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        mark = await last_message_id(stack)
        answer = await command(stack, ident(1), "TriggerMessage", {"requestedMessage": message})
        assert answer == {"status": "Accepted"}, message
        await until(lambda m=message, k=mark: _count_at_least(messages(stack, 1, m, k), 1), 3)  # type: ignore[misc]
    mark = await last_message_id(stack)
    answer = await command(stack, ident(1), "TriggerMessage",
                           {"requestedMessage": "StatusNotification", "connectorId": 1})
    assert answer == {"status": "Accepted"}
    await until(lambda: _count_at_least(messages(stack, 1, "StatusNotification", mark), 1), 3)
    sent = await messages(stack, 1, "MeterValues")
    assert json.loads(sent[-1]["frame"])[3]["meterValue"][0]["sampledValue"][0]["measurand"] \
        == "Energy.Active.Import.Register"
    # a connector the bay does not have
    answer = await command(stack, ident(1), "TriggerMessage",
                           {"requestedMessage": "StatusNotification", "connectorId": 2})
    assert answer == {"status": "Rejected"}


async def test_unsupported_requests_are_refused(stack: Stack, emu: Emulator) -> None:
    """Every 1.6 TriggerMessage value is supported, so the handler's NotImplemented cannot be
    reached with a valid payload: a message outside 1.6 is refused by the CSMS (422) and, routed
    anyway, by the connection, which never sends what the socket's version cannot read (the
    bay's own schema check is tests/chargepoint/test_link.py's). Actions a bay has no handler for
    are answered with a CALLERROR NotImplemented."""
    r = await api(stack, "POST", f"/api/v1/charge-points/{ident(1)}/commands/TriggerMessage",
                  json={"requestedMessage": "SignChargePointCertificate"})
    assert r.status_code == 422, r.text
    outcome = await stack.central.router.send(ident(1), "TriggerMessage",
                                              {"requestedMessage": "SignChargePointCertificate"}, 5)
    assert (outcome.kind, outcome.error_code) == ("call_error", "InvalidPayload")
    assert (outcome.description or "").startswith("not sent")
    r = await api(stack, "POST", f"/api/v1/charge-points/{ident(1)}/commands/GetCompositeSchedule",
                  json={"connectorId": 1, "duration": 60})
    assert r.status_code == 502, r.text
    assert r.json()["error_code"] == "NotImplemented"
    # the bay is still fine after all that
    assert await command(stack, ident(1), "TriggerMessage", {"requestedMessage": "Heartbeat"}) \
        == {"status": "Accepted"}


async def test_trigger_message_meter_values_during_a_transaction(stack: Stack, emu: Emulator) -> None:
    tx = await charging(stack, emu, 2)
    mark = await last_message_id(stack)
    answer = await command(stack, ident(2), "TriggerMessage", {"requestedMessage": "MeterValues"})
    assert answer == {"status": "Accepted"}

    async def triggered() -> list[dict[str, Any]]:
        return [p for p in (json.loads(m["frame"])[3] for m in await messages(stack, 2, "MeterValues", mark))
                if p["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"]

    [payload] = await until(triggered, 3)
    assert payload["transactionId"] == tx["id"]


# == 13. ChangeAvailability =====================================================================
async def test_change_availability_inoperative_and_back(stack: Stack, emu: Emulator) -> None:
    await add_id_tag(stack, TAG)
    answer = await command(stack, ident(1), "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    await wait_status(stack, 1, "Unavailable")
    await wait_status(stack, 1, "Unavailable", c=0)
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    assert not emu.boards[1].bays[1].outlet_on
    emu.boards[1].bays[1].open_door()
    await asyncio.sleep(0.3)
    assert (await connector(stack, 1))["status"] == "Unavailable"  # type: ignore[index]
    emu.boards[1].bays[1].close_door()
    answer = await command(stack, ident(1), "ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert answer == {"status": "Accepted"}
    await wait_status(stack, 1, "Available")
    await wait_status(stack, 1, "Available", c=0)
    assert (await connector(stack, 2))["status"] == "Available"  # type: ignore[index]


async def test_change_availability_during_a_transaction_is_scheduled(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    tx = await charging(stack, emu, 2)
    answer = await command(stack, ident(2), "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Scheduled"}
    await holds(lambda: _status_is(stack, 2, "Charging"), 0.5)
    assert bay.outlet_on  # the running charge goes on
    await remote_stop(stack, 2, tx)
    await stopped(stack, tx["id"])
    await wait_status(stack, 2, "Unavailable")
    answer = await command(stack, ident(2), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    answer = await command(stack, ident(2), "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert answer == {"status": "Accepted"}
    await wait_status(stack, 2, "Finishing")  # back to where it was: the phone is not collected
    answer = await command(stack, ident(2), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Accepted"}
    await open_tx(stack, 2)


# == 14. configuration ==========================================================================
async def test_get_and_change_configuration(stack: Stack, emu: Emulator) -> None:
    answer = await command(stack, ident(1), "GetConfiguration", {})
    keys = {k["key"]: k for k in answer["configurationKey"]}
    assert set(keys) == {"HeartbeatInterval", "MeterValueSampleInterval", "StopWhenFullAfter",
                         "NumberOfConnectors", "SupportedFeatureProfiles", "AuthorizeRemoteTxRequests",
                         "MeterValuesSampledData", "ConnectorPhaseRotation", "ChargeProfileMaxStackLevel",
                         "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
                         "MaxChargingProfilesInstalled"}
    assert keys["SupportedFeatureProfiles"]["value"] == "Core,RemoteTrigger,SmartCharging"
    assert "unknownKey" not in answer
    assert keys["MeterValueSampleInterval"] == {"key": "MeterValueSampleInterval", "readonly": False,
                                                "value": "1"}
    assert keys["NumberOfConnectors"]["readonly"] is True and keys["NumberOfConnectors"]["value"] == "1"
    answer = await command(stack, ident(1), "GetConfiguration",
                           {"key": ["HeartbeatInterval", "NoSuchKey"]})
    assert [k["key"] for k in answer["configurationKey"]] == ["HeartbeatInterval"]
    assert answer["unknownKey"] == ["NoSuchKey"]
    for key, value, status in (("NumberOfConnectors", "2", "Rejected"),
                               ("SupportedFeatureProfiles", "Core", "Rejected"),
                               ("NoSuchKey", "1", "NotSupported"),
                               ("MeterValueSampleInterval", "soon", "Rejected"),
                               ("MeterValueSampleInterval", "30", "Accepted")):
        answer = await command(stack, ident(1), "ChangeConfiguration", {"key": key, "value": value})
        assert answer == {"status": status}, (key, value)
    answer = await command(stack, ident(1), "GetConfiguration",
                           {"key": ["MeterValueSampleInterval", "NumberOfConnectors"]})
    assert {k["key"]: k["value"] for k in answer["configurationKey"]} == {
        "MeterValueSampleInterval": "30", "NumberOfConnectors": "1"}
    # per bay: bay 2 keeps its own value
    answer = await command(stack, ident(2), "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert answer["configurationKey"][0]["value"] == "1"


# == 15. Reset ==================================================================================
@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
async def test_reset_during_a_transaction_stops_and_boots_again(stack: Stack, emu: Emulator,
                                                                kind: str, reason: str) -> None:
    bay = emu.boards[1].bays[3]
    tx = await charging(stack, emu, 3)
    mark = await last_message_id(stack)
    answer = await command(stack, ident(3), "Reset", {"type": kind})
    assert answer == {"status": "Accepted"}
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == reason
    assert not bay.outlet_on
    await until(lambda: _count_at_least(messages(stack, 3, "BootNotification", mark), 1), 5)
    await until(lambda: _true(vcp(stack, 3).booted.is_set()), 5)
    stops = await messages(stack, 3, "StopTransaction", mark)
    boots = await messages(stack, 3, "BootNotification", mark)
    assert len(stops) == 1 and stops[0]["id"] < boots[0]["id"]  # stopped first, then rebooted
    await wait_status(stack, 3, "Finishing")
    # the bay works after its reboot
    answer = await command(stack, ident(3), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Accepted"}
    await open_tx(stack, 3)
    assert bay.outlet_on


# == 16. the integration endpoints ==============================================================
