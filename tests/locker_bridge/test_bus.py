"""The bus over a real pty with the board emulator on the other end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from locker_bridge.bus import BadReply, Bus, NoReply, PortDown, Priority
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
                                   Fault.BAD_CHECKSUM, Fault.BAD_LEN, Fault.BAD_EOF, Fault.TRUNCATED,
                                   Fault.SHORT_REPLY, Fault.ECHO, Fault.NO_REPLY, Fault.LATE_REPLY,
                                   Fault.WRONG_ADDRESS, Fault.WRONG_BAY, Fault.BUSY])
async def test_idempotent_reads_survive_every_line_fault(bus: Bus, emu: Emulator, fault: Fault) -> None:
    emu.inject(fault, times=1)
    reply = await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 4), 3)
    assert (reply.address, reply.command, reply.bay) == (1, 0x59, 4)
    assert reply.status == Status.OK


@pytest.mark.parametrize(("fault", "counter"), [(Fault.WRONG_ADDRESS, "unsolicited"),
                                               (Fault.SHORT_REPLY, "bad_replies"),
                                               (Fault.BUSY, "busy")])
async def test_a_reply_it_cannot_use_is_retried(bus: Bus, emu: Emulator, fault: Fault,
                                                counter: str) -> None:
    """Board 2's answer is not board 1's; a reply too short for its command is not an answer;
    BUSY means "try again later". Each costs one retry of an idempotent command."""
    emu.inject(fault, times=1, command="START_CHARGING")
    reply = await asyncio.wait_for(bus.request(1, "START_CHARGING", 3), 3)
    assert (reply.address, reply.status) == (1, Status.OK) and emu.boards[1].bays[3].outlet_on
    assert bus.stats.retries == 1 and getattr(bus.stats, counter) == 1


async def test_busy_open_door_is_answered_busy_not_retried(bus: Bus, emu: Emulator) -> None:
    emu.inject(Fault.BUSY, times=1, command="OPEN_DOOR")
    reply = await asyncio.wait_for(bus.request(1, "OPEN_DOOR", 5), 3)
    assert reply.status == Status.BUSY and not emu.boards[1].bays[5].door_open
    assert bus.stats.retries == 0 and bus.stats.busy == 0


async def test_a_reply_too_short_for_its_command_is_a_bad_reply(bus: Bus, emu: Emulator) -> None:
    """Not a struct.error further up: BadReply, a BusError every caller handles."""
    emu.inject(Fault.SHORT_REPLY, command="CHARGING_STATUS")  # OK, but no state/power/energy
    with pytest.raises(BadReply, match="CHARGING_STATUS answered .*: 1 DATA bytes, 8 expected"):
        await asyncio.wait_for(bus.request(1, "CHARGING_STATUS", 2), 3)
    assert bus.stats.bad_replies == 3  # every attempt
    emu.inject(Fault.SHORT_REPLY, command="STOP_CHARGING")  # not even a status byte
    with pytest.raises(BadReply, match="no status byte"):
        await asyncio.wait_for(bus.request(1, "STOP_CHARGING", 2, retries=0), 3)


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
    # Only the EVENT frame counts: on a loaded machine the request above may have timed out and
    # been retried, and the first attempt's late reply is an unsolicited frame too.
    events: list[Frame] = []
    for _ in range(250):
        events = [f for f in bus.events if f.command == 0x61]  # type: ignore[attr-defined]
        if events:
            break
        await asyncio.sleep(0.02)
    assert [(e.bay, e.data[0]) for e in events] == [(7, 1)]


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


async def _until_down(bus: Bus) -> None:
    for _ in range(100):
        if not bus.up:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the bus never noticed the port vanish")


async def test_requests_fail_at_once_while_the_port_is_down_and_reopen_it_on_demand(
        bus: Bus, emu: Emulator) -> None:
    await bus.request(1, "LOCKER_STATUS", 1)
    emu.unplug()
    await _until_down(bus)
    with pytest.raises(PortDown):
        await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 1), 0.3)
    await asyncio.sleep(1.0)  # failed attempts at 0.2 and 0.6 s: the next is due at 1.4 s
    loop = asyncio.get_running_loop()
    asked = loop.time()
    with pytest.raises(PortDown):  # not a wait for the backoff
        await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 1), 0.3)
    assert loop.time() - asked < 0.2
    emu.replug()
    reply = await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 1), 0.3)  # opened for it
    assert reply.status == Status.OK and bus.up and bus.stats.reopens == 1


async def test_counters_last_for_the_bus_not_for_one_opening(bus: Bus, emu: Emulator) -> None:
    emu.inject(Fault.BAD_CHECKSUM, times=1)
    await asyncio.wait_for(bus.request(1, "LOCKER_STATUS", 1), 3)
    parsed, sent = bus.parser.stats.frames, bus.stats.frames_out
    assert bus.parser.stats.checksum_errors == 1 and (parsed, sent) == (1, 2)
    emu.unplug()
    await _until_down(bus)
    emu.replug()
    await asyncio.wait_for(_until_ok(bus), 5)
    assert bus.stats.reopens == 1 and bus.parser.stats.checksum_errors == 1
    assert bus.parser.stats.frames == parsed + 1 and bus.stats.frames_out == sent + 1


async def _until_ok(bus: Bus) -> Frame:
    while True:
        try:
            return await bus.request(1, "LOCKER_STATUS", 1)
        except Exception:
            await asyncio.sleep(0.1)
