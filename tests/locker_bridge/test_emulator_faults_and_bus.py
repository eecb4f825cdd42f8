"""The board emulator, seen from the wire: faults as they look on the wire, and the shared bus.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from locker_bridge.emulator import ChargeState, Device, Emulator, Fault, fill_with_devices, run_cli
from locker_bridge.protocol import CB81, Event, Frame, Profile, Status, decode, from_hex
from tests.locker_bridge import emulated
from tests.locker_bridge.emulated import (
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

emu = emulated.emu  # a fixture
master = emulated.master  # a fixture


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
