"""One serial bus (RS-485 port) and the boards on it: one owner task, one transaction at a time.

Requests wait in a priority queue (operator commands before polling); the owner writes a frame,
keeps the inter-frame gap, and matches the reply by (address, opcode + reply offset, bay). Anything
else that arrives is an unsolicited frame (EVENT) or noise; a matching reply too short for its
command is unusable (BadReply), never a crash further up. Only idempotent commands are retried,
after no reply, an unusable reply or BUSY — never OPEN_DOOR: the caller reads the door state and
decides. A port that vanishes (USB adapter pulled) fails what is in flight; while it is down every
request fails at once (PortDown) after one attempt to reopen it, so a device that is back serves
the request, and between requests it is reopened with backoff while the rest of the bridge runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import serial
import serial_asyncio_fast

from locker_bridge.protocol import CB81, Frame, Profile, Status, StreamParser, decode

log = logging.getLogger(__name__)

NOT_RETRIED = frozenset({"OPEN_DOOR"})
MIN_REOPEN_BACKOFF = 0.2
MAX_REOPEN_BACKOFF = 30.0
BUSY_RETRY_DELAY = 0.05  # "try again later": a busy board gets this long before the retry


class Priority(IntEnum):
    OPERATOR = 0
    POLL = 10


class BusError(Exception):
    """A request that got no usable answer."""


class NoReply(BusError):
    pass


class BadReply(BusError):
    """The board answered, but with a reply too short for its command."""


class PortDown(BusError):
    pass


@dataclass
class BusStats:
    """Counters for the bus's whole lifetime (they survive reopening the port)."""

    frames_out: int = 0
    frames_in: int = 0
    timeouts: int = 0
    retries: int = 0
    busy: int = 0  # BUSY replies that were retried
    bad_replies: int = 0
    unsolicited: int = 0
    reopens: int = 0


@dataclass(order=True)
class _Request:
    priority: int
    seq: int
    frame: Frame = field(compare=False)
    name: str = field(compare=False)
    retries: int = field(compare=False)
    future: asyncio.Future[Frame] = field(compare=False)


class Bus:
    def __init__(self, name: str, device: str, profile: Profile = CB81, baudrate: int | None = None,
                 retries: int = 2, on_unsolicited: Callable[[Frame], None] | None = None) -> None:
        self.name = name
        self.device = device
        self.profile = profile
        self.baudrate = baudrate or profile.baudrate
        self.default_retries = retries
        self.on_unsolicited = on_unsolicited
        self.parser = StreamParser(profile)  # one for the bus's lifetime: its counters too
        self.stats = BusStats()
        self._queue: asyncio.PriorityQueue[_Request] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._owner: asyncio.Task[None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._expected: tuple[int, int, int] | None = None
        self._reply: asyncio.Future[Frame] | None = None
        self._port_up = asyncio.Event()
        self._demand = asyncio.Event()  # a request arrived: a port that is down is tried at once
        self._opened_before = False
        self._down_reported = False
        # time.monotonic, not loop.time(): uvloop's clock has 1 ms steps, and one sleep of the
        # computed gap was seen to leave only 4.2 of the 5 ms of silence the boards need
        self._last_end = 0.0

    @property
    def up(self) -> bool:
        return self._port_up.is_set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._owner = asyncio.create_task(self._own(), name=f"bus-{self.name}")

    async def close(self) -> None:
        if self._owner is not None:
            self._owner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._owner
        await self._close_port()
        self._fail_waiting(PortDown(f"{self.name} closed"))

    async def _open(self) -> None:
        p = self.profile
        self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
            url=self.device, baudrate=self.baudrate, bytesize=p.bytesize, parity=p.parity,
            stopbits=p.stopbits)
        transport = self._writer.transport
        with contextlib.suppress(Exception):  # stale bytes (events from before we listened)
            transport.serial.reset_input_buffer()  # type: ignore[attr-defined]
        self.parser.reset()
        self._reading = asyncio.create_task(self._read_loop())
        if self._opened_before:
            self.stats.reopens += 1
        self._opened_before = True
        self._down_reported = False
        self._port_up.set()
        log.info("bus %s: %s open at %d baud", self.name, self.device, self.baudrate)

    async def _close_port(self) -> None:
        self._port_up.clear()
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(PortDown(f"{self.device} went away"))

    async def _reopen(self) -> bool:
        """One attempt to open the port; when it fails, every waiting request fails with it."""
        try:
            await self._open()
            return True
        except (OSError, serial.SerialException) as exc:
            # the first failure of an outage is a warning; the attempts after it are not news
            log.log(logging.DEBUG if self._down_reported else logging.WARNING,
                    "bus %s: cannot open %s (%s); trying again on each request and with backoff",
                    self.name, self.device, exc)
            self._down_reported = True
            self._demand.clear()
            self._fail_waiting(PortDown(f"{self.device}: {exc}"))
            return False

    async def _await_demand(self, backoff: float) -> None:
        """While the port is down: until a request arrives or the backoff is over."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(backoff):
                await self._demand.wait()

    def _fail_waiting(self, exc: BusError) -> None:
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if not request.future.done():
                request.future.set_exception(exc)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self._reader.read(256)
                if not data:
                    raise OSError("end of file")
                for frame in self.parser.feed(data, loop.time()):
                    self._dispatch(frame)
        except (OSError, serial.SerialException) as exc:
            log.warning("bus %s: %s lost (%s)", self.name, self.device, exc)
            await self._close_port()

    def _dispatch(self, frame: Frame) -> None:
        self.stats.frames_in += 1
        if (self._expected == (frame.address, frame.command, frame.bay) and self._reply is not None
                and not self._reply.done()):
            self._reply.set_result(frame)
            return
        self.stats.unsolicited += 1
        if self.on_unsolicited is not None:
            self.on_unsolicited(frame)

    # -- requests --------------------------------------------------------------------------------
    async def request(self, address: int, command: str, bay: int, data: bytes = b"",
                      priority: Priority = Priority.OPERATOR, retries: int | None = None) -> Frame:
        """Send one command and return the matching reply (its ``status`` may still be an error)."""
        frame = Frame(address, self.profile.opcode(command), bay, data)
        return await self._submit(frame, command, self.default_retries if retries is None else retries,
                                  priority)

    async def send_raw(self, raw: bytes, priority: Priority = Priority.OPERATOR,
                       retries: int = 0) -> Frame:
        """A complete frame as given (the vendor's pass-through and per-cabin hex codes), its
        reply matched as usual; OPEN_DOOR is never retried whatever ``retries`` says."""
        frame = decode(raw, self.profile)
        return await self._submit(frame, self.profile.name_of(frame.command) or "RAW", retries,
                                  priority)

    async def _submit(self, frame: Frame, name: str, retries: int, priority: Priority) -> Frame:
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        tries = 0 if name in NOT_RETRIED else retries
        self._queue.put_nowait(_Request(int(priority), next(self._seq), frame, name, tries, future))
        self._demand.set()
        return await future

    async def _own(self) -> None:
        backoff = MIN_REOPEN_BACKOFF
        while True:
            if not self.up:
                if not await self._reopen():
                    await self._await_demand(backoff)
                    backoff = min(backoff * 2, MAX_REOPEN_BACKOFF)
                    continue
                backoff = MIN_REOPEN_BACKOFF
            request = await self._queue.get()
            if request.future.done():
                continue
            if not self.up:  # lost while idle: reopen first, then serve it (or fail it at once)
                self._queue.put_nowait(request)
                continue
            try:
                reply = await self._transact(request)
            except BusError as exc:
                if not request.future.done():
                    request.future.set_exception(exc)
            else:
                if not request.future.done():
                    request.future.set_result(reply)

    async def _transact(self, request: _Request) -> Frame:
        raw = request.frame.encode(self.profile)
        f = request.frame
        where = f"board {f.address} bay {f.bay}"
        failure: BusError = NoReply(f"{where}: no reply to {request.name}")
        for attempt in range(request.retries + 1):
            if attempt:
                self.stats.retries += 1
            reply = await self._exchange(raw, request.frame)
            if reply is None:
                failure = NoReply(f"{where}: no reply to {request.name}")
                continue
            problem = self._unusable(request.name, reply)
            if problem is not None:
                self.stats.bad_replies += 1
                failure = BadReply(f"{where}: {request.name} answered {reply.hex(self.profile)}: "
                                   f"{problem}")
                log.debug("bus %s: %s", self.name, failure)
                continue
            if reply.status == Status.BUSY and attempt < request.retries:
                self.stats.busy += 1
                await asyncio.sleep(BUSY_RETRY_DELAY)
                continue
            return reply
        raise failure

    async def _exchange(self, raw: bytes, frame: Frame) -> Frame | None:
        """Write one attempt and wait for its reply; None when none comes in time."""
        if not self.up or self._writer is None:
            raise PortDown(f"{self.device} is down")
        await self.keep_gap()
        self._expected = (frame.address, frame.command + self.profile.reply_offset, frame.bay)
        self._reply = asyncio.get_running_loop().create_future()
        # nobody may be waiting any more when the port dies: mark its error as seen
        self._reply.add_done_callback(lambda fut: fut.cancelled() or fut.exception())
        self.parser.expect_echo(raw)
        self._writer.write(raw)
        self.stats.frames_out += 1
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands with
            # the reply, and the owner task then outlives close() (which waits for it forever)
            async with asyncio.timeout(self._timeout(raw)):
                return await asyncio.shield(self._reply)
        except TimeoutError:
            self.stats.timeouts += 1
            return None
        finally:
            self._expected = None
            self._last_end = time.monotonic()

    async def keep_gap(self) -> None:
        """Wait out the silence the boards need between the last reply (or timeout) and the next
        request."""
        while (gap := self._last_end + self.profile.inter_frame_gap - time.monotonic()) > 0:
            await asyncio.sleep(max(gap, 0.001))

    def _unusable(self, name: str, reply: Frame) -> str | None:
        """Why a matching reply cannot be used, or None: a known command's reply must carry its
        status byte, and an OK one all of its DATA."""
        need = self.profile.reply_sizes.get(name)
        if need is None:
            return None
        if not reply.data:
            return "no status byte"
        if reply.status == Status.OK and len(reply.data) < need:
            return f"{len(reply.data)} DATA bytes, {need} expected"
        return None

    def _timeout(self, raw: bytes) -> float:
        """The board's answer time plus the wire time of the request and a reply."""
        wire = (len(raw) + self.profile.max_len + self.profile.overhead) * 10 / self.baudrate
        return self.profile.reply_timeout + wire
