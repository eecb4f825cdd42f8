"""The emulator on the far side of a pseudo-terminal: framing through a
:class:`~locker_bridge.protocol.Profile`, the line timing and the faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from locker_bridge.emulator.board import Board
from locker_bridge.emulator.faults import EmulatorStats, Fault, FaultRule
from locker_bridge.emulator.model import COMMANDS, MAX_BAYS, MAX_BOARDS, TICK, SimClock
from locker_bridge.protocol import CB81, Frame, Profile, Status, StreamParser, to_hex

log = logging.getLogger(__name__)


class Emulator:
    """Boards ``1..boards`` with ``bays`` bays each, sharing one bus, served over a pty.

    Use :meth:`on_pty`. The model is ``emu.boards[address].bays[n]``; per-request faults are
    :meth:`inject` rules; spontaneous events are methods of :class:`Bay` and :class:`Board`;
    :meth:`advance` skips simulated time; :meth:`unplug`/:meth:`replug` make the port vanish.
    """

    def __init__(self, boards: int = 1, bays: int = 8, *, profile: Profile = CB81,
                 line_timing: bool = False, processing_delay: float | None = None,
                 speed: float = 1.0, door_close_after: float | None = 5.0,
                 late_by: float = 0.05, garbage: bytes = b"\x81\x07\xff\x00\x13") -> None:
        if not 1 <= boards <= MAX_BOARDS:
            raise ValueError(f"1..{MAX_BOARDS} boards on one bus")
        self.profile = profile
        self.clock = SimClock(speed)
        self.boards = {a: Board(a, bays, self.clock, door_close_after) for a in range(1, boards + 1)}
        self.line_timing = line_timing
        if processing_delay is None:
            processing_delay = 0.002 if line_timing else 0.0
        self.processing_delay = processing_delay
        bits = 1 + profile.bytesize + (profile.parity != "N") + profile.stopbits
        self.byte_time = bits / profile.baudrate
        self.late_by = late_by  # a LATE_REPLY comes this long after the reply timeout
        self.garbage = garbage  # what the GARBAGE_* faults add; a SOF inside makes the parser work
        self.faults: list[FaultRule] = []
        self.stats = EmulatorStats()
        self.parser = StreamParser(profile)
        self.device: Path | None = None  # the slave side, what the bridge opens
        self.link: Path | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._requests: asyncio.Queue[Frame] = asyncio.Queue()
        self._out: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self._lock = asyncio.Lock()  # one transaction or event flush at a time on the bus
        self._wake = asyncio.Event()
        self._line_free_at = 0.0
        self._late: set[asyncio.TimerHandle] = set()
        self._tasks: list[asyncio.Task[None]] = []
        for board in self.boards.values():
            board.on_event = self._wake.set

    @classmethod
    @contextlib.asynccontextmanager
    async def on_pty(cls, *, link: Path | None = None, **options: Any) -> AsyncIterator[Emulator]:
        """Serve on a new pty (slave symlinked at ``link``) until the block ends; options as for
        the constructor."""
        emu = cls(**options)
        await emu.start(link)
        try:
            yield emu
        finally:
            await emu.stop()

    async def start(self, link: Path | None = None) -> None:
        """Open the pty and serve; :meth:`on_pty` pairs this with :meth:`stop`."""
        self.link = link
        self._open_pty()
        self._tasks = [asyncio.create_task(coro) for coro in
                       (self._serve_requests(), self._write_out(), self._tick())]

    async def stop(self) -> None:
        """Stop serving, drop pending late replies, close the pty and remove the link."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for handle in self._late:
            handle.cancel()
        self._close_pty()

    # -- faults and time --------------------------------------------------------------------

    def inject(self, kind: Fault, *, times: int | None = None, address: int | None = None,
               bay: int | None = None, command: str | None = None) -> FaultRule:
        """Switch a fault on for matching requests (all of them unless narrowed)."""
        if command is not None and command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        rule = FaultRule(kind, times, address, bay, command)
        self.faults.append(rule)
        return rule

    def remove_fault(self, rule: FaultRule) -> None:
        """Switch one rule off (a no-op if it was used up already)."""
        self.faults = [r for r in self.faults if r is not rule]

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance(self, seconds: float) -> None:
        """Skip simulated time: batteries charge, doors shut, and their events go out."""
        self.clock.advance(seconds)
        self._wake.set()

    def unplug(self) -> None:
        """The port vanishes like a pulled USB adapter: the bridge's reads and writes fail."""
        self._close_pty()

    def replug(self) -> None:
        """A new device appears (at the same ``link``, if any)."""
        if self._master is None:
            self._open_pty()

    def _apply(self, kind: Fault, request: Frame, name: str | None) -> bool:
        for rule in self.faults:
            if rule.kind is kind and rule.matches(request, name):
                rule.applied += 1
                if rule.times is not None and rule.applied >= rule.times:
                    self.remove_fault(rule)
                self.stats.faults[kind] += 1
                return True
        return False

    # -- the bus ------------------------------------------------------------------------------

    async def _serve_requests(self) -> None:
        while True:
            await self._transact(await self._requests.get())

    async def _transact(self, request: Frame) -> None:
        p = self.profile
        raw_request = request.encode(p)
        name = p.name_of(request.command)
        if self._apply(Fault.ECHO, request, name):
            self._out.put_nowait((raw_request, False))
        board = self.boards.get(request.address)
        if board is None or board.booting or self._apply(Fault.IGNORE, request, name):
            self.stats.ignored += 1
            return
        self.stats.requests += 1
        async with self._lock:
            if self._apply(Fault.BUSY, request, name):
                status, data = Status.BUSY, b""
            else:
                effect = not (self._apply(Fault.STUCK_DOOR, request, name)
                              or self._apply(Fault.ACK_WITHOUT_EFFECT, request, name))
                status, data = board.handle(name, request.bay, effect=effect)
            reply = Frame(request.address, (request.command + p.reply_offset) & 0xFF, request.bay,
                          bytes([status]) + data)
            if self._apply(Fault.WRONG_ADDRESS, request, name):
                reply = replace(reply, address=request.address % MAX_BOARDS + 1)
            if self._apply(Fault.WRONG_BAY, request, name):
                reply = replace(reply, bay=request.bay % MAX_BAYS + 1)
            if self._apply(Fault.SHORT_REPLY, request, name):
                reply = replace(reply, data=reply.data[:1] if len(reply.data) > 1 else b"")
            raw = bytearray(reply.encode(p))
            if self._apply(Fault.BAD_CHECKSUM, request, name):
                raw[-1 - p.checksum_size] ^= 0x01
            if self._apply(Fault.BAD_LEN, request, name):
                raw[2] = (raw[2] + 1) & 0xFF
            if self._apply(Fault.BAD_EOF, request, name):
                raw[-1] ^= 0xFF
            if self._apply(Fault.TRUNCATED, request, name):
                del raw[len(raw) // 2:]
            if self._apply(Fault.GARBAGE_INSIDE, request, name):
                raw[len(raw) // 2:len(raw) // 2] = self.garbage
            if self._apply(Fault.GARBAGE_BEFORE, request, name):
                raw[:0] = self.garbage
            if self._apply(Fault.GARBAGE_AFTER, request, name):
                raw += self.garbage
            log.debug("board %d: %s -> %s", board.address, to_hex(raw_request), to_hex(bytes(raw)))
            if self._apply(Fault.NO_REPLY, request, name):
                pass
            elif self._apply(Fault.LATE_REPLY, request, name):
                self._send_later(p.reply_timeout + self.late_by, bytes(raw))
            else:
                wire = len(raw_request) * self.byte_time if self.line_timing else 0.0
                await asyncio.sleep(wire + self.processing_delay)
                self._send(bytes(raw))
            self._flush_events()

    def _send(self, raw: bytes) -> None:
        self.stats.replies += 1
        self._out.put_nowait((raw, True))

    def _send_later(self, delay: float, raw: bytes) -> None:
        def fire() -> None:
            self._late.discard(handle)
            self._send(raw)
        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._late.add(handle)

    def _flush_events(self) -> None:
        event = self.profile.opcodes.get("EVENT")
        for board in self.boards.values():
            for bay, what in board.take_events():
                if event is not None:  # a board family without events just keeps quiet
                    self.stats.events += 1
                    frame = Frame(board.address, event, bay, bytes([what]))
                    self._out.put_nowait((frame.encode(self.profile), True))

    async def _tick(self) -> None:
        """Door timers, boot completion and events of spontaneous changes, between transactions."""
        while True:
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow stop()'s cancel
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()
            async with self._lock:
                for board in self.boards.values():
                    board.update()
                self._flush_events()

    async def _write_out(self) -> None:
        """The transmitter: one chunk at a time, paced at the baud rate when line timing is on.

        Echo chunks are not paced: they come back while the master is still transmitting.
        """
        loop = asyncio.get_running_loop()
        while True:
            raw, paced = await self._out.get()
            if not (paced and self.line_timing):
                self._write(raw)
                continue
            start = max(loop.time(), self._line_free_at)
            sent = 0
            while sent < len(raw):
                due = min(len(raw), int((loop.time() - start) / self.byte_time + 1e-9))
                if due > sent:
                    self._write(raw[sent:due])
                    sent = due
                if sent < len(raw):
                    await asyncio.sleep(start + (sent + 1) * self.byte_time - loop.time())
            self._line_free_at = start + len(raw) * self.byte_time

    def _write(self, raw: bytes) -> None:
        view = memoryview(raw)
        while view and self._master is not None:
            try:
                n = os.write(self._master, view)
            except OSError:  # buffer full (nobody reads) or the pty is gone: lost on the wire
                break
            self.stats.bytes_out += n
            view = view[n:]
        self.stats.bytes_dropped += len(view)

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO only if no slave fd is open; we hold one, so this is a vanished pty
            log.warning("pty %s: read failed", self.device, exc_info=True)
            return
        self.stats.bytes_in += len(data)
        for frame in self.parser.feed(data, asyncio.get_running_loop().time()):
            self._requests.put_nowait(frame)

    # -- the pty --------------------------------------------------------------------------------

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation: a plain 8-bit line
        os.set_blocking(master, False)
        # the slave stays open here too, so the master never sees EIO while the bridge is away
        self._master, self._slave = master, slave
        self.device = Path(os.ttyname(slave))
        if self.link is not None:
            try:
                point(self.link, self.device)
            except OSError:
                self._close_pty()
                raise
        asyncio.get_running_loop().add_reader(master, self._on_readable)

    def _close_pty(self) -> None:
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if (self.link is not None and self.link.is_symlink()
                and Path(os.readlink(self.link)) == self.device):
            self.link.unlink()


def point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` in one step (a stale link is replaced, a file is not)."""
    if link.exists() and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink")
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)
