"""One controller board behind the bridge: its polling and its unsolicited events.

A poll is one BOARD_STATUS (door and charging bitmaps for every bay), then CHARGING_STATUS only for
bays with a transaction or an outlet on, and LOCKER_STATUS only where a door changed. So twelve idle
bays cost one frame per poll. Three polls without an answer fault every bay (board silent). Nothing
a poll runs into ends the polling: an unusable answer or a bug is logged and counted, and the
next poll comes as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.ratelimit import Throttle
from locker_bridge.bay import BoardError, FaultKind, Outlet
from locker_bridge.bus import BadReply, Bus, BusError, NoReply, PortDown, Priority
from locker_bridge.charge_point import VirtualChargePoint
from locker_bridge.protocol import Event, Frame, Status

log = logging.getLogger(__name__)

SILENT_AFTER = 3  # polls without an answer before the board counts as silent


def bit(bitmap: bytes, bay: int) -> bool:
    index = bay - 1
    return index // 8 < len(bitmap) and bool(bitmap[index // 8] >> (index % 8) & 1)


class BoardPoller:
    def __init__(self, bus: Bus, address: int, cps: list[VirtualChargePoint], interval: float) -> None:
        self.bus = bus
        self.address = address
        self.cps = {cp.bay.number: cp for cp in cps}
        self.interval = interval
        self.missed = 0
        self.polls = 0
        self.errors = 0  # polls that ended in something other than silence (logged, counted)
        self._trouble_log = Throttle()
        self._bay_log = Throttle()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"poll-{self.bus.name}-{self.address}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                if self.missed >= SILENT_AFTER:  # silent: ask cheaply until it answers again
                    await self._probe()
                elif not self._ready.is_set():  # at start: every bay read once before polling
                    await self._first_read()
                else:
                    await self.poll()
                    if any(not cp.reconciled for cp in self.cps.values()):
                        # a bay that did not answer its first read, a bay added while running,
                        # a board that answers again after silence: read (and reconcile) it now
                        await self._first_read()
            except (NoReply, PortDown) as exc:  # a read after the board status went unanswered
                log.debug("board %s/%d: %s", self.bus.name, self.address, exc)
            except Exception as exc:  # an unusable answer, or a bug: polling must go on regardless
                self._trouble(exc)
            await asyncio.sleep(self.interval)

    def _trouble(self, exc: Exception) -> None:
        """Count it and log it, throttled (with a traceback unless it is what the board said)."""
        self.errors += 1
        log.log(self._trouble_log.level(), "board %s/%d: poll failed (%s: %s); %d so far",
                self.bus.name, self.address, type(exc).__name__, exc, self.errors,
                exc_info=not isinstance(exc, (BusError, BoardError)))

    async def _first_read(self) -> None:
        """Read each bay once and at once reconcile its transaction from before a restart, bays
        with such a transaction first: each is ready (and its charge point boots) as soon as it
        is read, not when the whole board is. A board that does not answer is asked again next
        time. One bay that answers badly, or not at all while its board does, holds up nobody: the
        others go on, and it is asked once more when they are done (a reply lost to a busy
        moment must not wait for the next poll, which may be far off), then after each poll."""
        waiting = [cp for cp in self.cps.values() if not cp.reconciled]
        silent: list[VirtualChargePoint] = []
        for cp in sorted(waiting, key=lambda cp: (cp.bay.tx is None, cp.bay.number)):
            if not await self._read_first(cp, silent):
                return
        for cp in silent:
            if not await self._read_first(cp, []):
                return
        self._ready.set()

    async def _read_first(self, cp: VirtualChargePoint, silent: list[VirtualChargePoint]) -> bool:
        """Read one bay and reconcile it; False when the whole board is silent (stop for now). A
        silent bay of an answering board goes to ``silent``."""
        try:
            await cp.bay.read_door(Priority.POLL)
            await cp.bay.read_charging(Priority.POLL)
        except (NoReply, PortDown) as exc:
            if not await self._board_answers():
                self._missed(exc)
                return False
            self._bay_silent(cp, exc)
            silent.append(cp)
            return True
        except (BusError, BoardError) as exc:
            self._trouble(exc)  # the polls read it again
        self._answered()
        try:
            await cp.reconcile()
        finally:  # whatever happened, the bay is read: the polls take it from here
            cp.reconciled = True
            cp.first_read.set()
            cp.refresh()
        return True

    def _bay_silent(self, cp: VirtualChargePoint, exc: Exception) -> None:
        """A bay read went unanswered while its board answers: logged (throttled), not a board fault."""
        log.log(self._bay_log.level(), "board %s/%d: bay %d does not answer (%s)", self.bus.name,
                self.address, cp.bay.number, exc)

    async def _board_answers(self) -> bool:
        """Whether the board itself answers (one BOARD_STATUS, no retries): a bay read that went
        unanswered is the bay's trouble if it does, the board's silence if it does not."""
        try:
            await self.bus.request(self.address, "BOARD_STATUS", 0, priority=Priority.POLL, retries=0)
        except BusError:
            return False
        return True

    async def _probe(self) -> None:
        """One BOARD_STATUS without retries: a board silent before its bays were read is read
        (and their transactions reconciled) as soon as it answers, not left unread."""
        try:
            await self.bus.request(self.address, "BOARD_STATUS", 0, priority=Priority.POLL, retries=0)
        except BusError as exc:
            self._missed(exc)
            return
        self._answered()

    async def poll(self) -> None:
        self.polls += 1
        try:
            # no retries: the next poll is the retry, and a silent board must not hold the bus
            # for 3 x 150 ms ahead of an operator's command
            reply = await self.bus.request(self.address, "BOARD_STATUS", 0, priority=Priority.POLL,
                                           retries=0)
        except BusError as exc:
            self._missed(exc)
            return
        if reply.status != Status.OK:
            return  # BUSY (booting, say): ask again next time
        self._answered()
        size = (reply.data[1] + 7) // 8
        if len(reply.data) < 2 + 2 * size:
            raise BadReply(f"BOARD_STATUS of {reply.data[1]} bays without both bitmaps")
        doors, charging = reply.data[2:2 + size], reply.data[2 + size:2 + 2 * size]
        # one idle bay per poll, in turn, is read too: a bay fault shows only in CHARGING_STATUS,
        # so a broken idle bay is found within a cycle, before someone tries to charge in it
        numbers = sorted(self.cps)
        spot_check = numbers[self.polls % len(numbers)]
        for number in numbers:
            cp = self.cps[number]
            if not cp.reconciled:
                continue  # not read yet: its first read comes after this poll
            try:
                await self._poll_bay(cp, bit(doors, number), bit(charging, number), number == spot_check)
            except (NoReply, PortDown) as exc:  # the next poll asks again
                if not await self._board_answers():
                    self._missed(exc)  # the board went silent: this poll is over
                    return
                self._bay_silent(cp, exc)  # the bay's trouble: the bays after it are read all the same
            except (BusError, BoardError) as exc:  # this bay's trouble: the bays after it are read all the same
                self._trouble(exc)

    async def _poll_bay(self, cp: VirtualChargePoint, door_open: bool, on: bool, spot_check: bool) -> None:
        bay = cp.bay
        if door_open != bay.door_open:
            await bay.read_door(Priority.POLL)
        if (bay.tx is not None or on or bay.outlet not in (None, Outlet.OFF)
                or bay.fault == FaultKind.BAY_FAULT or spot_check):
            await cp.read_outlet(poll=True)

    def _missed(self, exc: Exception) -> None:
        self.missed += 1
        if self.missed >= SILENT_AFTER:
            if self.missed == SILENT_AFTER:
                log.warning("board %s/%d silent for %d polls (%s)", self.bus.name, self.address,
                            self.missed, exc)
            for cp in self.cps.values():
                cp.silent(True)
                cp.first_read.set()  # its charge point boots, Faulted (BOARD_SILENT)

    def _answered(self) -> None:
        if self.missed >= SILENT_AFTER:
            log.info("board %s/%d answers again", self.bus.name, self.address)
        self.missed = 0
        for cp in self.cps.values():
            cp.silent(False)

    def on_event(self, frame: Frame) -> None:
        """An EVENT frame from this board (bay 0: the board itself)."""
        if not frame.data:
            return
        event = frame.data[0]
        if event == Event.BOARD_REBOOTED:
            log.warning("board %s/%d rebooted: its outlets are off", self.bus.name, self.address)
            for each in self.cps.values():
                each.outlet_cut("PowerLoss")
            return
        cp = self.cps.get(frame.bay)
        if cp is None:
            return
        if event == Event.DOOR_OPENED:
            cp.door_changed(True)
        elif event == Event.DOOR_CLOSED:
            cp.door_changed(False)
        elif event == Event.CHARGING_STOPPED:
            cp.outlet_cut("Other")

    async def ready(self) -> None:
        """Wait for the first complete read (tests and the demo use this)."""
        await self._ready.wait()
