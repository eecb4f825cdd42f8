"""How a locker bay behaves as an OCPP charge point, end to end: a silent board, faults and read-backs.

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty.
"""

from __future__ import annotations

import asyncio
import json

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator, Fault
from tests.helpers import add_id_tag
from tests.locker_bridge.bays import (
    TAG,
    _eq,
    _status_is,
    _still_running,
    charging,
    connector,
    data_transfer,
    history,
    holds,
    ident,
    load,
    messages,
    open_tx,
    remote_stop,
    stopped,
    transactions,
    wait_status,
)
from tests.locker_bridge.conftest import command, until


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
    # not before the third missed poll (one may have been under way, counted in ``before``, when
    # the fault came: a poll is counted when it starts, a miss when it ends)
    assert poller.missed >= 3 and poller.polls - before >= 2
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
