"""A simulated OCPP 1.6J charge point: connection lifecycle, transactions, offline queue, faults.

The OCPP side is the `ocpp` library's ``ChargePoint`` (see :mod:`charger_sim.handlers`), one per
websocket connection; this object outlives connections and holds everything a real station keeps
across reboots and outages: meters, configuration, the local list and the queued transaction
messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

import ocpp.messages
import websockets
from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed, WebSocketException

from charger_sim.configuration import Configuration
from charger_sim.connector import Connector, Tx
from charger_sim.meter import Meter
from common.outbound import WEBSOCKET_SCHEMES, OutboundPolicy, OutboundRefused
from common.outbox import DurableQueue, Outbox, QueueClosed, Statement
from common.session import booted_session
from common.tasks import Background
from charger_sim.smart_charging import Profiles
from charger_sim.template import Template

if TYPE_CHECKING:
    from charger_sim.handlers import Link

log = logging.getLogger(__name__)
# Validate inline: the library's default thread-pool hop costs more than validation itself
# (shared notes), and thousands of stations share one process.
ocpp.messages.ASYNC_VALIDATION = False

TX_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
MAX_BACKOFF = 60.0
RESPONSE_TIMEOUT = 30.0


class Offline(Exception):
    """The station has no (booted) connection to its CSMS."""


def _kept(tx: Tx) -> dict[str, Any]:
    """What the disk keeps of an open transaction, for the next run to end it."""
    return {"id": tx.id, "id_tag": tx.id_tag, "meter_start": tx.meter_start,
            "started": iso(tx.started)}


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station:
    def __init__(self, identity: str, template: Template, csms_url: str | None = None, *,
                 seed: int | str | None = None, queue: DurableQueue | None = None,
                 log_size: int = 200, replay_rate: float = 20.0,
                 on_event: Callable[[Station, str, dict[str, Any]], None] | None = None,
                 outbound: OutboundPolicy | None = None) -> None:
        url = csms_url or template.csms_url
        if not url:
            raise ValueError("a CSMS URL is needed (template csms_url or csms_url)")
        self.identity = identity
        self.template = template
        self.url = url.rstrip("/") + "/" + quote(identity, safe="")
        self.rng = random.Random(f"{seed}:{identity}" if seed is not None else identity)
        self.config = Configuration(template)
        self.connectors = {i: Connector(i, Meter(template, self.rng))
                           for i in range(1, template.connectors + 1)}
        self.profiles = Profiles(template)
        self.local_list: dict[str, dict[str, Any]] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.certificates: dict[str, str] = {}
        self.firmware_version = template.firmware_version
        self.replay_rate = replay_rate
        self.log: deque[tuple[str, str, str]] = deque(maxlen=log_size)
        self.on_event = on_event
        self.outbound = outbound  # REST-managed: its URL is checked at every connect; CLI: None
        self.link: Link | None = None
        self.registration: str | None = None
        self.booted = asyncio.Event()
        self.stats = {"calls": 0, "call_errors": 0, "transactions": 0, "connects": 0}
        # fault knobs
        self.clock_skew = 0.0
        self.response_delay = 0.0
        self.drop_responses = 0.0
        self.refuse_until = 0.0
        self.background = Background(identity, (Offline, ConnectionClosed, asyncio.TimeoutError,
                                                OCPPError, QueueClosed), log)
        self.spawn = self.background.spawn
        self.outbox = Outbox(identity, queue, self.call, (Offline, asyncio.TimeoutError, ConnectionClosed),
                             self.booted.is_set, on_renumber=self._renumber, spawn=self.spawn,
                             on_event=lambda kind, data: self.event(kind, **data),
                             on_refused=self._refused_later,
                             retry_interval=lambda: self.config.get_int("TransactionMessageRetryInterval", 10),
                             rate=replay_rate)
        self._stop = asyncio.Event()
        self._reconnect_now = False

    # -- time, logs, tasks -------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_skew)

    def event(self, kind: str, **data: Any) -> None:
        self.log.append((iso(datetime.now(timezone.utc)), "event",
                         kind + (" " + repr(data) if data else "")))
        if self.on_event is not None:
            self.on_event(self, kind, data)

    @property
    def connected(self) -> bool:
        return self.link is not None

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until :meth:`stop`: reconnect with exponential backoff and jitter."""
        await self.outbox.load()
        await self._recover()
        backoff = 1.0
        while not self._stop.is_set():
            wait = self.refuse_until - time.monotonic()
            if wait > 0:
                await self._sleep(wait)
                continue
            try:
                sock = None if self.outbound is None else await self.outbound.connect(
                    self.url, WEBSOCKET_SCHEMES, "csms_url")
                async with websockets.connect(
                    self.url, sock=sock, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=self._auth_headers(), open_timeout=15, close_timeout=2,
                    ping_interval=None, compression=None, max_queue=4,
                ) as ws:
                    backoff = 1.0
                    self.stats["connects"] += 1
                    await self._session(ws)
            except OutboundRefused as exc:  # retried like any failure: a name may resolve elsewhere later
                self.event("connect_refused", error=str(exc))
            except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
                self.event("connect_failed", error=str(exc)[:200])
            finally:
                self.link = None
                self.booted.clear()
            if self._stop.is_set():
                break
            if self._reconnect_now:
                self._reconnect_now = False
                continue
            await self._sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, MAX_BACKOFF)
        self.background.cancel()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def stop(self) -> None:
        self._stop.set()
        if self.link is not None:
            self.spawn(self.link.close())

    async def shutdown(self, reason: str = "Local", timeout: float = 10.0) -> None:
        """Stop as a station switched off by its operator: running transactions end with
        ``reason`` (on disk at once), the queue gets ``timeout`` seconds to reach the CSMS, then
        the socket closes. What did not get through is sent at the next start."""
        for c in self.connectors.values():
            if c.tx is not None:
                with contextlib.suppress(Offline, asyncio.TimeoutError, ConnectionClosed,
                                         OCPPError, QueueClosed):
                    await self.stop_transaction(c, reason)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.outbox) and self.booted.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.stop()

    # -- what a restart finds on disk ----------------------------------------------------------
    async def _recover(self) -> None:
        """What the previous run of this identity kept: each connector's meter register (a real
        meter never goes back) and the transactions it had open. Those ended with that run (the
        station was killed, or lost power): a StopTransaction PowerLoss goes into the queue now,
        behind anything of theirs still queued, with the last register known."""
        if self.outbox.queue is None:
            return
        kept = await self.outbox.queue.state(self.identity)
        for c in self.connectors.values():
            register = kept.get(f"meter:{c.id}")
            if register is not None:
                c.meter.energy_wh = max(c.meter.energy_wh, float(register))
        for c in self.connectors.values():
            tx = kept.get(f"tx:{c.id}")
            if tx is None:
                continue
            meter_stop = max(round(c.meter.energy_wh), tx["meter_start"])
            self.event("transaction_recovered", connector=c.id, transaction_id=tx["id"])
            await self.outbox.put("StopTransaction", {
                "transactionId": tx["id"], "meterStop": meter_stop, "timestamp": iso(self.now()),
                "reason": "PowerLoss"}, also=[self.outbox.state(f"tx:{c.id}", None)])

    def _auth_headers(self) -> dict[str, str]:
        if not self.template.password:
            return {}
        token = base64.b64encode(f"{self.identity}:{self.template.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _session(self, ws: Any) -> None:
        from charger_sim.handlers import Link

        link = Link(self, ws)
        reader = asyncio.ensure_future(link.start())
        reader.add_done_callback(lambda _: link.lost())
        self.link = link
        self.event("connected")
        try:
            await booted_session(reader, self._boot, self._heartbeats, self._after_boot, self.spawn,
                                 (ConnectionClosed, Offline, asyncio.TimeoutError))
        finally:
            link.lost()
            self.link = None
            self.booted.clear()
            self.event("disconnected", code=ws.close_code)

    def boot_notification(self) -> dict[str, Any]:
        t = self.template
        payload = {"chargePointVendor": t.vendor, "chargePointModel": t.model,
                   "chargePointSerialNumber": self.identity[-25:],
                   "firmwareVersion": self.firmware_version, "meterType": t.meter_type,
                   "iccid": t.iccid, "imsi": t.imsi}
        return {k: v for k, v in payload.items() if v is not None}

    def station_status(self) -> str:
        """Connector 0's status: Unavailable when no connector is operative."""
        return "Available" if any(c.operative for c in self.connectors.values()) else "Unavailable"

    async def _boot(self) -> None:
        while True:
            result = await self.call("BootNotification", self.boot_notification(), booting=True)
            self.registration = status = result["status"]
            interval = result["interval"]
            if status == "Accepted":
                if interval > 0:
                    self.config.keys["HeartbeatInterval"].value = str(interval)
                self.booted.set()
                self.event("booted")
                return
            self.event("boot_" + status.lower(), interval=interval)
            await asyncio.sleep(interval or 10)

    async def _after_boot(self) -> None:
        await self.send_status(0, self.station_status())
        for c in self.connectors.values():
            await self.send_status(c.id, c.status)
        await self.outbox.replay()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(max(self.config.get_int("HeartbeatInterval", 300), 1))
            with contextlib.suppress(Offline, asyncio.TimeoutError, OCPPError):
                await self.call("Heartbeat", {})

    def drop_connection(self) -> None:
        """Lose the network: the socket dies without a closing handshake, and from this moment
        the station is offline (its session notices the dead socket a little later)."""
        if self.link is not None:
            transport = getattr(self.link._connection, "transport", None)
            if transport is not None:
                transport.abort()
            self.link = None

    def reconnect(self) -> None:
        """Close the socket and connect again at once (a reboot)."""
        self._reconnect_now = True
        if self.link is not None:
            self.spawn(self.link._connection.close(1000, "rebooting"))

    # -- messaging ---------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any], booting: bool = False) -> dict[str, Any]:
        """Send a call (camelCase payload) and return the CSMS's answer payload.

        Raises :class:`Offline` without a (booted) connection or when it drops meanwhile,
        OCPPError for a CALLERROR and TimeoutError when the CSMS does not answer in time.
        """
        link = self.link
        if link is None or (not booting and not self.booted.is_set()):
            raise Offline(self.identity)
        self.stats["calls"] += 1
        try:
            return await link.send_call(action, payload, RESPONSE_TIMEOUT)
        except OCPPError:
            self.stats["call_errors"] += 1
            raise

    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        """The CSMS numbered a transaction: use its id on the connector too (and on disk)."""
        kept = []
        for c in self.connectors.values():
            if c.tx is not None and c.tx.id == provisional:
                c.tx.id = real
                kept.append(self.outbox.state(f"tx:{c.id}", _kept(c.tx)))
        return kept

    async def send_status(self, connector_id: int, status: str) -> None:
        c = self.connectors.get(connector_id)
        payload = {"connectorId": connector_id, "status": status,
                   "errorCode": c.error_code if c else "NoError", "timestamp": iso(self.now())}
        if c is not None and c.info:
            payload["info"] = c.info
        with contextlib.suppress(Offline, asyncio.TimeoutError, OCPPError, ConnectionClosed):
            await self.call("StatusNotification", payload)

    async def set_status(self, c: Connector, status: str) -> None:
        if c.status == status:
            return
        c.status = status
        self.event("status", connector=c.id, status=status)
        await self.send_status(c.id, status)

    # -- authorization -----------------------------------------------------------------------
    async def authorize(self, id_tag: str) -> str:
        """Ask the CSMS; offline, use the local list, the cache, or AllowOfflineTxForUnknownId."""
        try:
            result = await self.call("Authorize", {"idTag": id_tag})
            info = result["idTagInfo"]
            self.auth_cache[id_tag] = info
            return str(info["status"])
        except (Offline, asyncio.TimeoutError, ConnectionClosed):
            pass
        entry = self.local_list.get(id_tag) or self.auth_cache.get(id_tag)
        if entry is not None:
            return str(entry.get("status", "Invalid"))
        return "Accepted" if self.config.get_bool("AllowOfflineTxForUnknownId") else "Invalid"

    # -- the driver's actions ----------------------------------------------------------------
    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"{self.identity} has no connector {connector_id}") from None

    async def plug(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        if c.plugged:
            return
        c.plugged = True
        c.meter.plug_in()
        c.plugged_event.set()
        self.event("plugged", connector=c.id)
        if c.tx is None and c.status in ("Available", "Finishing"):
            await self.set_status(c, c.idle_status)

    async def unplug(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        if not c.plugged:
            return
        if c.tx is not None and self.config.get_bool("StopTransactionOnEVSideDisconnect"):
            await self.stop_transaction(c, "EVDisconnected")
        c.plugged = False
        c.plugged_event.clear()
        c.meter.unplug()
        self.event("unplugged", connector=c.id)
        if c.tx is None:
            await self.set_status(c, c.idle_status)

    async def start_local(self, connector_id: int, id_tag: str) -> str:
        """A driver presents ``id_tag`` at the connector (plugging in first if needed). Returns
        Accepted when a transaction runs, else why not (Busy, or the CSMS's idTagInfo status at
        the Authorize or the StartTransaction)."""
        c = self.connector(connector_id)
        if c.tx is not None or c.status in ("Faulted", "Unavailable"):
            return "Busy"
        status = await self.authorize(id_tag)
        if status != "Accepted":
            self.event("authorize_rejected", id_tag=id_tag, status=status)
            return status
        await self.plug(connector_id)
        return await self.start_transaction(c, id_tag)

    async def stop_local(self, connector_id: int, id_tag: str | None = None,
                         reason: str = "Local") -> bool:
        c = self.connector(connector_id)
        if c.tx is None:
            return False
        await self.stop_transaction(c, reason, id_tag)
        return True

    async def remote_start(self, c: Connector, id_tag: str, profile: dict[str, Any] | None) -> None:
        """After RemoteStartTransaction was accepted: authorize, wait for the plug, start."""
        if self.config.get_bool("AuthorizeRemoteTxRequests"):
            if await self.authorize(id_tag) != "Accepted":
                await self.set_status(c, c.idle_status)
                return
        if not c.plugged:
            await self.set_status(c, "Preparing")
            if self.template.plug_in_delay is not None:
                self.spawn(self._driver_plugs_in(c.id, self.template.plug_in_delay))
            timeout = self.config.get_int("ConnectionTimeOut", 60)
            try:
                await asyncio.wait_for(c.plugged_event.wait(), timeout)
            except asyncio.TimeoutError:
                self.event("connection_timeout", connector=c.id)
                await self.set_status(c, c.idle_status)
                return
        if profile is not None:
            self.profiles.set(c.id, profile, tx_id=None if profile.get("transactionId") is None
                              else profile["transactionId"])
        await self.start_transaction(c, id_tag)

    async def _driver_plugs_in(self, connector_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.plug(connector_id)

    # -- transactions --------------------------------------------------------------------------
    async def start_transaction(self, c: Connector, id_tag: str) -> str:
        """Start a transaction (on disk with its StartTransaction before anything is sent).
        Returns the CSMS's idTagInfo status, or Accepted when it was queued (offline)."""
        now = self.now()
        c.meter.advance(time.monotonic(), False, None)
        reservation = c.reservation
        c.reservation = None
        tx = Tx(self.outbox.provisional_id(), id_tag, now, round(c.meter.energy_wh))
        c.tx = tx
        self.stats["transactions"] += 1
        payload: dict[str, Any] = {"connectorId": c.id, "idTag": id_tag, "meterStart": tx.meter_start,
                                   "timestamp": iso(now), "_provisional": tx.id}
        if reservation is not None:
            payload["reservationId"] = reservation["reservationId"]
        seq = await self.outbox.put("StartTransaction", payload,
                                    also=[self.outbox.state(f"tx:{c.id}", _kept(tx))])
        await self.set_status(c, "Charging")
        c.task = self.spawn(self._meter_loop(c, tx))
        result = await self.outbox.result(seq)
        if result is None:
            self.event("transaction_started_offline", connector=c.id, provisional_id=tx.id)
            return "Accepted"
        status = str(result["idTagInfo"].get("status"))
        self.event("transaction_started", connector=c.id, transaction_id=tx.id, status=status)
        if status != "Accepted" and c.tx is tx:
            await self._refuse(c)
        return status

    async def _refuse(self, c: Connector) -> None:
        """The CSMS did not accept the tag of the running transaction (OCPP 1.6 4.8): stop it,
        or with StopTransactionOnInvalidId false keep it and deliver no more energy."""
        if c.tx is None or c.tx.refused:  # stopped already (the answer came two ways)
            return
        if self.config.get_bool("StopTransactionOnInvalidId"):
            await self.stop_transaction(c, "DeAuthorized")
        else:
            c.tx.refused = True
            await self.reassess(c)

    def _refused_later(self, transaction_id: int, status: str) -> None:
        """A StartTransaction that went out from the queue was refused."""
        for c in self.connectors.values():
            if c.tx is not None and c.tx.id == transaction_id:
                self.event("transaction_refused", connector=c.id, transaction_id=transaction_id,
                           status=status)
                self.spawn(self._refuse(c))

    async def stop_transaction(self, c: Connector, reason: str, id_tag: str | None = None) -> None:
        tx = c.tx
        if tx is None:
            return
        c.tx = None
        if c.task is not None:
            c.task.cancel()
            c.task = None
        c.meter.advance(time.monotonic(), False, None)
        now = self.now()
        payload: dict[str, Any] = {
            "transactionId": tx.id, "meterStop": round(c.meter.energy_wh), "timestamp": iso(now),
            "reason": reason,
            "transactionData": [{"timestamp": iso(now), "sampledValue": c.meter.sample(
                self.config.get("StopTxnSampledData").split(","), "Transaction.End")}],
        }
        if id_tag:
            payload["idTag"] = id_tag
        seq = await self.outbox.put("StopTransaction", payload, also=[
            self.outbox.state(f"tx:{c.id}", None),
            self.outbox.state(f"meter:{c.id}", payload["meterStop"])])
        self.profiles.clear_tx_profiles(c.id)
        if c.scheduled_operative is not None:
            c.operative, c.scheduled_operative = c.scheduled_operative, None
        await self.set_status(c, "Finishing" if c.plugged and c.operative and c.error_code == "NoError"
                              else c.idle_status)
        self.event("transaction_stopped", connector=c.id, transaction_id=tx.id, reason=reason)
        await self.outbox.result(seq)

    def limit_w(self, c: Connector) -> float | None:
        tx = c.tx
        return self.profiles.limit_w(c.id, self.now(), tx.started if tx else None,
                                     tx.id if tx else None)

    async def reassess(self, c: Connector) -> None:
        """Recompute power and Charging/SuspendedEV/SuspendedEVSE after anything changed."""
        if c.tx is None:
            return
        limit = 0.0 if c.tx.refused else self.limit_w(c)
        c.meter.advance(time.monotonic(), True, limit)
        if limit is not None and limit <= 0:
            status = "SuspendedEVSE"
        elif c.meter.vehicle is not None and c.meter.vehicle.wanted_power() <= 0:
            status = "SuspendedEV"
        else:
            status = "Charging"
        await self.set_status(c, status)

    async def _meter_loop(self, c: Connector, tx: Tx) -> None:
        """Sample every MeterValueSampleInterval on a fixed schedule (no drift); the first
        sample is offset by up to 10 % so a fleet's connectors don't all report at once."""
        loop = asyncio.get_running_loop()
        await self.reassess(c)
        interval = self.config.get_int("MeterValueSampleInterval", 60)
        due = loop.time() + interval * (1 + 0.1 * self.rng.random())
        while c.tx is tx:
            interval = self.config.get_int("MeterValueSampleInterval", 60)
            if interval <= 0:
                await asyncio.sleep(30)
                due = loop.time()
                continue
            await asyncio.sleep(max(due - loop.time(), 0))
            due = max(due + interval, loop.time())
            if c.tx is not tx:
                return
            await self.reassess(c)
            await self.send_meter_values(c, "Sample.Periodic")

    async def send_meter_values(self, c: Connector, context: str) -> None:
        measurands = self.config.get("MeterValuesSampledData").split(",")
        payload: dict[str, Any] = {"connectorId": c.id, "meterValue": [
            {"timestamp": iso(self.now()), "sampledValue": c.meter.sample(measurands, context)}]}
        if c.tx is not None:
            payload["transactionId"] = c.tx.id
            await self.outbox.send("MeterValues", payload, also=[
                self.outbox.state(f"meter:{c.id}", round(c.meter.energy_wh))])
        else:
            with contextlib.suppress(Offline, asyncio.TimeoutError, OCPPError, ConnectionClosed):
                await self.call("MeterValues", payload)

    # -- faults --------------------------------------------------------------------------------
    async def fault_connector(self, connector_id: int, error_code: str, info: str | None = None) -> None:
        c = self.connector(connector_id)
        c.error_code, c.info = error_code, info
        if c.tx is not None:
            await self.stop_transaction(c, "Other")
        await self.set_status(c, "Faulted")

    async def clear_fault(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        c.error_code, c.info = "NoError", None
        await self.set_status(c, c.idle_status)

    async def power_loss(self, outage_s: float = 2.0) -> None:
        """Power goes: the socket dies, transactions end with PowerLoss (sent after the reboot)."""
        self.refuse_until = time.monotonic() + outage_s
        self.drop_connection()
        self.booted.clear()
        for c in self.connectors.values():
            if c.tx is not None:
                await self.stop_transaction(c, "PowerLoss")

    async def send_raw(self, frame: str) -> None:
        if self.link is None:
            raise Offline(self.identity)
        self.log.append((iso(datetime.now(timezone.utc)), "out", frame))
        await self.link._connection.send(frame)

    def snapshot(self) -> dict[str, Any]:
        return {"identity": self.identity, "template": self.template.name, "url": self.url,
                "connected": self.connected, "booted": self.booted.is_set(),
                "registration": self.registration, "connectors": [c.snapshot() for c in self.connectors.values()], **self.stats,
                "queued": len(self.outbox), "replayed": self.outbox.stats["replayed"]}

