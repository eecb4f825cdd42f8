"""The board emulator's faults, as they look on the wire."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import serial

from locker_bridge.emulator import ChargeState, Emulator, Fault
from locker_bridge.protocol import CB81, Event, Frame, Status, decode, from_hex
from tests.locker_bridge.board_emulator.conftest import (
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

# -- faults, as they look on the wire --------------------------------------------------------


async def test_no_reply_carries_out_the_command(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.NO_REPLY, times=1)
    master.send(Frame(1, OPEN, 2))
    await master.next_event()  # flushed right after the (lost) reply
    assert bytes(master.raw) == Frame(1, EVENT, 2, bytes([Event.DOOR_OPENED])).encode()
    assert emu.boards[1].bays[2].door_open  # done, just not acknowledged
    assert (await master.request(1, LOCKER, 2)).data == b"\x00\x01\x00"  # the rule was used up


async def test_an_unheard_request_has_no_effect(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.IGNORE, address=1, command="OPEN_DOOR")
    master.send(Frame(1, OPEN, 2))
    assert await master.raw_for(QUIET) == b""
    assert not emu.boards[1].bays[2].door_open and emu.stats.ignored == 1
    assert (await master.request(2, OPEN, 2)).status == Status.OK  # only board 1 is deaf


@pytest.mark.parametrize("kind", [Fault.GARBAGE_BEFORE, Fault.GARBAGE_AFTER])
async def test_garbage_around_a_reply(emu: Emulator, master: Master, kind: Fault) -> None:
    emu.inject(kind, times=1)
    master.send(Frame(1, STOP, 6))
    good = from_hex("81 01 03 53 06 00 5D 00 FA")
    wire = emu.garbage + good if kind is Fault.GARBAGE_BEFORE else good + emu.garbage
    await master.wait_for(lambda: len(master.raw) >= len(wire))
    assert bytes(master.raw) == wire
    assert master.frames == [decode(good)]  # the parser still finds it


async def test_garbage_inside_a_reply_spoils_it(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.GARBAGE_INSIDE, times=1)
    master.send(Frame(1, STOP, 6))
    good = from_hex("81 01 03 53 06 00 5D 00 FA")
    await master.wait_for(lambda: len(master.raw) >= len(good) + len(emu.garbage))
    assert bytes(master.raw) == good[:4] + emu.garbage + good[4:]
    assert master.frames == []


async def test_bad_checksum(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.BAD_CHECKSUM, times=1)
    master.send(Frame(1, STOP, 6))
    await master.wait_for(lambda: len(master.raw) >= 9)
    assert bytes(master.raw) == from_hex("81 01 03 53 06 00 5C 00 FA")
    assert master.frames == [] and master.parser.stats.checksum_errors == 1
    assert (await master.request(1, STOP, 6)).status == Status.OK


@pytest.mark.parametrize(("kind", "wire"), [
    (Fault.BAD_LEN, "81 01 04 53 06 00 5D 00 FA"),  # LEN says one byte more than there is
    (Fault.BAD_EOF, "81 01 03 53 06 00 5D 00 05"),
    (Fault.TRUNCATED, "81 01 03 53"),  # a partial frame
])
async def test_bad_len_bad_eof_and_a_truncated_reply(emu: Emulator, master: Master, kind: Fault,
                                                     wire: str) -> None:
    emu.inject(kind, times=1)
    master.send(Frame(1, STOP, 6))
    assert bytes(master.raw) + await master.raw_for(QUIET) == from_hex(wire)
    assert master.frames == []
    assert emu.stats.faults[kind] == 1


async def test_a_reply_short_of_its_data(emu: Emulator, master: Master) -> None:
    """Well framed, but another layout: no state, power or energy after the status; a reply that
    is only a status loses that too."""
    emu.inject(Fault.SHORT_REPLY, times=2)
    assert await master.request(1, CHARGING, 2) == Frame(1, CHARGING + 1, 2, b"\x00")
    assert await master.request(1, STOP, 2) == Frame(1, STOP + 1, 2, b"")


@pytest.mark.parametrize("emu", [{"late_by": 0.25}], indirect=True)
async def test_late_reply_comes_after_the_timeout(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.LATE_REPLY, times=1, command="LOCKER_STATUS")
    sent = time.monotonic()
    master.send(Frame(1, LOCKER, 3))
    assert await master.raw_for(CB81.reply_timeout) == b""
    master.send(Frame(1, STOP, 3))  # the master has given up and moved on
    first, second = await master.next_frame(), await master.next_frame()
    assert (first.command, second.command) == (0x53, 0x59)  # the stale reply arrives in between
    assert time.monotonic() - sent >= CB81.reply_timeout + emu.late_by - 0.01


async def test_local_echo_precedes_every_reply(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.ECHO)
    request = Frame(1, STOP, 6).encode()
    master.send(request)
    await master.wait_for(lambda: len(master.raw) >= len(request) + 9)
    assert bytes(master.raw) == request + from_hex("81 01 03 53 06 00 5D 00 FA")
    master.raw.clear()
    master.send(Frame(9, STOP, 6))  # the adapter echoes what nobody answers, too
    await master.wait_for(lambda: len(master.raw) >= 8)
    assert bytes(master.raw) + await master.raw_for(QUIET) == Frame(9, STOP, 6).encode()


async def test_reply_from_the_wrong_board_or_bay(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.WRONG_ADDRESS, times=1)
    emu.inject(Fault.WRONG_BAY, times=1, command="LOCKER_STATUS")
    reply = await master.request(1, STOP, 6)
    assert (reply.address, reply.command, reply.bay) == (2, 0x53, 6)
    reply = await master.request(2, LOCKER, 4)
    assert (reply.address, reply.command, reply.bay) == (2, 0x59, 5)
    assert await master.raw_for(QUIET) == b""  # and the right reply never comes


async def test_busy(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.BUSY, times=1, bay=1)
    assert await master.request(1, START, 1) == Frame(1, 0x51, 1, bytes([Status.BUSY]))
    assert not emu.boards[1].bays[1].outlet_on


async def test_stuck_door(emu: Emulator, master: Master) -> None:
    rule = emu.inject(Fault.STUCK_DOOR, address=1, bay=4)
    assert (await master.request(1, LOCKER, 4)).data == b"\x00\x00\x00"  # not a door command
    assert (await master.request(1, OPEN, 4)).status == Status.OK
    assert (await master.request(1, LOCKER, 4)).data == b"\x00\x00\x00"
    assert await master.raw_for(QUIET) == b""  # no door event either
    assert rule.applied == 1
    emu.remove_fault(rule)
    await master.request(1, OPEN, 4)
    assert (await master.request(1, LOCKER, 4)).data == b"\x00\x01\x00"


async def test_ack_without_effect(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.ACK_WITHOUT_EFFECT, times=2)
    assert (await master.request(1, OPEN, 8)).status == Status.OK  # not START/STOP: the door opens
    assert emu.boards[1].bays[8].door_open
    emu.boards[1].bays[8].close_door()
    assert (await master.request(1, START, 8)).status == Status.OK
    assert charging_status(await master.request(1, CHARGING, 8))[0] == ChargeState.OFF
    emu.boards[1].bays[8].switch_on()
    assert (await master.request(1, STOP, 8)).status == Status.OK
    assert charging_status(await master.request(1, CHARGING, 8))[0] == ChargeState.IDLE
    assert emu.faults == [] and emu.stats.faults[Fault.ACK_WITHOUT_EFFECT] == 2
    await master.request(1, STOP, 8)
    assert not emu.boards[1].bays[8].outlet_on


async def test_clear_faults(emu: Emulator, master: Master) -> None:
    emu.inject(Fault.NO_REPLY)
    emu.inject(Fault.ECHO)
    emu.clear_faults()
    assert (await master.request(1, STOP, 1)).status == Status.OK
    assert master.frames == []


async def test_port_vanishes_and_comes_back(tmp_path: Path) -> None:
    link = tmp_path / "ttyLOCKER"
    async with Emulator.on_pty(link=link) as emu:
        master = Master(link)
        assert (await master.request(1, STOP, 1)).status == Status.OK
        asyncio.get_running_loop().remove_reader(master.port.fileno())
        emu.unplug()
        assert not link.exists()
        with pytest.raises((serial.SerialException, OSError)):
            master.port.write(Frame(1, STOP, 1).encode())
            master.port.read(1)
        master.port.close()
        emu.replug()
        assert link.resolve() == emu.device
        master = Master(link)
        assert (await master.request(1, STOP, 1)).status == Status.OK
        master.close()
    assert not link.exists()


