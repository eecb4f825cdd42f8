"""The board emulator's replies, charging curve and events, seen from the wire."""

from __future__ import annotations

import pytest

from locker_bridge.emulator import ChargeState, Device, Emulator
from locker_bridge.protocol import Event, Frame, Status, from_hex
from tests.locker_bridge.board_emulator.conftest import (
    BOARD,
    CHARGING,
    EVENT,
    LOCKER,
    OPEN,
    QUIET,
    START,
    STOP,
    Master,
    charging_status,
)

# -- replies ---------------------------------------------------------------------------------


async def test_vendor_worked_example_byte_for_byte(emu: Emulator, master: Master) -> None:
    master.send(from_hex("81 01 02 52 06 5B 00 FA"))
    await master.wait_for(lambda: len(master.raw) >= 9)
    assert bytes(master.raw) == from_hex("81 01 03 53 06 00 5D 00 FA")


async def test_every_reply_layout(emu: Emulator, master: Master) -> None:
    emu.boards[1].bays[3].place(Device.phone())
    assert await master.request(1, START, 3) == Frame(1, 0x51, 3, b"\x00")
    status = await master.request(1, CHARGING, 3)
    assert (status.address, status.command, status.bay) == (1, 0x55, 3)
    state, power, energy = charging_status(status)
    assert (state, energy) == (ChargeState.CHARGING, 0) and power < 20
    assert await master.request(1, OPEN, 4) == Frame(1, 0x57, 4, b"\x00")
    assert await master.request(1, LOCKER, 4) == Frame(1, 0x59, 4, b"\x00\x01\x00")  # open, empty
    assert await master.request(1, LOCKER, 3) == Frame(1, 0x59, 3, b"\x00\x00\x01")  # shut, occupied
    assert await master.request(1, STOP, 3) == Frame(1, 0x53, 3, b"\x00")
    assert charging_status(await master.request(1, CHARGING, 3))[0] == ChargeState.OFF


async def test_board_status_bitmaps(emu: Emulator, master: Master) -> None:
    board = emu.boards[2]
    for n in (1, 9):
        board.bays[n].open_door()
    for n in (2, 8, 10):
        board.bays[n].switch_on()
    reply = await master.request(2, BOARD, 0)
    # 10 bays: two bytes per bitmap, bit 0 = bay 1
    assert reply == Frame(2, 0x5B, 0, bytes([0, 10, 0b0000_0001, 0b01, 0b1000_0010, 0b10]))
    assert await master.request(2, BOARD, 3) == Frame(2, 0x5B, 3, bytes([Status.INVALID_BAY]))


async def test_invalid_bay_invalid_command_and_door_open(emu: Emulator, master: Master) -> None:
    for bay in (0, 11, 255):
        assert await master.request(1, START, bay) == Frame(1, 0x51, bay, bytes([Status.INVALID_BAY]))
    assert await master.request(1, 0x70, 1) == Frame(1, 0x71, 1, bytes([Status.INVALID_COMMAND]))
    assert await master.request(1, EVENT, 1) == Frame(1, 0x62, 1, bytes([Status.INVALID_COMMAND]))
    await master.request(1, OPEN, 5)
    assert await master.request(1, START, 5) == Frame(1, 0x51, 5, bytes([Status.DOOR_OPEN]))
    assert not emu.boards[1].bays[5].outlet_on
    emu.boards[1].bays[5].close_door()
    assert (await master.request(1, START, 5)).status == Status.OK


async def test_a_broken_bay_reports_fault(emu: Emulator, master: Master) -> None:
    bay = emu.boards[1].bays[2]
    bay.switch_on()
    bay.fail()
    assert charging_status(await master.request(1, CHARGING, 2))[0] == ChargeState.FAULT
    assert (await master.request(1, START, 2)).status == Status.BAY_FAULT
    assert (await master.request(1, OPEN, 2)).status == Status.BAY_FAULT
    bay.repair()
    assert (await master.request(1, START, 2)).status == Status.OK


# -- the charging curve ----------------------------------------------------------------------


async def test_charging_curve_and_energy_register(emu: Emulator, master: Master) -> None:
    emu.boards[1].bays[1].place(Device.phone(soc=0.5))  # 15 Wh, 20 W
    await master.request(1, START, 1)
    samples: list[tuple[int, int, int]] = []
    for step in (1, 1, 1, 10, *([60] * 50)):
        emu.advance(step)
        samples.append(charging_status(await master.request(1, CHARGING, 1)))
    powers = [p for _, p, _ in samples]
    energies = [e for _, _, e in samples]
    assert powers[0] < powers[1] < powers[2] < powers[3] == 20  # ramps to its maximum
    tapering = [p for s, p, _ in samples[4:] if s == ChargeState.CHARGING and p < 20]
    assert len(tapering) >= 3 and tapering == sorted(tapering, reverse=True)  # tapers
    assert samples[-1][0] == ChargeState.IDLE and samples[-1][1] <= 2  # full: idle, outlet on
    assert samples[3][0] == ChargeState.CHARGING
    assert energies == sorted(energies) and energies[0] == 0
    assert 7 <= energies[-1] <= 9  # half of 15 Wh, plus a little standby
    assert emu.boards[1].bays[1].outlet_on and emu.boards[1].bays[1].device.full  # type: ignore[union-attr]
    before = emu.boards[1].bays[1].energy_wh
    emu.advance(3600)  # an hour of standby at 0.8 W
    assert emu.boards[1].bays[1].energy_wh == pytest.approx(before + 0.8)


async def test_an_empty_bay_with_its_outlet_on_is_idle(emu: Emulator, master: Master) -> None:
    await master.request(1, START, 7)
    emu.advance(600)
    assert charging_status(await master.request(1, CHARGING, 7)) == (ChargeState.IDLE, 0, 0)


async def test_an_ebike_draws_more(emu: Emulator, master: Master) -> None:
    emu.boards[2].bays[4].place(Device.ebike())
    await master.request(2, START, 4)
    emu.advance(3600)
    state, power, energy = charging_status(await master.request(2, CHARGING, 4))
    assert (state, power) == (ChargeState.CHARGING, 120) and 115 <= energy <= 120


# -- events ------------------------------------------------------------------------------------


@pytest.mark.parametrize("emu", [{"door_close_after": 10.0}], indirect=True)
async def test_door_events_follow_the_reply(emu: Emulator, master: Master) -> None:
    assert (await master.request(1, OPEN, 6)).status == Status.OK
    assert await master.next_frame() == Frame(1, EVENT, 6, bytes([Event.DOOR_OPENED]))
    emu.advance(9)
    assert (await master.request(1, LOCKER, 6)).data == b"\x00\x01\x00"
    emu.advance(1)  # the door shuts by itself
    assert await master.next_event() == Frame(1, EVENT, 6, bytes([Event.DOOR_CLOSED]))
    assert (await master.request(1, LOCKER, 6)).data == b"\x00\x00\x00"
    await master.request(1, OPEN, 6)
    emu.boards[1].bays[6].close_door()  # on demand
    assert [(await master.next_event()).data[0] for _ in range(2)] == [Event.DOOR_OPENED, Event.DOOR_CLOSED]


async def test_effect_without_command(emu: Emulator, master: Master) -> None:
    bay = emu.boards[2].bays[9]
    bay.open_door()
    assert await master.next_event() == Frame(2, EVENT, 9, bytes([Event.DOOR_OPENED]))
    assert (await master.request(2, LOCKER, 9)).data == b"\x00\x01\x00"
    bay.close_door()
    await master.next_event()
    await master.request(2, START, 9)
    bay.stop_by_board()
    assert await master.next_event() == Frame(2, EVENT, 9, bytes([Event.CHARGING_STOPPED]))
    assert charging_status(await master.request(2, CHARGING, 9))[0] == ChargeState.OFF


async def test_reboot_switches_every_outlet_off(emu: Emulator, master: Master) -> None:
    for n in (1, 2, 3):
        await master.request(1, START, n)
    await master.request(2, START, 1)
    emu.boards[1].reboot()
    assert await master.next_event() == Frame(1, EVENT, 0, bytes([Event.BOARD_REBOOTED]))
    assert (await master.request(1, BOARD, 0)).data[4:] == b"\x00\x00"  # no outlet on
    assert (await master.request(2, BOARD, 0)).data[4:] == b"\x01\x00"  # the other board untouched


async def test_a_rebooting_board_hears_nothing(emu: Emulator, master: Master) -> None:
    emu.boards[1].reboot(down_for=5.0)
    master.send(Frame(1, LOCKER, 1))
    assert await master.raw_for(QUIET) == b""
    emu.advance(5)
    assert await master.next_event() == Frame(1, EVENT, 0, bytes([Event.BOARD_REBOOTED]))
    assert (await master.request(1, LOCKER, 1)).status == Status.OK


