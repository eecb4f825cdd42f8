"""A locker bay's life with the CSMS, on the shared :mod:`chargepoint` client: boot, status.

The bay connects to ``{csms_url}/{identity}`` like any charger, boots, sends heartbeats and status
notifications. Connector 0 mirrors the board's health, connector 1 the bay. Transactions are
:mod:`locker_bridge.bay_transactions`; what the bay answers is :mod:`locker_bridge.handlers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from chargepoint.client import CALL_FAILED, TRANSIENT, Client, Options, identity_url
from chargepoint.handlers import Handlers
from chargepoint.link import Link
from chargepoint.outbox import DurableQueue, Outbox, QueueClosed, Statement
from chargepoint.times import iso
from common.tasks import Background
from locker_bridge.bay import Bay, BoardError, FaultKind, Tx
from locker_bridge.bay_settings import Settings
from locker_bridge.bus import BusError
from locker_bridge.reach import CsmsReach
from locker_bridge.store import BridgeStore
from ocppj.versions import V16, Version

log = logging.getLogger("locker_bridge.charge_point")

RESPONSE_TIMEOUT = 15.0


class BayPoint:
    version: Version = V16  # a 2.0.1 bay (locker_bridge.bay201) says so

    def __init__(self, bay: Bay, csms_url: str, queue: DurableQueue | None, store: BridgeStore,
                 *, reach: CsmsReach, meter_interval: int = 60, full_timeout: int = 1800,
                 unlock_opens_door: bool = False, vendor: str = "chargebay",
                 model: str = "locker-bay") -> None:
        self.bay = bay
        self.identity = bay.identity
        self.url = identity_url(csms_url, bay.identity)
        self.store = store
        self.reach = reach
        self.settings = Settings(meter_interval, full_timeout)
        self.unlock_opens_door = unlock_opens_door
        self.vendor, self.model = vendor, model
        self.lock = asyncio.Lock()  # one outlet change (start, stop) at a time
        self.background = Background(bay.identity, (*CALL_FAILED, BusError, BoardError, QueueClosed), log)
        self.spawn = self.background.spawn
        self.handlers = Handlers()  # filled by VirtualChargePoint
        self.client = Client(
            bay.identity, self.url, self.handlers,
            Options(response_timeout=RESPONSE_TIMEOUT, open_timeout=10, close_timeout=2,
                    close_reason="bay stopped", version=self.version),
            spawn=self.spawn, boot_payload=self.boot_payload, on_boot=self._booted,
            after_boot=self._after_boot,
            heartbeat_interval=lambda: self.settings.int("HeartbeatInterval"),
            on_connected=reach.connected, on_disconnected=lambda code: self._sent.clear(),
            on_connect_failed=lambda exc: reach.failed(self.url, exc))
        self.booted = self.client.booted
        self.outbox = Outbox(bay.identity, queue, self.call, TRANSIENT, self.booted.is_set,
                             on_renumber=self._renumber, spawn=self.spawn,
                             on_refused=self._refused_later, retry_interval=lambda: 5.0)
        self._sent: dict[int, tuple[str, str, str | None]] = {}
        self.boot_hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []  # run after every boot
        # the bay's own state is read (and a transaction from before a restart reconciled with
        # it) before its charge point boots: it never reports what it has not seen
        self.first_read = asyncio.Event()
        # set apart from first_read: a board silent at start lets its charge points boot
        # (Faulted) but its bays are read and reconciled only once it answers
        self.reconciled = False

    @property
    def link(self) -> Link | None:
        return self.client.link

    # -- connection -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until :meth:`close`, reconnecting with backoff; connect only once the
        bay has been read (or its board found silent)."""
        await self.outbox.load()
        await self.first_read.wait()
        await self.client.run()

    async def close(self) -> None:
        await self.client.close()
        await self.background.close()

    def reconnect(self) -> None:
        """Close the socket and connect again at once (a Reset)."""
        self.client.reconnect("bay stopped")

    def _booted(self, status: str, interval: int) -> None:
        if status == "Accepted":
            if interval > 0:
                self.settings.values["HeartbeatInterval"] = str(interval)
            log.info("%s: booted at %s", self.identity, self.url)

    def boot_payload(self) -> dict[str, Any]:
        return {"chargePointVendor": self.vendor, "chargePointModel": self.model,
                "chargePointSerialNumber": self.identity[-25:], "firmwareVersion": "bridge-1"}

    async def _after_boot(self) -> None:
        await self.notify(force=True)
        for hook in self.boot_hooks:
            self.spawn(hook())
        await self.outbox.replay()

    async def triggered(self, message: str) -> None:
        """Send what a TriggerMessage asked for (after its answer went out)."""
        with contextlib.suppress(*CALL_FAILED, BusError, BoardError):
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

    async def call(self, action: str, payload: dict[str, Any], booting: bool = False) -> dict[str, Any]:
        """Send a call (camelCase payload) and return the camelCase answer (see
        :meth:`chargepoint.client.Client.call` for how it fails)."""
        return await self.client.call(action, payload, booting)

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
            except CALL_FAILED:
                self._sent.pop(connector, None)

    # -- what the bay tells the CSMS, in OCPP 1.6 (locker_bridge.bay201 says it in 2.0.1) --------
    async def authorize(self, id_tag: str) -> str:
        """The CSMS's verdict on ``id_tag`` (raises Offline, TimeoutError when it cannot say)."""
        answer = await self.call("Authorize", {"idTag": id_tag})
        return str(answer["idTagInfo"]["status"])

    def start_message(self, tx: Tx) -> tuple[str, dict[str, Any]]:
        return "StartTransaction", {"connectorId": 1, "idTag": tx.id_tag, "meterStart": tx.meter_start,
                                    "timestamp": tx.started, "_provisional": tx.id}

    def start_verdict(self, answer: dict[str, Any]) -> str:
        """The id tag status in the answer to :meth:`start_message`."""
        return str(answer["idTagInfo"]["status"])

    def stop_message(self, tx: Tx, meter_stop: int, reason: str) -> tuple[str, dict[str, Any]]:
        return "StopTransaction", {"transactionId": tx.id, "idTag": tx.id_tag, "meterStop": meter_stop,
                                   "timestamp": iso(), "reason": reason}

    def meter_message(self, tx: Tx | None, sampled: list[dict[str, Any]], context: str
                      ) -> tuple[str, dict[str, Any]]:
        """A reading: of the transaction ``tx``, or outside one (``tx`` None)."""
        payload: dict[str, Any] = {"connectorId": 1, "meterValue": [{"timestamp": iso(), "sampledValue": sampled}]}
        if tx is not None:
            payload["transactionId"] = tx.id
        return "MeterValues", payload

    # -- provided by locker_bridge.bay_transactions -----------------------------------------------
    async def send_meter_values(self, context: str) -> None:
        raise NotImplementedError

    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        raise NotImplementedError

    def _refused_later(self, transaction_id: int | str, status: str) -> None:
        raise NotImplementedError
