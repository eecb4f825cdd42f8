"""A locker bay as a virtual OCPP 1.6 charge point with one connector.

It connects to the CSMS at ``{csms_url}/{identity}`` like any charger, boots, sends heartbeats and
status notifications, and turns transactions into frames: a start is START_CHARGING, read back
with CHARGING_STATUS, then StartTransaction; a stop is STOP_CHARGING, read back, then
StopTransaction. What the board does on its own (door opened, outlet cut, reboot) ends a
transaction with the matching reason; an outlet on without a transaction (switched on past the
bridge) is left on, logged and shown. Transaction messages go through the durable
:class:`~common.outbox.Outbox`, so they survive a CSMS outage and a bridge restart; availability
(ChangeAvailability, maintenance) is kept in the bridge's store for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import websockets
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.exceptions import ConnectionClosed, WebSocketException

from chargepoint.outbox import DurableQueue, Outbox, QueueClosed, Statement
from common.ratelimit import Throttle
from chargepoint.session import booted_session
from common.tasks import Background
from locker_bridge.bay import Bay, BoardError, ChargingReading, FaultKind, Outlet, Tx
from locker_bridge.bus import BadReply, BusError, NoReply, Priority
from locker_bridge.protocol import Status
from locker_bridge.store import BridgeStore

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
RESPONSE_TIMEOUT = 15.0
OFF_POLLS_BEFORE_STOP = 2  # an outlet found off this many polls in a row ends the transaction


def _collected(task: asyncio.Future[Any]) -> None:
    """A call abandoned (its caller cancelled, the socket gone) may still fail as the socket
    closes: that is expected, not an error for asyncio to log as never retrieved."""
    if not task.cancelled():
        task.exception()


class Offline(Exception):
    """No booted connection to the CSMS."""


class CsmsReach:
    """One bridge's word on an unreachable CSMS, whichever bay failed to connect (twelve bays
    must not write twelve lines): throttled, and a bay that connects ends the outage."""

    def __init__(self) -> None:
        self._throttle = Throttle()
        self._failures = 0

    def failed(self, url: str, exc: BaseException) -> None:
        self._failures += 1
        log.log(self._throttle.level(), "cannot reach the CSMS at %s (%s); %d failed connection(s)"
                " so far, the bays keep trying", url, exc, self._failures)

    def connected(self) -> None:
        if self._failures:
            log.info("the CSMS is reachable again after %d failed connection(s)", self._failures)
        self._failures = 0
        self._throttle.reset()


def iso(ts: datetime | None = None) -> str:
    return (ts or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Settings:
    """The configuration keys a CSMS can read (GetConfiguration) and partly change."""

    WRITABLE = {"HeartbeatInterval", "MeterValueSampleInterval", "StopWhenFullAfter",
                "AuthorizeRemoteTxRequests"}
    BOOLEAN = {"AuthorizeRemoteTxRequests"}

    def __init__(self, meter_interval: int, full_timeout: int) -> None:
        self.values = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": str(meter_interval),
            "StopWhenFullAfter": str(full_timeout),
            "NumberOfConnectors": "1",
            "SupportedFeatureProfiles": "Core,RemoteTrigger",
            # a remote start is authorized first: an id tag the CSMS refuses never switches an
            # outlet on (only to switch it off again at the StartTransaction's answer)
            "AuthorizeRemoteTxRequests": "true",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "ConnectorPhaseRotation": "NotApplicable",
        }

    def int(self, key: str) -> int:
        return int(self.values[key])

    def change(self, key: str, value: str) -> str:
        """The ChangeConfiguration status for setting ``key`` to ``value``."""
        if key not in self.values:
            return "NotSupported"
        if key in self.BOOLEAN and value.lower() in ("true", "false"):
            self.values[key] = value.lower()
            return "Accepted"
        if key not in self.WRITABLE or key in self.BOOLEAN or not value.isdigit():
            return "Rejected"
        self.values[key] = value
        return "Accepted"

    def flag(self, key: str) -> bool:
        return self.values[key] == "true"


class VirtualChargePoint:
    def __init__(self, bay: Bay, csms_url: str, queue: DurableQueue | None, store: BridgeStore,
                 *, reach: CsmsReach, meter_interval: int = 60, full_timeout: int = 1800,
                 unlock_opens_door: bool = False, vendor: str = "chargebay",
                 model: str = "locker-bay") -> None:
        self.bay = bay
        self.identity = bay.identity
        # percent-encoded as OCPP-J asks: an id with a space ("LOCKER B-01") is a valid URL too
        self.url = csms_url.rstrip("/") + "/" + quote(bay.identity, safe="")
        self.store = store
        self.reach = reach
        self.settings = Settings(meter_interval, full_timeout)
        self.unlock_opens_door = unlock_opens_door
        self.vendor, self.model = vendor, model
        self.booted = asyncio.Event()
        self.link: Any = None  # locker_bridge.handlers.BayLink while connected
        self.lock = asyncio.Lock()  # one outlet change (start, stop) at a time
        self.background = Background(bay.identity, (Offline, asyncio.TimeoutError, ConnectionClosed,
                                                    OCPPError, BusError, BoardError, QueueClosed), log)
        self.spawn = self.background.spawn
        self.outbox = Outbox(bay.identity, queue, self.call, (Offline, asyncio.TimeoutError, ConnectionClosed),
                             self.booted.is_set, on_renumber=self._renumber, spawn=self.spawn,
                             on_refused=self._refused_later,
                             retry_interval=lambda: 5.0)
        self._closed: asyncio.Future[None] | None = None
        self._sent: dict[int, tuple[str, str, str | None]] = {}
        self._stop = asyncio.Event()
        self._reconnect_now = False
        self._meter_task: asyncio.Task[None] | None = None
        self._idle_since: float | None = None
        self._stray_reported = False
        bay.on_door = self.door_changed
        self.on_door_event: Callable[[str, bool], None] | None = None  # the bridge's audit hook
        self.boot_hooks: list[Callable[[], Awaitable[None]]] = []  # run after every boot
        # the bay's own state is read (and a transaction from before a restart reconciled with
        # it) before its charge point boots: it never reports what it has not seen
        self.first_read = asyncio.Event()
        # with no transaction kept for this bay, ask the CSMS what it holds open for it after
        # the first boot (a state file lost, a bridge moved): see locker_bridge.recovery
        self.ask_csms = True

    # -- connection -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until :meth:`close`, reconnecting with backoff; connect only once the
        bay has been read (or its board found silent)."""
        await self.outbox.load()
        await self.first_read.wait()
        backoff = 1.0
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                              open_timeout=10, close_timeout=2) as ws:
                    backoff = 1.0
                    self.reach.connected()
                    await self._session(ws)
            except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
                self.reach.failed(self.url, exc)
            if self._stop.is_set():
                break
            if self._reconnect_now:
                self._reconnect_now = False
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def close(self) -> None:
        self._stop.set()
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()
        await self.background.close()

    def reconnect(self) -> None:
        """Close the socket and connect again at once (a Reset)."""
        self._reconnect_now = True
        if self.link is not None:
            self.spawn(self.link.close())

    async def _session(self, ws: Any) -> None:
        from locker_bridge.handlers import BayLink

        link = BayLink(self, ws, RESPONSE_TIMEOUT)
        self._closed = asyncio.get_running_loop().create_future()
        reader = asyncio.ensure_future(link.start())
        self.link = link
        try:
            await booted_session(reader, self._boot, self._heartbeats, self._after_boot, self.spawn,
                                 (ConnectionClosed, Offline, asyncio.TimeoutError, OCPPError))
        finally:
            self.link = None
            self.booted.clear()
            if not self._closed.done():
                self._closed.set_result(None)
            self._sent.clear()

    async def _boot(self) -> None:
        while True:
            result = await self.call("BootNotification", self.boot_payload(), booting=True)
            if result["status"] == "Accepted":
                if result["interval"] > 0:
                    self.settings.values["HeartbeatInterval"] = str(result["interval"])
                self.booted.set()
                log.info("%s: booted at %s", self.identity, self.url)
                return
            await asyncio.sleep(result["interval"] or 10)

    def boot_payload(self) -> dict[str, Any]:
        return {"chargePointVendor": self.vendor, "chargePointModel": self.model,
                "chargePointSerialNumber": self.identity[-25:], "firmwareVersion": "bridge-1"}

    async def _after_boot(self) -> None:
        if self.ask_csms:
            from locker_bridge.recovery import reconcile_with_csms

            await reconcile_with_csms(self)
        await self.notify(force=True)
        for hook in self.boot_hooks:
            self.spawn(hook())
        await self.outbox.replay()

    async def triggered(self, message: str) -> None:
        """Send what a TriggerMessage asked for (after its answer went out)."""
        with contextlib.suppress(Offline, asyncio.TimeoutError, ConnectionClosed, OCPPError,
                                 BusError, BoardError):
            if message == "StatusNotification":
                await self.notify(force=True)
            elif message == "MeterValues":
                await self.bay.read_charging()
                await self.send_meter_values("Trigger")
            elif message == "BootNotification":
                await self.call("BootNotification", self.boot_payload())
            elif message == "Heartbeat":
                await self.call("Heartbeat", {})
            else:  # Diagnostics/FirmwareStatusNotification: a bay has neither in progress
                await self.call(message, {"status": "Idle"})

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(max(self.settings.int("HeartbeatInterval"), 1))
            with contextlib.suppress(Offline, asyncio.TimeoutError, OCPPError, ConnectionClosed):
                await self.call("Heartbeat", {})

    async def call(self, action: str, payload: dict[str, Any], booting: bool = False) -> dict[str, Any]:
        """Send a call (camelCase payload) through the `ocpp` library; return the camelCase answer.

        Raises Offline without a (booted) connection or when it drops meanwhile, OCPPError for a
        CALLERROR and TimeoutError when the CSMS does not answer in time.
        """
        link, closed = self.link, self._closed
        if link is None or closed is None or (not booting and not self.booted.is_set()):
            raise Offline(self.identity)
        request = getattr(call, action)(**camel_to_snake_case(payload))
        sending = asyncio.ensure_future(link.call(request, suppress=False))
        sending.add_done_callback(_collected)
        await asyncio.wait({sending, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not sending.done():
            sending.cancel()
            raise Offline(self.identity)
        answer = sending.result()
        return snake_to_camel_case({k: v for k, v in asdict(answer).items() if v is not None})  # type: ignore[no-any-return]

    # -- status ---------------------------------------------------------------------------------
    def board_status(self) -> tuple[str, str, str | None]:
        """Connector 0 mirrors the board's health and the bay's availability."""
        bay = self.bay
        if bay.board_silent:
            return "Faulted", "OtherError", FaultKind.BOARD_SILENT.value
        return ("Available" if bay.available or bay.tx is not None else "Unavailable"), "NoError", None

    async def set_availability(self, *, operative: bool | None = None,
                               maintenance: bool | None = None) -> None:
        """Take the bay out of service or back: for the CSMS (ChangeAvailability) or the locker
        operator (maintenance), stored before anything is answered, since OCPP 1.6 wants it kept
        across a reboot. A running transaction goes on; Unavailable follows once it has ended."""
        bay = self.bay
        if operative is not None:
            bay.operative = operative
        if maintenance is not None:
            if maintenance != bay.maintenance:
                log.info("%s: maintenance %s", self.identity, "on" if maintenance else "off")
            bay.maintenance = maintenance
        await self.store.save_availability(self.identity, bay.operative, bay.maintenance)
        self.refresh()

    def refresh(self) -> None:
        """Tell the CSMS about a status that changed (a no-op while offline)."""
        if self.booted.is_set():
            self.spawn(self.notify())

    async def notify(self, force: bool = False) -> None:
        # each connector's status is taken just before it is sent, never before the call for
        # connector 0 returns: a status taken earlier could be sent after a newer one
        for connector, current in ((0, self.board_status), (1, self.bay.status)):
            status, error_code, vendor_error = current()
            if not force and self._sent.get(connector) == (status, error_code, vendor_error):
                continue
            self._sent[connector] = (status, error_code, vendor_error)
            if connector == 1:
                log.info("%s: %s%s", self.identity, status, f" ({vendor_error})" if vendor_error else "")
            payload: dict[str, Any] = {"connectorId": connector, "status": status,
                                       "errorCode": error_code, "timestamp": iso()}
            if vendor_error:
                payload["vendorErrorCode"] = vendor_error
                if connector == 1 and self.bay.fault_info:
                    payload["info"] = self.bay.fault_info
            try:
                await self.call("StatusNotification", payload)
            except (Offline, asyncio.TimeoutError, ConnectionClosed, OCPPError):
                self._sent.pop(connector, None)

    # -- transactions ---------------------------------------------------------------------------
    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        tx = self.bay.tx
        if tx is not None and tx.id == provisional:
            tx.id = real
            return [self.store.tx_statement(self.identity, tx)]
        return []

    def _refused_later(self, transaction_id: int, status: str) -> None:
        """A StartTransaction sent from the queue (after an outage) was answered with a tag the
        CSMS does not accept: the outlet goes off."""
        tx = self.bay.tx
        if tx is not None and tx.id == transaction_id:
            log.warning("%s: the CSMS answered transaction %d with id tag %s; switching off",
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
            return
        if self.bay.outlet in (None, Outlet.CHARGING, Outlet.IDLE):
            log.info("%s: transaction %d continues after the restart", self.identity, tx.id)
            self.start_metering()
        else:
            log.info("%s: transaction %d ended while the bridge was down", self.identity, tx.id)
            await self.stop_transaction("Reboot", switch_off=False)

    async def start_transaction(self, id_tag: str, *, authorize: bool) -> tuple[bool, str]:
        """START_CHARGING, read back, StartTransaction. Returns (started, why not); raises
        BusError when the board cannot be reached."""
        bay = self.bay
        async with self.lock:
            if not bay.can_start:
                return False, f"bay is {bay.status()[0]}" if bay.tx is None else "a transaction is running"
            if authorize and self.booted.is_set():
                with contextlib.suppress(Offline, asyncio.TimeoutError, ConnectionClosed):
                    answer = await self.call("Authorize", {"idTag": id_tag})
                    if answer["idTagInfo"]["status"] != "Accepted":
                        return False, f"id tag {answer['idTagInfo']['status']}"
            try:
                await bay.request("START_CHARGING")
            except BoardError as exc:
                if exc.status == Status.DOOR_OPEN:
                    bay.door_open = True
                elif exc.status == Status.BAY_FAULT:
                    bay.set_fault(FaultKind.BAY_FAULT, "START_CHARGING refused: bay fault")
                self.refresh()
                return False, str(exc)
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
                return False, "the board acknowledged START_CHARGING but the outlet is off"
            bay.clear_fault(FaultKind.READBACK_MISMATCH)
            tx = Tx(self.outbox.provisional_id(), id_tag, reading.energy_wh, iso())
            payload = {"connectorId": 1, "idTag": id_tag, "meterStart": tx.meter_start,
                       "timestamp": tx.started, "_provisional": tx.id}
            # the transaction and its StartTransaction reach the disk together, before the CSMS
            seq = await self.outbox.put("StartTransaction", payload,
                                        also=[self.store.tx_statement(self.identity, tx)])
            bay.tx, bay.finishing, bay.off_polls = tx, False, 0
            self._stray_reported = False
            self._idle_since = None
            self.refresh()
            self.start_metering()
        try:
            result = await self.outbox.result(seq)
        except OCPPError as exc:
            log.warning("%s: the CSMS refused StartTransaction (%s); switching off", self.identity, exc)
            await self.stop_transaction("Other", report=False)
            return False, f"StartTransaction refused: {exc}"
        if result is not None and result["idTagInfo"]["status"] != "Accepted":
            await self.stop_transaction("DeAuthorized")
        return True, ""

    async def _abandon_start(self) -> None:
        """START_CHARGING or its read-back got no usable answer, yet the board may have switched
        the outlet on: read it back, and switch off what is on (or cannot be read), so that no
        outlet is left on without a transaction. The start has failed either way."""
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
            else:
                log.warning("%s: START_CHARGING got no usable answer; the outlet is off again, "
                            "no transaction", self.identity)
        self.refresh()

    async def stop_transaction(self, reason: str, *, switch_off: bool = True,
                               report: bool = True) -> tuple[bool, str]:
        """STOP_CHARGING (unless the outlet is already off), read back, StopTransaction."""
        bay = self.bay
        async with self.lock:
            tx = bay.tx
            if tx is None:
                return False, "no transaction"
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
            bay.tx, bay.off_polls = None, 0
            bay.finishing = True
            bay.door_opened_since_stop = bay.door_open is True
            if self._meter_task is not None:
                self._meter_task.cancel()
                self._meter_task = None
            forget = self.store.tx_statement(self.identity, None)
            seq = None
            if report:  # the StopTransaction, and the transaction off the disk, in one write
                seq = await self.outbox.put("StopTransaction", {
                    "transactionId": tx.id, "idTag": tx.id_tag, "meterStop": meter_stop,
                    "timestamp": iso(), "reason": reason}, also=[forget])
            else:
                await self.store.queue.write([forget])
            self.refresh()
        log.info("%s: transaction %d stopped (%s), %d Wh", self.identity, tx.id, reason,
                 meter_stop - tx.meter_start)
        if seq is not None:
            with contextlib.suppress(OCPPError):
                await self.outbox.result(seq)
        return True, ""

    # -- meter values ---------------------------------------------------------------------------
    def start_metering(self) -> None:
        if self._meter_task is None or self._meter_task.done():
            self._meter_task = self.spawn(self._metering())

    async def _metering(self) -> None:
        while self.bay.tx is not None:
            interval = self.settings.int("MeterValueSampleInterval")
            await asyncio.sleep(interval if interval > 0 else 60)
            if interval <= 0 or self.bay.tx is None:
                continue
            with contextlib.suppress(BusError, BoardError):
                await self.bay.read_charging(Priority.POLL)
            await self.send_meter_values("Sample.Periodic")

    async def send_meter_values(self, context: str) -> None:
        bay, tx = self.bay, self.bay.tx
        if bay.energy_wh is None:
            return
        energy = bay.energy_wh if tx is None else tx.meter_now  # a transaction's meter carries on
        sampled = [{"value": str(energy), "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh", "context": context},
                   {"value": str(bay.power_w), "measurand": "Power.Active.Import", "unit": "W",
                    "context": context}]
        payload: dict[str, Any] = {"connectorId": 1,
                                   "meterValue": [{"timestamp": iso(), "sampledValue": sampled}]}
        if tx is None:  # a triggered reading outside a transaction is not a transaction message
            with contextlib.suppress(Offline, asyncio.TimeoutError, ConnectionClosed, OCPPError):
                await self.call("MeterValues", payload)
            return
        payload["transactionId"] = tx.id
        with contextlib.suppress(OCPPError):  # the reading is kept with the message
            await self.outbox.send("MeterValues", payload,
                                   also=[self.store.tx_statement(self.identity, tx)])

    # -- what the board reports -----------------------------------------------------------------
    def door_changed(self, door_open: bool) -> None:
        bay = self.bay
        was, bay.door_open = bay.door_open, door_open
        if was == door_open:
            return
        if was is not None and self.on_door_event is not None:
            self.on_door_event(self.identity, door_open)
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
        if bay.outlet == Outlet.OFF:
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
