"""A master on the emulator's pty, as the bridge opens it: pyserial on the slave side."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from locker_bridge.emulator import Emulator
from locker_bridge.protocol import CB81, Frame, Profile, Status, StreamParser

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


