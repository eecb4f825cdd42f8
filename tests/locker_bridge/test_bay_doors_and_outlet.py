"""How a locker bay behaves as an OCPP charge point, end to end: doors, the outlet and what ends a charge.

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty.
"""

from __future__ import annotations

import pytest

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator
from tests.helpers import add_id_tag
from tests.locker_bridge.bays import (
    TAG,
    _not,
    _status_is,
    _still_running,
    _true,
    charging,
    connector,
    history,
    holds,
    ident,
    remote_stop,
    stopped,
    transactions,
    vcp,
    wait_status,
)
from tests.locker_bridge.conftest import command, until


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
