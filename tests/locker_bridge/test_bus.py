"""The bus over a real pty with the board emulator on the other end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from locker_bridge.bus import Bus, NoReply, Priority
from locker_bridge.emulator import Emulator, Fault
from locker_bridge.protocol import Frame, Status, from_hex

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator.on_pty(boards=2, bays=12, link=tmp_path / "ttyLOCKER") as e:
        yield e


@pytest.fixture
async def bus(emu: Emulator, tmp_path: Path) -> AsyncIterator[Bus]:
    events: list[Frame] = []
    b = Bus("COM2", str(tmp_path / "ttyLOCKER"), on_unsolicited=events.append)
    b.events = events  # type: ignore[attr-defined]
    await b.start()
    yield b
    await b.close()


async def test_vendor_example_round_trip(bus: Bus, emu: Emulator) -> None:
    emu.boards[1].bays[6].switch_on()
    reply = await asyncio.wait_for(bus.send_raw(from_hex("81 01 02 52 06 5B 00 FA")), 2)
    assert reply.hex() == "81 01 03 53 06 00 5D 00 FA"
    assert not emu.boards[1].bays[6].outlet_on


async def test_start_status_and_board_status(bus: Bus, emu: Emulator) -> None:
    reply = await bus.request(2, "START_CHARGING", 3)
    assert reply.status == Status.OK and emu.boards[2].bays[3].outlet_on
    status = await bus.request(2, "CHARGING_STATUS", 3, priority=Priority.POLL)
    assert status.status == Status.OK and status.data[1] in (1, 2)
    board = await bus.request(2, "BOARD_STATUS", 0)
    assert board.data[1] == 12 and board.data[4] == 0b100  # bay 3 charging, bit 0 = bay 1


@pytest.mark.parametrize("fault", [Fault.GARBAGE_BEFORE, Fault.GARBAGE_INSIDE, Fault.GARBAGE_AFTER,
                                   Fault.BAD_CHECKSUM, Fault.ECHO, Fault.NO_REPLY, Fault.LATE_REPLY,
                                   Fault.WRONG_BAY])
async def test_idempotent_reads_survive_every_line_fault(bus: Bus, emu: Emulator, fault: Fault) -> None:
    emu.inject(fault, times=1)
    reply = await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 4), 3)
    assert (reply.address, reply.command, reply.bay) == (1, 0x59, 4)
    assert reply.status == Status.OK


async def test_open_door_is_never_retried(bus: Bus, emu: Emulator) -> None:
    emu.inject(Fault.NO_REPLY, times=1)
    with pytest.raises(NoReply):
        await asyncio.wait_for(bus.request(1, "OPEN_DOOR", 5), 3)
    assert bus.stats.retries == 0
    door = await bus.request(1, "LOCKER_STATUS", 5)  # read back, then decide
    assert door.data[1] == 1  # the command did happen: the door is open


async def test_silent_board_times_out_after_retries(bus: Bus, emu: Emulator) -> None:
    emu.inject(Fault.IGNORE)
    with pytest.raises(NoReply):
        await asyncio.wait_for(bus.request(1, "CHARGING_STATUS", 2, retries=2), 5)
    assert bus.stats.timeouts == 3 and bus.stats.retries == 2


async def test_unsolicited_events_are_delivered(bus: Bus, emu: Emulator) -> None:
    await bus.request(1, "LOCKER_STATUS", 1)
    emu.boards[1].bays[7].open_door()
    for _ in range(100):
        if bus.events:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.02)
    event = bus.events[0]  # type: ignore[attr-defined]
    assert (event.command, event.bay, event.data[0]) == (0x61, 7, 1)


async def test_operator_commands_go_before_polling(bus: Bus) -> None:
    order: list[str] = []

    async def call(name: str, command: str, priority: Priority) -> None:
        await bus.request(1, command, 1, priority=priority)
        order.append(name)

    polls = [asyncio.create_task(call(f"poll{i}", "CHARGING_STATUS", Priority.POLL)) for i in range(5)]
    operator = asyncio.create_task(call("operator", "LOCKER_STATUS", Priority.OPERATOR))
    await asyncio.gather(*polls, operator)
    assert order.index("operator") <= 1


async def test_vanished_port_is_reopened(bus: Bus, emu: Emulator) -> None:
    await bus.request(1, "LOCKER_STATUS", 1)
    emu.unplug()
    for _ in range(100):
        if not bus.up:
            break
        await asyncio.sleep(0.02)
    assert not bus.up
    emu.replug()
    reply = await asyncio.wait_for(_until_ok(bus), 10)
    assert reply.status == Status.OK and bus.stats.reopens >= 1


async def _until_ok(bus: Bus) -> Frame:
    while True:
        try:
            return await bus.request(1, "LOCKER_STATUS", 1)
        except Exception:
            await asyncio.sleep(0.1)
