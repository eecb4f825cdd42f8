"""A bus of emulated locker controller boards on the far side of a pseudo-terminal.

Why: the bridge, its tests and the benchmark need boards that speak the real wire format over a
real serial device — pyserial opens the pty's slave side exactly as it opens ``/dev/ttyUSB0`` —
with every misbehaviour a robust driver must survive available on demand. The model
(:class:`Board`, :class:`Bay`, :class:`Device`) knows nothing about frames; :class:`Emulator` does
the framing through a :class:`~locker_bridge.protocol.Profile`, the line timing and the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
import time
import tty
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any

from locker_bridge.protocol import CB81, Event, Frame, Profile, Status, StreamParser, to_hex

log = logging.getLogger(__name__)

MAX_BOARDS = 31
MAX_BAYS = 48
MAX_STEP = 1.0  # simulated seconds per integration step: fine enough for a 5 s power ramp
TICK = 0.05  # real seconds between checks for door timers, boot completion and pending events
COMMANDS = frozenset({"START_CHARGING", "STOP_CHARGING", "CHARGING_STATUS", "OPEN_DOOR",
                      "LOCKER_STATUS", "BOARD_STATUS"})


class ChargeState(IntEnum):
    """The state byte of a CHARGING_STATUS reply."""

    OFF = 0
    CHARGING = 1
    IDLE = 2  # outlet on but nothing drawing: no device, or its battery is full
    FAULT = 3


class SimClock:
    """Simulated seconds: real time × ``speed``, plus whatever was skipped with :meth:`advance`.

    Why: a phone takes an hour to charge; tests and demos must see the whole curve in seconds.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()
        self._skipped = 0.0

    def __call__(self) -> float:
        return (time.monotonic() - self._start) * self.speed + self._skipped

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._skipped += seconds


@dataclass
class Device:
    """A battery behind a charger on a bay's outlet, as the outlet sees it.

    Constant power after a short ramp, a linear taper above ``taper_from``, then the charger
    stops at ``cutoff`` × max and only its standby draw remains: the CC/CV shape of real chargers,
    which gives the bridge all three CHARGING_STATUS answers (charging, tapering, on but idle).
    """

    capacity_wh: float
    max_power_w: float
    soc: float = 0.2
    ramp_s: float = 5.0
    taper_from: float = 0.8
    cutoff: float = 0.05
    idle_w: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.soc <= 1.0:
            raise ValueError("state of charge is a fraction 0..1")
        if not 0.0 < self.taper_from < 1.0 or self.capacity_wh <= 0 or self.max_power_w <= 0:
            raise ValueError("capacity and power must be positive, taper_from inside 0..1")

    @classmethod
    def phone(cls, soc: float = 0.2) -> Device:
        return cls(capacity_wh=15.0, max_power_w=20.0, soc=soc)

    @classmethod
    def ebike(cls, soc: float = 0.2) -> Device:
        return cls(capacity_wh=500.0, max_power_w=120.0, soc=soc, ramp_s=10.0, idle_w=1.5)

    @property
    def full(self) -> bool:
        return self.soc >= 1.0

    def power(self, powered_for: float) -> float:
        """Watts drawn ``powered_for`` seconds after the power came on."""
        if self.full:
            return self.idle_w
        ramp = min(1.0, powered_for / self.ramp_s) if self.ramp_s > 0 else 1.0
        return self.max_power_w * ramp * self._taper()

    def absorb(self, wh: float) -> None:
        if self.full:
            return
        self.soc = min(1.0, self.soc + wh / self.capacity_wh)
        if self._taper() < self.cutoff:
            self.soc = 1.0  # the charger terminates: from now on standby only

    def _taper(self) -> float:
        if self.soc <= self.taper_from:
            return 1.0
        return (1.0 - self.soc) / (1.0 - self.taper_from)


class Bay:
    """One compartment: door, item sensor, outlet and energy register.

    State changes the board would report on its own (door opened/closed, charging stopped) are
    passed to ``emit``; the methods without a request behind them are the "effect without command"
    faults (:meth:`open_door`, :meth:`close_door`, :meth:`stop_by_board`, :meth:`fail`).
    """

    def __init__(self, number: int, clock: Callable[[], float], emit: Callable[[int, Event], None],
                 door_close_after: float | None = 5.0, energy_wh: float = 0.0) -> None:
        self.number = number
        self.door_close_after = door_close_after  # simulated seconds; None: open until closed
        self.door_open = False
        self.item = False
        self.device: Device | None = None
        self.outlet_on = False
        self.switch_ons = 0  # times the outlet went on (a start that should not have been shows)
        self.broken = False
        self._clock = clock
        self._emit = emit
        self._energy_wh = energy_wh
        self._last = clock()
        self._powered_for = 0.0
        self._close_at: float | None = None

    def update(self) -> None:
        """Bring the battery, the energy register and the door timer up to the clock."""
        now = self._clock()
        dt, self._last = now - self._last, now
        while dt > 0 and self.outlet_on and self.device is not None:
            step = min(dt, MAX_STEP)
            wh = self.device.power(self._powered_for + step / 2) * step / 3600.0
            self._energy_wh += wh
            self.device.absorb(wh)
            self._powered_for += step
            dt -= step
        if self.door_open and self._close_at is not None and now >= self._close_at:
            self.close_door()

    @property
    def energy_wh(self) -> float:
        self.update()
        return self._energy_wh

    @property
    def energy_register(self) -> int:
        """What the board reports: whole Wh in a u32 that wraps."""
        return int(self.energy_wh) & 0xFFFFFFFF

    @property
    def power_w(self) -> float:
        self.update()
        if not self.outlet_on or self.device is None:
            return 0.0
        return self.device.power(self._powered_for)

    @property
    def state(self) -> ChargeState:
        self.update()
        if self.broken:
            return ChargeState.FAULT
        if not self.outlet_on:
            return ChargeState.OFF
        if self.device is None or self.device.full:
            return ChargeState.IDLE
        return ChargeState.CHARGING

    def switch_on(self) -> None:
        self.update()
        if not self.outlet_on:
            self.outlet_on = True
            self.switch_ons += 1
            self._powered_for = 0.0

    def switch_off(self) -> None:
        self.update()
        self.outlet_on = False

    def reset_register(self) -> None:
        self.update()
        self._energy_wh = 0.0

    def open_door(self) -> None:
        """Unlatch (by command, or on its own as a fault); it shuts after ``door_close_after``."""
        self.update()
        if self.door_close_after is not None:
            self._close_at = self._clock() + self.door_close_after
        if not self.door_open:
            self.door_open = True
            self._emit(self.number, Event.DOOR_OPENED)

    def close_door(self) -> None:
        if self.door_open:
            self.door_open = False
            self._close_at = None
            self._emit(self.number, Event.DOOR_CLOSED)

    def stop_by_board(self) -> None:
        """The board cuts the outlet on its own (overcurrent, say) and says so."""
        self.update()
        if self.outlet_on:
            self.outlet_on = False
            self._emit(self.number, Event.CHARGING_STOPPED)

    def fail(self) -> None:
        """Outlet or lock hardware fault: CHARGING_STATUS state 3, START/OPEN_DOOR get BAY_FAULT."""
        self.stop_by_board()
        self.broken = True

    def repair(self) -> None:
        self.broken = False

    def place(self, device: Device | None = None) -> None:
        """Put an item in the bay; ``device`` if it is plugged in to charge."""
        self.update()
        self.item = True
        self.device = device
        self._powered_for = 0.0

    def take(self) -> None:
        self.update()
        self.item = False
        self.device = None


class Board:
    """One controller board: its bays and the commands of the protocol, without framing."""

    def __init__(self, address: int, bays: int, clock: Callable[[], float],
                 door_close_after: float | None = 5.0) -> None:
        if not 1 <= address <= MAX_BOARDS or not 1 <= bays <= MAX_BAYS:
            raise ValueError(f"address 1..{MAX_BOARDS}, bays 1..{MAX_BAYS}")
        self.address = address
        self.bays = {n: Bay(n, clock, self._emit, door_close_after) for n in range(1, bays + 1)}
        self.events: list[tuple[int, Event]] = []  # (bay, event) not yet sent; bay 0 = board
        self.on_event: Callable[[], None] | None = None  # lets the bus send events promptly
        self.reboots = 0
        self._clock = clock
        self._boot_until: float | None = None

    def _emit(self, bay: int, event: Event) -> None:
        self.events.append((bay, event))
        if self.on_event is not None:
            self.on_event()

    def take_events(self) -> list[tuple[int, Event]]:
        events, self.events = self.events, []
        return events

    def update(self) -> None:
        self._finish_boot()
        for bay in self.bays.values():
            bay.update()

    @property
    def booting(self) -> bool:
        """A rebooting board hears nothing."""
        self._finish_boot()
        return self._boot_until is not None

    def reboot(self, down_for: float = 0.0, reset_registers: bool = False) -> None:
        """Restart: every outlet goes off; EVENT 4 once it is back after ``down_for`` seconds.
        ``reset_registers``: a board that keeps its energy registers in RAM counts from 0 again."""
        for bay in self.bays.values():
            bay.switch_off()
            if reset_registers:
                bay.reset_register()
        self.reboots += 1
        self._boot_until = self._clock() + down_for
        self._finish_boot()

    def _finish_boot(self) -> None:
        if self._boot_until is not None and self._clock() >= self._boot_until:
            self._boot_until = None
            self._emit(0, Event.BOARD_REBOOTED)

    def handle(self, command: str | None, bay_number: int, *, effect: bool = True) -> tuple[Status, bytes]:
        """Carry out one request; return its status and the reply DATA after the status byte.

        ``effect=False`` acknowledges without doing anything: the "ack without effect" fault.
        """
        if command not in COMMANDS:
            return Status.INVALID_COMMAND, b""
        if command == "BOARD_STATUS":
            if bay_number != 0:
                return Status.INVALID_BAY, b""
            self.update()
            bays = list(self.bays.values())
            return Status.OK, (bytes([len(bays)]) + bitmap([b.door_open for b in bays])
                               + bitmap([b.outlet_on for b in bays]))
        bay = self.bays.get(bay_number)
        if bay is None:
            return Status.INVALID_BAY, b""
        if command == "START_CHARGING":
            if bay.broken:
                return Status.BAY_FAULT, b""
            bay.update()
            if bay.door_open:
                return Status.DOOR_OPEN, b""
            if effect:
                bay.switch_on()
        elif command == "STOP_CHARGING":
            if effect:
                bay.switch_off()
        elif command == "CHARGING_STATUS":
            power = min(round(bay.power_w), 0xFFFF)
            return Status.OK, struct.pack("<BHI", bay.state, power, bay.energy_register)
        elif command == "OPEN_DOOR":
            if bay.broken:
                return Status.BAY_FAULT, b""
            if effect:
                bay.open_door()
        else:  # LOCKER_STATUS
            bay.update()
            return Status.OK, bytes([bay.door_open, bay.item])
        return Status.OK, b""


def bitmap(flags: list[bool]) -> bytes:
    """Bit 0 of the first byte is bay 1; ceil(count/8) bytes."""
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


class Fault(Enum):
    """Per-request misbehaviour, switched on with :meth:`Emulator.inject`."""

    IGNORE = "ignore"  # the request is never heard: no effect, no reply
    NO_REPLY = "no_reply"  # carried out, but the reply is lost
    GARBAGE_BEFORE = "garbage_before"
    GARBAGE_INSIDE = "garbage_inside"  # splits the reply: the driver must drop it
    GARBAGE_AFTER = "garbage_after"
    BAD_CHECKSUM = "bad_checksum"
    BAD_LEN = "bad_len"  # the reply's LEN says one byte more than there is
    BAD_EOF = "bad_eof"
    TRUNCATED = "truncated"  # only the first half of the reply goes out: a partial frame
    SHORT_REPLY = "short_reply"  # well framed, but DATA stops after the status byte (or before it)
    LATE_REPLY = "late_reply"  # after the master's reply timeout, while it may be sending again
    ECHO = "echo"  # the adapter echoes the request (any address) before anything else
    WRONG_ADDRESS = "wrong_address"  # the reply names another board (and the right one never comes)
    WRONG_BAY = "wrong_bay"
    BUSY = "busy"  # status BUSY, no effect
    STUCK_DOOR = "stuck_door"  # OPEN_DOOR acknowledged, the door stays shut
    ACK_WITHOUT_EFFECT = "ack_without_effect"  # START/STOP acknowledged, the outlet unchanged


ONLY_FOR: dict[Fault, frozenset[str]] = {
    Fault.STUCK_DOOR: frozenset({"OPEN_DOOR"}),
    Fault.ACK_WITHOUT_EFFECT: frozenset({"START_CHARGING", "STOP_CHARGING"}),
}


@dataclass
class FaultRule:
    """A fault and the requests it hits; ``times=None`` keeps it on until removed."""

    kind: Fault
    times: int | None = None
    address: int | None = None
    bay: int | None = None
    command: str | None = None  # request name, e.g. "OPEN_DOOR"
    applied: int = 0

    def matches(self, request: Frame, name: str | None) -> bool:
        return ((self.times is None or self.applied < self.times)
                and (self.address is None or self.address == request.address)
                and (self.bay is None or self.bay == request.bay)
                and (self.command is None or self.command == name)
                and (self.kind not in ONLY_FOR or name in ONLY_FOR[self.kind]))


@dataclass
class EmulatorStats:
    """Counters for tests and the benchmark: what the bus saw and what the boards sent."""

    requests: int = 0  # frames one of our boards handled
    ignored: int = 0  # frames for other addresses, to a rebooting board, or not heard (IGNORE)
    replies: int = 0
    events: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bytes_dropped: int = 0  # written while unplugged or with the pty buffer full (nobody reading)
    faults: Counter[Fault] = field(default_factory=Counter)


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
            log.debug("board %d: %s -> %s", board.address, to_hex(raw_request), to_hex(raw))
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


def fill_with_devices(emu: Emulator) -> None:
    """A phone in every odd bay, an e-bike battery in every even one: something to charge."""
    for board in emu.boards.values():
        for n, bay in board.bays.items():
            bay.place(Device.phone() if n % 2 else Device.ebike())


def parse_fault(spec: str) -> tuple[Fault, int | None]:
    """``NAME`` (every request) or ``NAME:COUNT`` (the next COUNT requests), as ``--fault`` of
    ``chargebay emulate-board`` takes it; ValueError names the faults there are."""
    name, colon, count = spec.partition(":")
    try:
        kind = Fault(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; one of: "
                         f"{', '.join(f.value for f in Fault)}") from None
    if not colon:
        return kind, None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{spec!r}: COUNT must be a whole number from 1")
    return kind, int(count)


async def serve_until_signalled(link: Path, boards: int, bays: int, *, line_timing: bool = False,
                                baudrate: int = 9600, speed: float = 1.0, devices: bool = False,
                                faults: Sequence[tuple[Fault, int | None]] = ()) -> None:
    """What ``chargebay emulate-board`` does: serve until SIGINT/SIGTERM, then clean up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    profile = replace(CB81, baudrate=baudrate)
    async with Emulator.on_pty(link=link, boards=boards, bays=bays, profile=profile,
                               line_timing=line_timing, speed=speed) as emu:
        if devices:
            fill_with_devices(emu)
        for kind, times in faults:
            emu.inject(kind, times=times)
        timing = f"paced at {baudrate} baud" if line_timing else "no line timing"
        injected = "".join(f", fault {kind.value}" + (f" x{times}" if times else "")
                           for kind, times in faults)
        print(f"emulating {boards} board(s) x {bays} bays on {emu.device} -> {link} ({timing}"
              f"{injected}); Ctrl-C to stop", flush=True)
        await stop.wait()
        s = emu.stats
    print(f"stopped: {s.requests} requests, {s.replies} replies, {s.events} events, "
          f"{s.ignored} ignored, {emu.parser.stats.checksum_errors} bad checksums, "
          f"{sum(s.faults.values())} faults injected", flush=True)


def run_cli(link: Path, boards: int, bays: int, *, line_timing: bool = False, baudrate: int = 9600,
            speed: float = 1.0, devices: bool = False,
            faults: Sequence[tuple[Fault, int | None]] = ()) -> None:
    """Entry point of ``chargebay emulate-board``: a clean message, not a traceback, for a bad --link."""
    try:
        asyncio.run(serve_until_signalled(link, boards, bays, line_timing=line_timing,
                                          baudrate=baudrate, speed=speed, devices=devices,
                                          faults=faults))
    except (FileExistsError, FileNotFoundError) as exc:
        print(f"error: --link {link}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
