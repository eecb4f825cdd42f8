"""The board emulator, seen from the wire: a master opens the pty's slave side with pyserial."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from locker_bridge.emulator import ChargeState, Device, Emulator, Fault, fill_with_devices, run_cli
from locker_bridge.protocol import CB81, Event, Frame, Profile, Status, StreamParser, decode, from_hex

START, STOP, CHARGING, OPEN, LOCKER, BOARD, EVENT = 0x50, 0x52, 0x54, 0x56, 0x58, 0x5A, 0x61
QUIET = 0.15  # longer than the master's 100 ms reply timeout: "no reply" for sure


class Master:
    """The bridge's side of the line, read without blocking the loop the emulator runs on."""

    def __init__(self, path: Path, profile: Profile = CB81) -> None:
        self.port = serial.Serial(str(path), 9600, timeout=0)
        self.profile = profile
        self.raw = bytearray()  # every byte received, for checks on the wire itself
        self.parser = StreamParser(replace(profile, inter_byte_timeout=1.0))  # lenient under load
        self.frames: list[Frame] = []
        self._new = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.port.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        data = os.read(self.port.fileno(), 4096)
        self.raw += data
        self.frames += self.parser.feed(data, time.monotonic())
        self._new.set()

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.port.fileno())
        self.port.close()

    def send(self, frame: Frame | bytes) -> None:
        self.port.write(frame.encode(self.profile) if isinstance(frame, Frame) else frame)

    async def wait_for(self, ready: Callable[[], bool], timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while not ready():
                self._new.clear()
                await self._new.wait()

    async def raw_for(self, seconds: float) -> bytes:
        """Everything that arrives within ``seconds`` from now."""
        start = len(self.raw)
        await asyncio.sleep(seconds)
        return bytes(self.raw[start:])

    async def next_frame(self, timeout: float = 2.0) -> Frame:
        await self.wait_for(lambda: bool(self.frames), timeout)
        return self.frames.pop(0)

    async def next_event(self, timeout: float = 2.0) -> Frame:
        await self.wait_for(lambda: any(f.command == EVENT for f in self.frames), timeout)
        event = next(f for f in self.frames if f.command == EVENT)
        self.frames.remove(event)
        return event

    async def request(self, address: int, command: int, bay: int, timeout: float = 2.0) -> Frame:
        """Send a request, return the first frame that is not an EVENT (events stay queued)."""
        self.send(Frame(address, command, bay))
        await self.wait_for(lambda: any(f.command != EVENT for f in self.frames), timeout)
        reply = next(f for f in self.frames if f.command != EVENT)
        self.frames.remove(reply)
        return reply


@pytest.fixture
async def emu(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    options = getattr(request, "param", {})
    async with Emulator.on_pty(**{"boards": 2, "bays": 10, **options}) as e:
        yield e


@pytest.fixture
async def master(emu: Emulator) -> AsyncIterator[Master]:
    assert emu.device is not None
    m = Master(emu.device, emu.profile)
    yield m
    m.close()


def charging_status(reply: Frame) -> tuple[int, int, int]:
    assert reply.status == Status.OK and len(reply.data) == 8
    return struct.unpack("<BHI", reply.data[1:])


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


# -- the bus ------------------------------------------------------------------------------------


@pytest.mark.parametrize("emu", [{"boards": 3, "bays": 4}], indirect=True)
async def test_boards_share_one_bus(emu: Emulator, master: Master) -> None:
    for address in (3, 1, 2):
        assert await master.request(address, LOCKER, 4) == Frame(address, 0x59, 4, b"\x00\x00\x00")
    master.send(Frame(4, LOCKER, 1))  # nobody there
    master.send(Frame(31, STOP, 1))
    assert await master.raw_for(QUIET) == b""
    assert (emu.stats.requests, emu.stats.ignored) == (3, 2)
    await master.request(2, START, 1)
    assert [b.bays[1].outlet_on for b in emu.boards.values()] == [False, True, False]


@pytest.mark.parametrize("emu", [{"profile": replace(CB81, inter_byte_timeout=1.0)}], indirect=True)
async def test_requests_in_one_write_and_split_frames(emu: Emulator, master: Master) -> None:
    master.send(Frame(1, LOCKER, 1).encode() + Frame(2, LOCKER, 2).encode())
    assert [(f.address, f.bay) for f in (await master.next_frame(), await master.next_frame())] == [
        (1, 1), (2, 2)]
    raw = Frame(1, STOP, 6).encode()
    master.send(b"\x00\x81" + raw[:3])  # noise, then half a frame: the emulator must not block
    await asyncio.sleep(0.02)
    assert emu.parser.pending == 3  # the emulator holds the partial frame, the loop runs on
    master.send(raw[3:])
    assert (await master.next_frame()).command == 0x53


async def test_another_board_family(tmp_path: Path) -> None:
    other = Profile(name="xor", sof=0xAA, eof=0x55, checksum="xor8", reply_offset=0x80,
                    opcodes={"OPEN_DOOR": 0x10, "LOCKER_STATUS": 0x11, "EVENT": 0x20})
    async with Emulator.on_pty(profile=other, bays=4) as emu:
        assert emu.device is not None
        master = Master(emu.device, other)
        assert await master.request(1, 0x10, 2) == Frame(1, 0x90, 2, b"\x00")
        assert await master.next_frame() == Frame(1, 0x20, 2, bytes([Event.DOOR_OPENED]))
        assert await master.request(1, 0x11, 2) == Frame(1, 0x91, 2, b"\x00\x01\x00")
        assert await master.request(1, 0x50, 2) == Frame(1, 0xD0, 2, bytes([Status.INVALID_COMMAND]))
        assert master.raw[0] == 0xAA and master.raw[-1] == 0x55
        master.close()


async def transactions(master: Master, count: int) -> float:
    start = time.monotonic()
    for n in range(count):
        await master.request(1, STOP, n % 8 + 1)
    return time.monotonic() - start


@pytest.mark.parametrize("emu", [{"line_timing": True}], indirect=True)
async def test_line_timing_paces_at_the_baud_rate(emu: Emulator, master: Master) -> None:
    per_byte = 10 / 9600
    paced = await transactions(master, 10)
    # each: the request's 8 bytes on the wire, processing, then the reply's 9 bytes
    assert 10 * (17 * per_byte + emu.processing_delay) <= paced < 5.0
    started = time.monotonic()
    master.send(Frame(1, OPEN, 2))  # the reply, then the door event: both paced
    await master.wait_for(lambda: len(master.frames) >= 2)
    assert time.monotonic() - started >= (8 + 9 + 8) * per_byte


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    link = tmp_path / "ttyLOCKER"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chargebay"), "emulate-board",
                             "--link", str(link), "--boards", "2", "--bays", "12"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc, link
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serves_until_sigterm(cli: tuple[subprocess.Popen[str], Path]) -> None:
    proc, link = cli
    deadline = time.monotonic() + 20
    while not link.is_symlink():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no symlink"
        time.sleep(0.05)
    device = os.readlink(link)
    with serial.Serial(str(link), 9600, timeout=1) as port:
        port.write(from_hex("81 02 02 56 0C 66 00 FA"))  # OPEN_DOOR board 2 bay 12
        assert port.read(9) == Frame(2, 0x57, 12, b"\x00").encode()
        assert port.read(9) == Frame(2, EVENT, 12, bytes([Event.DOOR_OPENED])).encode()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    assert f"on {device} -> {link}" in out and "stopped: 1 requests, 1 replies, 1 events" in out
    assert "Traceback" not in out
    assert not link.exists() and not link.is_symlink()


def test_cli_injects_faults(tmp_path: Path) -> None:
    link = tmp_path / "ttyLOCKER"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chargebay"), "emulate-board",
                             "--link", str(link), "--fault", "busy:1", "--fault", "echo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        assert "fault busy x1, fault echo)" in proc.stdout.readline()
        request = from_hex("81 01 02 50 01 54 00 FA")  # START_CHARGING board 1 bay 1
        with serial.Serial(str(link), 9600, timeout=1) as port:
            for status in (Status.BUSY, Status.OK):  # busy once, echoed every time
                port.write(request)
                assert port.read(8) == request
                assert port.read(9) == Frame(1, START + 1, 1, bytes([status])).encode()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert "3 faults injected" in out, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_fault_option_lists_every_fault_and_refuses_others(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chargebay.cli import app

    runner = CliRunner()
    shown = " ".join(runner.invoke(app, ["emulate-board", "--help"], env={"COLUMNS": "300"}).output.split())
    assert all(kind.value in shown for kind in Fault), shown
    for spec, message in (("nope", "unknown fault 'nope'; one of: ignore, no_reply"),
                          ("busy:0", "COUNT must be a whole number from 1")):
        done = runner.invoke(app, ["emulate-board", "--link", str(tmp_path / "tty"), "--fault", spec])
        assert done.exit_code == 2 and message in " ".join(done.output.split()), done.output
    assert not (tmp_path / "tty").exists()


def test_cli_refuses_a_link_it_must_not_replace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "file"
    taken.write_text("mine")
    for link in (taken, tmp_path / "no-such-dir" / "tty"):
        with pytest.raises(SystemExit) as exited:
            run_cli(link, 1, 4)
        assert exited.value.code == 2 and f"error: --link {link}" in capsys.readouterr().err
    assert taken.read_text() == "mine"


async def test_devices_for_a_demo(emu: Emulator) -> None:
    fill_with_devices(emu)
    bays = emu.boards[2].bays
    assert all(bay.item for bay in bays.values())
    assert (bays[1].device, bays[2].device) == (Device.phone(), Device.ebike())
