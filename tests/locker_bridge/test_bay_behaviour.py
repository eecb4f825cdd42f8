"""How a locker bay behaves as an OCPP charge point, end to end.

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty: every
assertion reads what the central system stored or what the emulated hardware really did.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from locker_bridge.bay import Outlet
from locker_bridge.board import BoardPoller
from locker_bridge.bus import NoReply
from locker_bridge.charge_point import VirtualChargePoint
from locker_bridge.emulator import ChargeState, Device, Emulator, Fault
from locker_bridge.protocol import Frame
from tests.api.full_cp import bearer, make_token
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.conftest import api, bridge_yaml, bridged, command, until

TAG = "TAG-1"


def ident(n: int) -> str:
    return f"LOCKER-A-{n:02d}"


def vcp(stack: Stack, n: int) -> VirtualChargePoint:
    assert stack.bridge is not None
    return stack.bridge.cps[ident(n)]


def poller_of(stack: Stack) -> BoardPoller:
    assert stack.bridge is not None
    return next(iter(stack.bridge.pollers.values()))


# -- reading what the CSMS stored -----------------------------------------------------------------
async def connector(stack: Stack, n: int, c: int = 1) -> dict[str, Any] | None:
    found = await rows(stack, "SELECT * FROM connectors WHERE charge_point_id = :cp "
                       "AND connector_id = :c", cp=ident(n), c=c)
    return dict(found[0]) if found else None


async def wait_status(stack: Stack, n: int, status: str, c: int = 1,
                      timeout: float = 5.0) -> dict[str, Any]:
    """Until connector ``c`` of bay ``n`` is ``status`` in the CSMS; return its row."""
    last: dict[str, Any] | None = None

    async def check() -> bool:
        nonlocal last
        last = await connector(stack, n, c)
        return last is not None and last["status"] == status

    try:
        await until(check, timeout)
    except AssertionError:
        raise AssertionError(f"{ident(n)}/{c} not {status} within {timeout} s: {last}") from None
    assert last is not None
    return last


async def holds(check: Any, seconds: float) -> None:
    """``check()`` stays truthy for ``seconds`` (short: it is a wait)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert await check()
        await asyncio.sleep(0.1)


async def transactions(stack: Stack, n: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp "
                                        "ORDER BY id", cp=ident(n))]


async def open_tx(stack: Stack, n: int, timeout: float = 5.0) -> dict[str, Any]:
    """The running transaction, once the CSMS stored it and the bridge knows its real id."""
    async def check() -> dict[str, Any] | None:
        running = [t for t in await transactions(stack, n) if t["stop_timestamp"] is None]
        tx = vcp(stack, n).bay.tx
        if len(running) == 1 and tx is not None and tx.id == running[0]["id"]:
            return running[0]
        return None

    return await until(check, timeout)  # type: ignore[no-any-return]


async def stopped(stack: Stack, tx_id: int, timeout: float = 5.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await rows(stack, "SELECT * FROM transactions WHERE id = :id", id=tx_id)
        return dict(found[0]) if found and found[0]["stop_timestamp"] is not None else None

    return await until(check, timeout)  # type: ignore[no-any-return]


async def messages(stack: Stack, n: int, action: str, after: int = 0) -> list[dict[str, Any]]:
    """Calls the bay sent to the CSMS (message_type 2, direction in), newer than id ``after``."""
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM messages WHERE charge_point_id = :cp AND direction = 'in' "
        "AND message_type = 2 AND action = :a AND id > :after ORDER BY id",
        cp=ident(n), a=action, after=after)]


async def history(stack: Stack, n: int, c: int = 1) -> list[str]:
    """The statuses the bay reported, repeats folded."""
    found = [r["status"] for r in await rows(
        stack, "SELECT status FROM status_history WHERE charge_point_id = :cp AND connector_id = :c "
        "ORDER BY id", cp=ident(n), c=c)]
    return [s for i, s in enumerate(found) if i == 0 or found[i - 1] != s]


async def last_message_id(stack: Stack) -> int:
    found = await rows(stack, "SELECT MAX(id) AS m FROM messages")
    return int(found[0]["m"] or 0)


# -- doing things ---------------------------------------------------------------------------------
async def load(stack: Stack, emu: Emulator, n: int, device: Device | None = None) -> None:
    """The owner opens bay ``n``, puts a device in and shuts the door: Preparing."""
    bay = emu.boards[1].bays[n]
    bay.open_door()
    bay.place(device or Device.phone())
    bay.close_door()
    await wait_status(stack, n, "Preparing")


async def charging(stack: Stack, emu: Emulator, n: int, device: Device | None = None) -> dict[str, Any]:
    """Load bay ``n`` and start a transaction on it by RemoteStart; return the CSMS's row."""
    await add_id_tag(stack, TAG)
    await load(stack, emu, n, device)
    assert await command(stack, ident(n), "RemoteStartTransaction", {"idTag": TAG}) == {"status": "Accepted"}
    tx = await open_tx(stack, n)
    assert emu.boards[1].bays[n].outlet_on
    return tx


async def remote_stop(stack: Stack, n: int, tx: dict[str, Any]) -> None:
    answer = await command(stack, ident(n), "RemoteStopTransaction", {"transactionId": tx["id"]})
    assert answer == {"status": "Accepted"}


async def data_transfer(stack: Stack, n: int, message_id: str | None,
                        vendor_id: str = "chargebay") -> dict[str, Any]:
    payload = {"vendorId": vendor_id} | ({"messageId": message_id} if message_id else {})
    return await command(stack, ident(n), "DataTransfer", payload)


# == 1. doors and items ===========================================================================
async def test_door_open_or_item_inside_is_preparing_empty_and_closed_is_available(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    await wait_status(stack, 1, "Available")
    bay.open_door()
    await wait_status(stack, 1, "Preparing")
    await add_id_tag(stack, TAG)
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}  # not with the door open
    bay.place(Device.phone())
    bay.close_door()
    await until(lambda: _true(vcp(stack, 1).bay.door_open is False and vcp(stack, 1).bay.item is True))
    await holds(lambda: _status_is(stack, 1, "Preparing"), 0.6)  # closed, but the phone is inside
    bay.open_door()
    bay.take()
    bay.close_door()
    await wait_status(stack, 1, "Available")
    # and nothing in between: closing the door on the phone never flickered to Available
    assert await history(stack, 1) == ["Available", "Preparing", "Available"]
    # the other bays never moved
    for n in (2, 3, 4):
        assert (await connector(stack, n))["status"] == "Available"  # type: ignore[index]


# == 2. Finishing ===============================================================================
async def test_finishing_after_remote_stop_until_the_door_opened_and_closed(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[3]
    tx = await charging(stack, emu, 3)
    await wait_status(stack, 3, "Charging")
    answer = await command(stack, ident(3), "RemoteStopTransaction", {"transactionId": tx["id"] + 1})
    assert answer == {"status": "Rejected"}  # not its transaction
    assert bay.outlet_on
    await remote_stop(stack, 3, tx)
    await wait_status(stack, 3, "Finishing")
    assert not bay.outlet_on
    assert (await stopped(stack, tx["id"]))["stop_reason"] == "Remote"
    await holds(lambda: _status_is(stack, 3, "Finishing"), 0.6)  # polls alone do not end it
    bay.open_door()
    await holds(lambda: _status_is(stack, 3, "Finishing"), 0.3)  # still, while the door is open
    bay.close_door()  # the owner looked but left the phone inside
    await wait_status(stack, 3, "Preparing")
    bay.open_door()
    bay.take()
    bay.close_door()
    await wait_status(stack, 3, "Available")
    assert (await history(stack, 3))[-4:] == ["Charging", "Finishing", "Preparing", "Available"]


# == 3. door opened while charging ==============================================================
async def test_door_opened_during_charging_switches_off_and_stops_ev_disconnected(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    tx = await charging(stack, emu, 2)
    emu.advance(300)
    bay.open_door()  # without a command: the owner forced it, or a key
    await until(lambda: _not(bay.outlet_on))
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "EVDisconnected"
    assert done["meter_stop"] == bay.energy_register > done["meter_start"]
    await wait_status(stack, 2, "Finishing")
    bay.take()
    bay.close_door()
    await wait_status(stack, 2, "Available")


# == 4. the board cuts the outlet ================================================================
@pytest.mark.parametrize("down_for", [0.0, 1.0])
async def test_board_reboot_during_charging_stops_with_power_loss(stack: Stack, emu: Emulator,
                                                                  down_for: float) -> None:
    tx = await charging(stack, emu, 1)
    emu.advance(120)
    emu.boards[1].reboot(down_for=down_for)
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "PowerLoss"
    assert done["meter_stop"] == emu.boards[1].bays[1].energy_register
    await wait_status(stack, 1, "Finishing")
    for n in (2, 3, 4):  # the bays without a transaction just stay what they were
        assert (await connector(stack, n))["status"] == "Available"  # type: ignore[index]
    assert [t["id"] for t in await transactions(stack, 1)] == [tx["id"]]


async def test_outlet_cut_by_the_board_stops_with_other(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[4]
    tx = await charging(stack, emu, 4)
    bay.stop_by_board()
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "Other"
    await wait_status(stack, 4, "Finishing")
    assert not bay.outlet_on


async def test_outlet_found_off_without_an_event_is_suspended_evse_then_stopped(
        stack: Stack, emu: Emulator) -> None:
    """No EVENT frame (lost, or a board that sends none): the polls find the outlet off."""
    bay = emu.boards[1].bays[2]
    tx = await charging(stack, emu, 2)
    bay.switch_off()  # silently
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "Other"
    assert not bay.outlet_on
    await wait_status(stack, 2, "Finishing")  # reported after the StopTransaction
    assert (await history(stack, 2))[-3:] == ["Charging", "SuspendedEVSE", "Finishing"]


# == 5. full battery ============================================================================
async def test_full_battery_is_suspended_ev_then_stopped_local_after_stop_when_full_after(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    tx = await charging(stack, emu, 1)
    await wait_status(stack, 1, "Charging")
    emu.advance(2 * 3600)  # the phone is full; only standby draw remains
    await wait_status(stack, 1, "SuspendedEV")
    assert bay.outlet_on
    # the default StopWhenFullAfter (1800 s) keeps the transaction going
    await holds(lambda: _still_running(stack, 1), 1.2)
    answer = await command(stack, ident(1), "ChangeConfiguration",
                           {"key": "StopWhenFullAfter", "value": "1"})
    assert answer == {"status": "Accepted"}
    done = await stopped(stack, tx["id"], timeout=5)
    assert done["stop_reason"] == "Local"
    assert not bay.outlet_on
    assert done["meter_stop"] == bay.energy_register
    await wait_status(stack, 1, "Finishing")


# == 6. board silent ============================================================================
async def test_silent_board_faults_every_bay_and_recovers(stack: Stack, emu: Emulator) -> None:
    poller = next(iter(stack.bridge.pollers.values()))  # type: ignore[union-attr]
    await add_id_tag(stack, TAG)
    before = poller.polls
    rule = emu.inject(Fault.NO_REPLY)  # the board hears, acts, but nothing comes back
    for n in (1, 2, 3, 4):
        row = await wait_status(stack, n, "Faulted", timeout=6)
        assert (row["error_code"], row["vendor_error_code"]) == ("OtherError", "BOARD_SILENT")
    row = await wait_status(stack, 1, "Faulted", c=0)
    assert row["vendor_error_code"] == "BOARD_SILENT"
    assert poller.polls - before >= 3 and poller.missed >= 3  # not before the third missed poll
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    emu.remove_fault(rule)
    for n in (1, 2, 3, 4):
        row = await wait_status(stack, n, "Available", timeout=3)
        assert row["vendor_error_code"] is None and row["error_code"] == "NoError"
    await wait_status(stack, 1, "Available", c=0)


async def test_unplugged_port_faults_every_bay_and_replugging_recovers(stack: Stack, emu: Emulator) -> None:
    emu.unplug()  # the USB adapter is pulled
    for n in (1, 2, 3, 4):
        row = await wait_status(stack, n, "Faulted", timeout=6)
        assert row["vendor_error_code"] == "BOARD_SILENT"
    emu.replug()
    for n in (1, 2, 3, 4):
        await wait_status(stack, n, "Available", timeout=8)
    await wait_status(stack, 1, "Available", c=0)
    answer = await data_transfer(stack, 1, "LockerStatus")  # the bus works again
    assert json.loads(answer["data"]) == {"door": "closed", "item": "empty"}


async def test_silent_after_exactly_three_missed_polls(stack: Stack, emu: Emulator) -> None:
    """Two missed polls are a hiccup, not a fault."""
    poller = next(iter(stack.bridge.pollers.values()))  # type: ignore[union-attr]
    rule = emu.inject(Fault.NO_REPLY, command="BOARD_STATUS")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while poller.missed < 2:  # watched closely: the next poll comes 0.2 s after a miss
        assert loop.time() < deadline, "the polls never missed"
        await asyncio.sleep(0.01)
    emu.remove_fault(rule)
    await until(lambda: _eq(poller.missed, 0), 3)
    await holds(lambda: _status_is(stack, 1, "Available"), 0.6)
    assert await history(stack, 1) == ["Available"]
    assert await history(stack, 1, c=0) == ["Available"]


# == 7. acknowledged without effect =============================================================
async def test_start_acknowledged_without_effect_faults_and_a_later_start_clears_it(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 2)
    emu.inject(Fault.ACK_WITHOUT_EFFECT, times=1, bay=2, command="START_CHARGING")
    answer = await command(stack, ident(2), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Accepted"}
    row = await wait_status(stack, 2, "Faulted")
    assert (row["error_code"], row["vendor_error_code"]) == ("PowerSwitchFailure", "READBACK_MISMATCH")
    assert not bay.outlet_on
    assert await transactions(stack, 2) == []
    assert await messages(stack, 2, "StartTransaction") == []
    # a retry works and clears the fault
    answer = await command(stack, ident(2), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Accepted"}
    await open_tx(stack, 2)
    row = await wait_status(stack, 2, "Charging")
    assert row["vendor_error_code"] is None and row["error_code"] == "NoError"
    assert bay.outlet_on


async def test_stop_acknowledged_without_effect_keeps_the_transaction_and_faults(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[3]
    tx = await charging(stack, emu, 3)
    emu.inject(Fault.ACK_WITHOUT_EFFECT, times=1, bay=3, command="STOP_CHARGING")
    await remote_stop(stack, 3, tx)
    row = await wait_status(stack, 3, "Faulted")
    assert (row["error_code"], row["vendor_error_code"]) == ("PowerSwitchFailure", "READBACK_MISMATCH")
    assert bay.outlet_on
    await holds(lambda: _still_running(stack, 3), 0.6)  # the polls do not paper over it
    assert await messages(stack, 3, "StopTransaction") == []
    assert (await connector(stack, 3))["status"] == "Faulted"  # type: ignore[index]
    # the next stop works, clears the fault and ends the transaction
    await remote_stop(stack, 3, tx)
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "Remote"
    assert not bay.outlet_on
    row = await wait_status(stack, 3, "Finishing")
    assert row["vendor_error_code"] is None


# == 8. bay fault ===============================================================================
async def test_bay_fault_while_charging_stops_faults_and_rejects_starts_until_repaired(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    tx = await charging(stack, emu, 1)
    bay.fail()
    done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "Other"
    row = await wait_status(stack, 1, "Faulted")
    assert row["vendor_error_code"] == "BAY_FAULT"
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    await holds(lambda: _status_is(stack, 1, "Faulted"), 0.6)
    bay.repair()
    row = await wait_status(stack, 1, "Finishing")
    assert row["vendor_error_code"] is None


async def test_an_idle_bays_fault_is_found_by_polling_and_clears_when_repaired(
        stack: Stack, emu: Emulator) -> None:
    """Each poll also reads one idle bay's outlet in turn: a broken idle bay turns Faulted within
    a cycle (4 bays x 0.2 s here), before anyone tries to charge in it."""
    bay = emu.boards[1].bays[4]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 4)
    bay.fail()
    row = await wait_status(stack, 4, "Faulted")
    assert row["vendor_error_code"] == "BAY_FAULT"
    answer = await command(stack, ident(4), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    assert await transactions(stack, 4) == [] and not bay.outlet_on
    bay.repair()
    await wait_status(stack, 4, "Preparing")  # the phone is still inside
    answer = await command(stack, ident(4), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Accepted"}
    await open_tx(stack, 4)
    assert bay.outlet_on


# == 9. meter values ============================================================================
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
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
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
    reached with a valid payload: a message outside 1.6 is refused by the CSMS (422) and, sent
    anyway, by the bay's schema check (FormatViolation). Actions a bay has no handler for are
    answered with a CALLERROR NotImplemented."""
    r = await api(stack, "POST", f"/api/v1/charge-points/{ident(1)}/commands/TriggerMessage",
                  json={"requestedMessage": "SignChargePointCertificate"})
    assert r.status_code == 422, r.text
    outcome = await stack.central.router.send(ident(1), "TriggerMessage",
                                              {"requestedMessage": "SignChargePointCertificate"}, 5)
    assert (outcome.kind, outcome.error_code) == ("call_error", "FormatViolation")
    r = await api(stack, "POST", f"/api/v1/charge-points/{ident(1)}/commands/ClearChargingProfile",
                  json={})
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
                         "MeterValuesSampledData", "ConnectorPhaseRotation"}
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
async def test_integration_start_and_stop_a_charge_on_a_locker_bay(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[4]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 4)
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        key = bearer(await make_token(client, "integrator", name="billing"))
        r = await client.post("/integration/charges/start",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG}, headers=key)
        assert r.status_code == 200, r.text
        tx_id = r.json()["transaction"]
        assert bay.outlet_on
        tx = await open_tx(stack, 4)
        assert tx["id"] == tx_id and tx["id_tag"] == TAG
        await wait_status(stack, 4, "Charging")
        emu.advance(600)
        r = await client.post("/integration/charges/stop",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG,
                                    "transaction": tx_id}, headers=key)
        assert r.status_code == 200, r.text
        done = await stopped(stack, tx_id)
        assert done["stop_reason"] == "Remote"
        assert not bay.outlet_on
        assert done["meter_stop"] == bay.energy_register > done["meter_start"]
        # a faulted bay: the start is accepted by the bay but no transaction follows
        emu.inject(Fault.ACK_WITHOUT_EFFECT, times=1, bay=4, command="START_CHARGING")
        r = await client.post("/integration/charges/start?wait=1",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG}, headers=key)
        assert r.status_code == 504, r.text
        assert not bay.outlet_on


# == 17. replies the bridge cannot use ==============================================================
async def test_replies_short_of_their_data_are_counted_logged_and_polling_goes_on(
        db_url: str, tmp_path: Path, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """A firmware whose CHARGING_STATUS carries no readings: every read is a BadReply, not a
    struct.error that ended the board's poller; the board is still read once (ready), its bays
    boot, the polls go on, and the log says it once."""
    caplog.set_level(logging.WARNING, logger="locker_bridge.board")
    rule = emu.inject(Fault.SHORT_REPLY, command="CHARGING_STATUS")
    async with bridged(db_url, bridge_yaml(tmp_path)) as stack:
        poller = poller_of(stack)
        polls = poller.polls
        # each bay at the first read, then each poll's spot check
        await until(lambda: _true(poller.errors >= 4 + 3))
        assert poller.polls >= polls + 3
        [warning] = [r.getMessage() for r in caplog.records if "poll failed" in r.getMessage()]
        assert "BadReply" in warning and "1 DATA bytes, 8 expected" in warning
        assert stack.bridge.ports()[0]["bad_replies"] >= 3 * poller.errors  # type: ignore[union-attr]
        emu.remove_fault(rule)
        answer = await data_transfer(stack, 1, "ChargingStatus")
        assert answer["status"] == "Accepted" and json.loads(answer["data"])["state"] == "off"


# == 18. a start without an answer ================================================================
async def test_a_start_without_an_answer_reads_back_and_switches_off_what_came_on(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 2)
    emu.inject(Fault.NO_REPLY, times=3, command="START_CHARGING")  # done, never acknowledged
    with pytest.raises(NoReply):
        await stack.bridge.start_charging(ident(2), TAG)  # type: ignore[union-attr]
    assert emu.stats.faults[Fault.NO_REPLY] == 3  # the first try and both retries: all switched on
    assert not bay.outlet_on  # read back, found on, switched off
    assert vcp(stack, 2).bay.tx is None and await transactions(stack, 2) == []
    await holds(lambda: _status_is(stack, 2, "Preparing"), 0.4)


# == 19. an outlet switched on past the bridge ====================================================
async def test_an_outlet_on_without_a_transaction_is_left_on_logged_once_and_shown(
        stack: Stack, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """A raw START_CHARGING through the vendor's pass-through: the operator may mean it, so the
    bridge does not undo it; it says so once and shows it in the cabin data."""
    assert stack.bridge is not None
    caplog.set_level(logging.WARNING, logger="locker_bridge.charge_point")
    bay, bridge, poller = emu.boards[1].bays[3], stack.bridge, poller_of(stack)
    await bridge.command("COM2", Frame(1, 0x50, 3).hex())  # START_CHARGING board 1 bay 3
    await until(lambda: _true(bridge.cabin(ident(3))["outletWithoutTransaction"]))
    polls = poller.polls
    await until(lambda: _true(poller.polls >= polls + 3))
    assert bay.outlet_on and bridge.cabin(ident(3))["outletWithoutTransaction"]
    said = [r.getMessage() for r in caplog.records if "without a transaction" in r.getMessage()]
    assert said == [f"{ident(3)}: the outlet is on without a transaction (switched on past the "
                    "bridge?); left on"]
    assert (await connector(stack, 3))["status"] == "Available"  # type: ignore[index]
    assert await transactions(stack, 3) == []
    await bridge.command("COM2", Frame(1, 0x52, 3).hex())
    await until(lambda: _not(bridge.cabin(ident(3))["outletWithoutTransaction"]))


# == 20. SuspendedEV from the power ===============================================================
async def test_an_outlet_on_that_draws_next_to_nothing_is_suspended_ev(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """Some boards say "charging" (state 1) whenever the outlet is on: a draw under
    suspended_ev_below_w for suspended_ev_after seconds is SuspendedEV all the same."""
    config = bridge_yaml(tmp_path, extra="suspended_ev_below_w: 3\nsuspended_ev_after: 0.3\n")
    async with bridged(db_url, config) as stack:
        await charging(stack, emu, 1, Device(capacity_wh=100.0, max_power_w=1.0, ramp_s=0))
        await wait_status(stack, 1, "SuspendedEV")
        assert emu.boards[1].bays[1].state == ChargeState.CHARGING
        assert vcp(stack, 1).bay.outlet == Outlet.CHARGING and vcp(stack, 1).bay.power_w == 1
        emu.boards[1].bays[1].place(Device.ebike())  # a device that draws
        await wait_status(stack, 1, "Charging")
        assert (await history(stack, 1))[-3:] == ["Charging", "SuspendedEV", "Charging"]


# == 21. reads an operator asks for =============================================================
async def test_reads_an_operator_asks_for_refresh_the_status_but_are_not_polls(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """Two polls finding the outlet off end the transaction (Other). Reads through the REST API
    or DataTransfer come at any pace: they show what they found but count for nothing."""
    config = bridge_yaml(tmp_path)
    config.write_text(config.read_text().replace("poll_interval: 0.2", "poll_interval: 60"))
    async with bridged(db_url, config) as stack:
        tx = await charging(stack, emu, 2)
        await wait_status(stack, 2, "Charging")
        emu.boards[1].bays[2].switch_off()  # silently
        answer = await data_transfer(stack, 2, "ChargingStatus")
        assert json.loads(answer["data"])["state"] == "off"
        await wait_status(stack, 2, "SuspendedEVSE")  # as a poll's read would have it
        for _ in range(3):
            r = await api(stack, "POST", f"/api/locker/cabins/{ident(2)}/charging-status")
            assert r.json()["state"] == "off"
        await holds(lambda: _still_running(stack, 2), 0.3)
        assert vcp(stack, 2).bay.off_polls == 0
        for _ in range(2):
            await poller_of(stack).poll()
        assert (await stopped(stack, tx["id"]))["stop_reason"] == "Other"


# == 22. maintenance ============================================================================
async def test_maintenance_makes_a_bay_unavailable_once_its_transaction_has_ended(
        stack: Stack, emu: Emulator) -> None:
    assert stack.bridge is not None
    bridge = stack.bridge
    await bridge.set_maintenance(ident(1), True)
    await wait_status(stack, 1, "Unavailable")
    await wait_status(stack, 1, "Unavailable", c=0)
    assert bridge.cabin(ident(1))["maintenance"] is True
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    # the CSMS's Operative cannot end the operator's maintenance (Accepted would promise it)
    answer = await command(stack, ident(1), "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert answer == {"status": "Rejected"}
    await holds(lambda: _status_is(stack, 1, "Unavailable"), 0.4)
    await bridge.set_maintenance(ident(1), False)
    await wait_status(stack, 1, "Available")
    await wait_status(stack, 1, "Available", c=0)
    # during a transaction: it runs to its end (Scheduled, as ChangeAvailability), then Unavailable
    tx = await charging(stack, emu, 2)
    await wait_status(stack, 2, "Charging")
    await bridge.set_maintenance(ident(2), True)
    await holds(lambda: _status_is(stack, 2, "Charging"), 0.5)
    assert emu.boards[1].bays[2].outlet_on
    assert (await connector(stack, 2, 0))["status"] == "Available"  # type: ignore[index]
    await remote_stop(stack, 2, tx)
    await stopped(stack, tx["id"])
    await wait_status(stack, 2, "Unavailable")
    await wait_status(stack, 2, "Unavailable", c=0)


# -- small async predicates for until()/holds() ----------------------------------------------------
async def _status_is(stack: Stack, n: int, status: str) -> bool:
    row = await connector(stack, n)
    return row is not None and row["status"] == status


async def _still_running(stack: Stack, n: int) -> bool:
    return any(t["stop_timestamp"] is None for t in await transactions(stack, n))


async def _count_at_least(found: Any, count: int) -> bool:
    return len(await found) >= count


async def _not(value: bool) -> bool:
    return not value


async def _true(value: bool) -> bool:
    return value


async def _eq(value: Any, expected: Any) -> bool:
    return bool(value == expected)
