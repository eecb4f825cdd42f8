"""Several boards on one bus, line timing, another board family, and the emulator's command line."""

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

from locker_bridge.emulator import Device, Emulator, Fault, fill_with_devices, run_cli
from locker_bridge.protocol import CB81, Event, Frame, Profile, Status, from_hex
from tests.locker_bridge.board_emulator.conftest import EVENT, LOCKER, OPEN, QUIET, START, STOP, Master

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
