"""A locker bay's transactions: serial frames first, then the OCPP messages, durably.

A start is START_CHARGING, read back with CHARGING_STATUS, then StartTransaction; a stop is
STOP_CHARGING, read back, then StopTransaction. What the board does on its own (door opened, outlet
cut, reboot) ends a transaction with the matching reason; an outlet on without a transaction
(switched on past the bridge) is left on, logged and shown. Transaction messages go through the
durable :class:`~chargepoint.outbox.Outbox`, so they survive a CSMS outage and a bridge restart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from chargepoint.errors import CallRefused, Offline
from chargepoint.outbox import Statement
from chargepoint.times import iso
from locker_bridge.bay import BoardError, ChargingReading, FaultKind, Outlet, Tx
from locker_bridge.bay_metering import BayMetering
from locker_bridge.bay_point import log
from locker_bridge.bus import BadReply, BusError, NoReply, Priority
from locker_bridge.protocol import Status

OFF_POLLS_BEFORE_STOP = 2  # an outlet found off this many polls in a row ends the transaction


class BayTransactions(BayMetering):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle_since: float | None = None
        self._stray_reported = False
        self.bay.on_door = self.door_changed
        # the bridge's audit hook: (identity, door open, an OPEN_DOOR explains the change)
        self.on_door_event: Callable[[str, bool, bool], None] | None = None
        # with no transaction kept for this bay, ask the CSMS what it holds open for it after
        # the first boot (a state file lost, a bridge moved): see locker_bridge.recovery
        self.ask_csms = True
        # a start that got as far as START_CHARGING but not to its StartTransaction on disk when
        # the bridge died (the marker of locker_bridge.store): its outlet goes off at the first read
        self.interrupted_start = False

    # -- the charging limit (locker_bridge.bay_limits) --------------------------------------------
    def may_charge(self, tx: Tx | None) -> bool:
        """The charging limit lets the outlet be on for ``tx`` (None: a new one)."""
        return True

    def limit_due(self) -> bool:
        return False

    async def apply_limit(self) -> None:
        """Switch the outlet as the charging limit says."""

    async def transaction_over(self) -> None:
        """A transaction ended (its charging profiles with it)."""

    # -- transactions ---------------------------------------------------------------------------
    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        tx = self.bay.tx
        if tx is not None and tx.id == provisional:
            tx.id = real
            return [self.store.tx_statement(self.identity, tx)]
        return []

    def _refused_later(self, transaction_id: int | str, status: str) -> None:
        """A start sent from the queue (after an outage) was answered with a tag the CSMS does
        not accept: the outlet goes off (a 2.0.1 bay's transaction id is its own)."""
        tx = self.bay.tx
        if tx is not None and transaction_id in (tx.id, tx.station_id):
            log.warning("%s: the CSMS answered transaction %s with id tag %s; switching off",
                        self.identity, transaction_id, status)
            self.spawn(self.stop_transaction("DeAuthorized"))

    def restore(self, tx: Tx) -> None:
        """A transaction from before a restart; :meth:`reconcile` decides its fate."""
        self.bay.tx = tx
        self.ask_csms = False

    async def reconcile(self) -> None:
        """After the first read of the bay: an outlet still on continues, one that is off ends
        (one the read did not reach continues too: the polls find out, as for any transaction)."""
        tx = self.bay.tx
        if tx is None:
            if self.interrupted_start:
                self.interrupted_start = False
                await self._abandon_start("a start interrupted by the bridge's restart")
            return
        self.bay.paused = not self.may_charge(tx)  # an outlet off by the charging limit stays off
        if self.bay.outlet in (None, Outlet.CHARGING, Outlet.IDLE) or self.bay.paused:
            log.info("%s: transaction %s continues after the restart", self.identity, tx.shown)
            self.start_metering()
        else:
            log.info("%s: transaction %s ended while the bridge was down", self.identity, tx.shown)
            await self.stop_transaction("Reboot", switch_off=False)

    async def start_transaction(self, id_tag: str, *, authorize: bool) -> tuple[bool, str]:
        """START_CHARGING, read back, StartTransaction. Returns (started, why not); raises
        BusError when the board cannot be reached."""
        bay = self.bay
        async with self.lock:
            if not bay.can_start:
                return False, f"bay is {bay.status()[0]}" if bay.tx is None else "a transaction is running"
            if authorize and self.booted.is_set():
                with contextlib.suppress(Offline, TimeoutError):
                    verdict = await self.authorize(id_tag)
                    if verdict != "Accepted":
                        return False, f"id tag {verdict}"
            await self.store.starting(self.identity, True)  # on disk before the outlet is on
            paused = not self.may_charge(None)  # a limit under the outlet's power: the session waits
            # (raising: see _abandon_start for the marker)
            reading = await (bay.read_charging() if paused else self.switch_on())
            if isinstance(reading, str):  # the outlet is off
                await self.store.starting(self.identity, False)
                return False, reading
            tx = Tx(self.outbox.provisional_id(), id_tag, reading.energy_wh, iso())
            action, payload = self.start_message(tx)
            # the transaction and its StartTransaction reach the disk together, before the CSMS
            seq = await self.outbox.put(action, payload,
                                        also=[self.store.tx_statement(self.identity, tx),
                                              self.store.starting_statement(self.identity, False)])
            bay.tx, bay.finishing, bay.off_polls, bay.paused = tx, False, 0, paused
            self._stray_reported = False
            self._idle_since = None
            self.refresh()
            self.start_metering()
        try:
            result = await self.outbox.result(seq)
        except CallRefused as exc:
            log.warning("%s: the CSMS refused StartTransaction (%s); switching off", self.identity, exc)
            await self.stop_transaction("Other", report=False)
            return False, f"StartTransaction refused: {exc}"
        if result is not None and self.start_verdict(result) != "Accepted":
            await self.stop_transaction("DeAuthorized")
        return True, ""

    async def switch_on(self) -> ChargingReading | str:
        """START_CHARGING and its read-back: the reading of an outlet that is on, or why not
        (the outlet is off); raises when the board cannot be reached (the outlet switched off
        again if it may be on)."""
        bay = self.bay
        try:
            await bay.request("START_CHARGING")
        except BoardError as exc:
            if exc.status == Status.DOOR_OPEN:
                bay.door_open = True
            elif exc.status == Status.BAY_FAULT:
                bay.set_fault(FaultKind.BAY_FAULT, "START_CHARGING refused: bay fault")
            self.refresh()
            return str(exc)
        except (NoReply, BadReply):  # (a port that is down reaches nothing: no read-back)
            await self._abandon_start()
            raise
        try:
            reading = await bay.read_charging()
        except (BusError, BoardError):
            await self._abandon_start()
            raise
        if reading.state not in (Outlet.CHARGING, Outlet.IDLE):
            bay.set_fault(FaultKind.READBACK_MISMATCH, "outlet still off after START_CHARGING")
            self.refresh()
            return "the board acknowledged START_CHARGING but the outlet is off"
        bay.clear_fault(FaultKind.READBACK_MISMATCH)
        return reading

    async def _abandon_start(self, why: str = "START_CHARGING got no usable answer") -> None:
        """START_CHARGING or its read-back got no usable answer (or the bridge died before the
        start reached the disk), yet the board may have switched the outlet on: read it back, and
        switch off what is on (or cannot be read), so that no outlet is left on without a
        transaction. The start has failed either way."""
        bay = self.bay
        try:
            on = (await bay.read_charging()).state in (Outlet.CHARGING, Outlet.IDLE)
        except (BusError, BoardError):
            on = True  # unknown; STOP_CHARGING on an outlet that is off does no harm
        if on:
            try:
                await bay.request("STOP_CHARGING")
                await bay.read_charging()
            except (BusError, BoardError) as exc:
                log.error("%s: a failed start may have left the outlet on; STOP_CHARGING failed "
                          "(%s)", self.identity, exc)
                self.refresh()
                return  # the start's marker stays: the next run switches the outlet off
            log.warning("%s: %s; the outlet is off again, no transaction", self.identity, why)
        await self.store.starting(self.identity, False)
        self.refresh()

    async def stop_transaction(self, reason: str, *, switch_off: bool = True,
                               report: bool = True) -> tuple[bool, str]:
        """STOP_CHARGING (unless the outlet is already off), read back, StopTransaction."""
        bay = self.bay
        async with self.lock:
            tx = bay.tx
            if tx is None:
                return False, "no transaction"
            # an outlet on until now that a poll meanwhile finds off is being stopped, not SuspendedEVSE
            bay.stopping = bay.outlet != Outlet.OFF
            try:
                try:
                    if switch_off:
                        await bay.request("STOP_CHARGING")
                    reading = await bay.read_charging()
                except (BoardError, BusError) as exc:
                    if switch_off:
                        if isinstance(exc, BusError):
                            raise
                        return False, str(exc)
                    meter_stop = tx.meter_now
                else:
                    if reading.state in (Outlet.CHARGING, Outlet.IDLE):
                        bay.set_fault(FaultKind.READBACK_MISMATCH, "outlet still on after STOP_CHARGING")
                        self.refresh()
                        return False, "the board acknowledged STOP_CHARGING but the outlet is on"
                    bay.clear_fault(FaultKind.READBACK_MISMATCH)
                    meter_stop = tx.meter_now  # the read-back's register, never below the last known
            finally:
                bay.stopping = False
            bay.tx, bay.off_polls, bay.paused = None, 0, False
            bay.finishing = True
            await self.transaction_over()
            bay.door_opened_since_stop = bay.door_open is True
            if self._meter_task is not None:
                self._meter_task.cancel()
                self._meter_task = None
            forget = self.store.tx_statement(self.identity, None)
            seq = None
            if report:  # the StopTransaction, and the transaction off the disk, in one write
                seq = await self.outbox.put(*self.stop_message(tx, meter_stop, reason), also=[forget])
            else:
                await self.store.queue.write([forget])
            self.refresh()
        log.info("%s: transaction %s stopped (%s), %d Wh", self.identity, tx.shown, reason,
                 meter_stop - tx.meter_start)
        if seq is not None:
            with contextlib.suppress(CallRefused):
                await self.outbox.result(seq)
        return True, ""

    # -- what the board reports -----------------------------------------------------------------
    def door_changed(self, door_open: bool) -> None:
        bay = self.bay
        was, bay.door_open = bay.door_open, door_open
        if was == door_open:
            return
        commanded = bay.take_open_command() and door_open  # a change closes the command's window
        if was is not None and self.on_door_event is not None:
            self.on_door_event(self.identity, door_open, commanded)
        if door_open:
            if bay.finishing:
                bay.door_opened_since_stop = True
            if bay.tx is not None:  # the device is being taken out
                self.spawn(self.stop_transaction("EVDisconnected"))
        else:
            if bay.finishing and bay.door_opened_since_stop:
                bay.finishing = False
            if was:  # something may have been put in or taken out: report once it is read,
                self.spawn(self._read_item())  # or a phone left inside flickers to Available
                return
        self.refresh()

    async def _read_item(self) -> None:
        try:
            await self.bay.read_door(Priority.POLL)
        finally:
            self.refresh()

    async def read_outlet(self, *, poll: bool = False) -> ChargingReading:
        """CHARGING_STATUS (a poll's, or an operator's first in the queue), followed up as
        :meth:`outlet_read` says."""
        reading = await self.bay.read_charging(Priority.POLL if poll else Priority.OPERATOR)
        self.outlet_read(poll=poll)
        return reading

    def outlet_read(self, *, poll: bool) -> None:
        """A fresh CHARGING_STATUS arrived: follow what the outlet does on its own. Only polls
        count towards the readings that find it off and end the transaction: reads an operator
        asks for come at any pace, and two of them in a second prove nothing."""
        bay = self.bay
        if self.lock.locked():  # a start or stop is under way and reads for itself
            self.refresh()
            return
        if bay.tx is None:
            self._report_stray()
            self.refresh()
            return
        if bay.outlet == Outlet.OFF and not bay.paused:  # (paused: off by the charging limit)
            if poll:
                bay.off_polls += 1
            if bay.off_polls >= OFF_POLLS_BEFORE_STOP:
                self.spawn(self.stop_transaction("Other", switch_off=False))
        else:
            bay.off_polls = 0
        if bay.ev_suspended:
            now = time.monotonic()
            self._idle_since = self._idle_since or now
            limit = self.settings.int("StopWhenFullAfter")
            if limit > 0 and now - self._idle_since >= limit:
                self.spawn(self.stop_transaction("Local"))
        else:
            self._idle_since = None
        if self.limit_due():
            self.spawn(self.apply_limit())
        self.refresh()

    def _report_stray(self) -> None:
        """An outlet on without a transaction (a raw START_CHARGING sent through the vendor's
        pass-through, say): a WARNING once, ``outletWithoutTransaction`` in the cabin data. The
        bridge leaves it on: the operator may have meant it, and a STOP would undo that."""
        stray = self.bay.outlet_without_tx
        if stray and not self._stray_reported:
            log.warning("%s: the outlet is on without a transaction (switched on past the bridge?);"
                        " left on", self.identity)
        elif not stray and self._stray_reported:
            log.info("%s: the outlet without a transaction is off again", self.identity)
        self._stray_reported = stray

    def outlet_cut(self, reason: str) -> None:
        """The board switched the outlet off itself (EVENT 3) or rebooted (EVENT 4)."""
        self.bay.outlet = Outlet.OFF
        if self.bay.tx is not None:
            self.spawn(self.stop_transaction(reason, switch_off=False))
        self.refresh()

    def silent(self, silent: bool) -> None:
        if self.bay.board_silent != silent:
            self.bay.board_silent = silent
            self.refresh()
