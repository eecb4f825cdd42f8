"""A simulated station's own state and its life with the CSMS (through :mod:`chargepoint`).

This object outlives connections and holds everything a real station keeps across reboots and
outages: meters, configuration, the local list and the queued transaction messages. The socket,
the boot, heartbeats and calls are the shared :class:`~chargepoint.client.Client`'s; what the
station answers is registered by :class:`charger_sim.station.Station`; transactions and the
driver's actions are :mod:`charger_sim.transactions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chargepoint.client import CALL_FAILED, TRANSIENT, Client, Options, identity_url
from chargepoint.handlers import Handlers
from chargepoint.link import Link
from chargepoint.outbox import DurableQueue, Outbox, QueueClosed, kept_version
from chargepoint.smart_charging import Profiles, Rating
from chargepoint.times import iso
from charger_sim.configuration import Configuration
from charger_sim.connector import Connector, Tx
from charger_sim.meter import Meter
from charger_sim.template import Template
from common.outbound import OutboundPolicy, OutboundRefused
from common.tasks import Background
from ocppj import basic_auth
from ocppj.versions import V16, Version

log = logging.getLogger("charger_sim.station")

TX_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
RESPONSE_TIMEOUT = 30.0
EventHook = Callable[[Any, str, dict[str, Any]], None]


def kept(tx: Tx) -> dict[str, Any]:
    """What the disk keeps of an open transaction, for the next run to end it."""
    return {"id": tx.id, "id_tag": tx.id_tag, "meter_start": tx.meter_start,
            "started": iso(tx.started)}


class StationCore:
    version: Version = V16  # what it speaks; a 2.0.1 station (charger_sim.station201) says so
    compression: str | None = None  # 1.6 stations do not compress; 2.0.1 ones offer permessage-deflate

    def __init__(self, identity: str, template: Template, csms_url: str | None = None, *,
                 seed: int | str | None = None, queue: DurableQueue | None = None,
                 log_size: int = 200, replay_rate: float = 20.0,
                 on_event: EventHook | None = None,
                 outbound: OutboundPolicy | None = None) -> None:
        url = csms_url or template.csms_url
        if not url:
            raise ValueError("a CSMS URL is needed (template csms_url or csms_url)")
        self.identity = identity
        self.template = template
        self.url = identity_url(url, identity)
        self.rng = random.Random(f"{seed}:{identity}" if seed is not None else identity)
        self.config = Configuration(template)
        self.connectors = {i: Connector(i, Meter(template, self.rng))
                           for i in range(1, template.connectors + 1)}
        self.profiles = Profiles(Rating(template.voltage, template.phases, template.max_power_w,
                                        template.current_type == "AC"))
        self.local_list: dict[str, dict[str, Any]] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.certificates: dict[str, str] = {}
        self.firmware_version = template.firmware_version
        self.replay_rate = replay_rate
        self.log: deque[tuple[str, str, str]] = deque(maxlen=log_size)
        self.on_event = on_event
        self.outbound = outbound  # REST-managed: its URL is checked at every connect; CLI: None
        self.registration: str | None = None
        # rejected: sessions the CSMS refused (at the Authorize, or in its answer to the start)
        self.stats = {"calls": 0, "call_errors": 0, "transactions": 0, "connects": 0, "rejected": 0}
        # the same refusals by the status the CSMS gave (ConcurrentTx, Invalid, ...), and how many
        # of them came in the answer to a start (the CSMS keeps a transaction for each of those)
        self.refusals: dict[str, int] = {}
        self.refused_starts = 0
        # fault knobs
        self.clock_skew = 0.0
        self.response_delay = 0.0
        self.drop_responses = 0.0
        self.background = Background(identity, (*CALL_FAILED, QueueClosed), log)
        self.spawn = self.background.spawn
        self.handlers = Handlers()  # filled by Station
        self.client = Client(
            identity, self.url, self.handlers,
            Options(response_timeout=RESPONSE_TIMEOUT, open_timeout=15, close_timeout=2,
                    ping_interval=None, compression=self.compression, max_queue=4, version=self.version,
                    close_reason="station stopped", jitter=self.rng.random,
                    headers=self._auth_headers, outbound=outbound),
            spawn=self.spawn, boot_payload=self.boot_notification, on_boot=self._booted,
            after_boot=self._after_boot,
            heartbeat_interval=lambda: self.config.get_int("HeartbeatInterval", 300),  # 2.0.1: kept in step
            on_connected=lambda: self.event("connected"),
            on_disconnected=lambda code: self.event("disconnected", code=code),
            on_connect_failed=self._connect_failed, frame_log=self._frame, gate=self._gate,
            stats=self.stats)
        self.booted = self.client.booted
        self.outbox = Outbox(identity, queue, self.call, TRANSIENT, self.booted.is_set,
                             on_renumber=self._renumber, spawn=self.spawn,
                             on_event=lambda kind, data: self.event(kind, **data),
                             on_refused=self._refused_later,
                             retry_interval=lambda: self.config.get_int("TransactionMessageRetryInterval", 10),
                             rate=replay_rate)

    # -- time, logs, tasks -------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew)

    def event(self, kind: str, **data: Any) -> None:
        self.log.append((iso(), "event", kind + (" " + repr(data) if data else "")))
        if self.on_event is not None:
            self.on_event(self, kind, data)

    def _frame(self, direction: str, frame: str) -> None:
        self.log.append((iso(), direction, frame))

    async def _gate(self) -> bool:
        """Before a call from the CSMS is answered: the fault knobs drop or delay the answer."""
        if self.drop_responses and self.rng.random() < self.drop_responses:
            self.event("response_dropped")
            return False
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        return True

    @property
    def link(self) -> Link | None:
        return self.client.link

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def refuse_until(self) -> float:
        """time.monotonic() before which the station does not connect (its power is out)."""
        return self.client.hold_until

    @refuse_until.setter
    def refuse_until(self, value: float) -> None:
        self.client.hold_until = value

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until :meth:`stop`: reconnect with exponential backoff and jitter."""
        await self.outbox.load()
        if not await self._state_in_my_version():
            return
        await self._recover()
        try:
            await self.client.run()
        finally:
            self.background.cancel()

    def stop(self) -> None:
        self.client.stop()

    async def shutdown(self, reason: str = "Local", timeout: float = 10.0) -> int:
        """Stop as a station switched off by its operator: running transactions end with
        ``reason`` (on disk at once), the queue gets ``timeout`` seconds to reach the CSMS, then
        the socket closes. What did not get through is sent at the next start. The connectors'
        ends go out side by side, so a CSMS slow to answer one cannot hold the stop past
        ``timeout`` (one after the other, each could wait out the response timeout). Returns how
        many transactions it ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        ends = [asyncio.ensure_future(self._end(c, reason)) for c in self.connectors.values() if c.tx is not None]
        if ends:
            await asyncio.wait(ends, timeout=timeout)
        while len(self.outbox) and self.booted.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        self.stop()
        for end in ends:  # an end not answered yet went to disk first: the next start sends it
            end.cancel()
        return len(ends)

    async def _end(self, c: Connector, reason: str) -> None:
        with contextlib.suppress(*CALL_FAILED, QueueClosed):
            await self.stop_transaction(c, reason)

    def count_refusal(self, status: str, *, at_start: bool) -> None:
        """A session the CSMS refused (``status``: its idTagInfo / idTokenInfo status), counted by
        why, so a run can say what went wrong rather than only how often; ``at_start``: refused
        in the answer to the start (a transaction the CSMS keeps), else at the Authorize."""
        self.stats["rejected"] += 1
        self.refusals[status] = self.refusals.get(status, 0) + 1
        self.refused_starts += at_start

    def _connect_failed(self, exc: BaseException) -> None:
        if isinstance(exc, OutboundRefused):  # retried like any failure: a name may resolve later
            self.event("connect_refused", error=str(exc))
        else:
            self.event("connect_failed", error=str(exc)[:200])

    # -- what a restart finds on disk ----------------------------------------------------------
    async def _state_in_my_version(self) -> bool:
        """False (and an error in the station's log, and on stderr) when an earlier run of this
        identity left transaction messages or a transaction in the other OCPP version: this run
        could neither send nor end them, so it does not run and leaves them as they are."""
        state = await self.outbox.queue.state(self.identity) if self.outbox.queue is not None else {}
        kept = [tx for key, tx in state.items() if key.startswith("tx:") and tx is not None]
        found = kept_version(self.outbox.pending, kept)
        if found is None or found == self.version.name:
            return True
        why = (f"{self.identity}: an earlier run left transaction messages or an open transaction in OCPP "
               f"{found}; run this station as {found} until they are sent, or remove its state")
        self.event("state_of_other_version", version=found)
        logging.getLogger("charger_sim").error("%s", why)
        return False

    async def _recover(self) -> None:
        """What the previous run of this identity kept: each connector's meter register (a real
        meter never goes back) and the transactions it had open. Those ended with that run (the
        station was killed, or lost power): a StopTransaction PowerLoss goes into the queue now,
        behind anything of theirs still queued, with the last register known."""
        if self.outbox.queue is None:
            return
        state = await self.outbox.queue.state(self.identity)
        for c in self.connectors.values():
            register = state.get(f"meter:{c.id}")
            if register is not None:
                c.meter.energy_wh = max(c.meter.energy_wh, float(register))
        for c in self.connectors.values():
            kept = state.get(f"tx:{c.id}")
            if kept is not None:
                await self._end_recovered(c, kept)

    async def _end_recovered(self, c: Connector, tx: dict[str, Any]) -> None:
        """Queue the end of a transaction the previous run left open on ``c`` (1.6:
        StopTransaction PowerLoss; a 2.0.1 station says it its way)."""
        meter_stop = max(round(c.meter.energy_wh), tx["meter_start"])
        self.event("transaction_recovered", connector=c.id, transaction_id=tx["id"])
        await self.outbox.put("StopTransaction", {
            "transactionId": tx["id"], "meterStop": meter_stop, "timestamp": iso(self.now()),
            "reason": "PowerLoss"}, also=[self.outbox.state(f"tx:{c.id}", None)])

    def _auth_headers(self) -> dict[str, str]:
        """Basic auth with the AuthorizationKey a central system set (the bytes it stands for,
        :mod:`ocppj.basic_auth`), or the template's password."""
        key = self.config.get("AuthorizationKey")
        if key:
            return {"Authorization": basic_auth.header(self.identity, basic_auth.key_password(key))}
        if not self.template.password:
            return {}
        return {"Authorization": basic_auth.header(self.identity, self.template.password.encode())}

    def boot_notification(self) -> dict[str, Any]:
        t = self.template
        payload = {"chargePointVendor": t.vendor, "chargePointModel": t.model,
                   "chargePointSerialNumber": self.identity[-25:],
                   "firmwareVersion": self.firmware_version, "meterType": t.meter_type,
                   "iccid": t.iccid, "imsi": t.imsi}
        return {k: v for k, v in payload.items() if v is not None}

    def _booted(self, status: str, interval: int) -> None:
        self.registration = status
        if status != "Accepted":
            self.event("boot_" + status.lower(), interval=interval)
            return
        if interval > 0:
            self.config.keys["HeartbeatInterval"].value = str(interval)
        self.event("booted")

    def station_status(self) -> str:
        """Connector 0's status: Unavailable when no connector is operative."""
        return "Available" if any(c.operative for c in self.connectors.values()) else "Unavailable"

    async def _after_boot(self) -> None:
        await self.send_status(0, self.station_status())
        for c in self.connectors.values():
            await self.send_status(c.id, c.status)
        await self.outbox.replay()

    def drop_connection(self) -> None:
        """Lose the network: the socket dies without a closing handshake, and from this moment
        the station is offline (its session notices the dead socket a little later)."""
        self.client.drop()

    def reconnect(self) -> None:
        """Close the socket and connect again at once (a reboot)."""
        self.client.reconnect("rebooting")

    # -- messaging ---------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any], booting: bool = False) -> dict[str, Any]:
        """Send a call (camelCase payload) and return the CSMS's answer payload (see
        :meth:`chargepoint.client.Client.call` for how it fails)."""
        return await self.client.call(action, payload, booting)

    async def send_status(self, connector_id: int, status: str) -> None:
        c = self.connectors.get(connector_id)
        payload = {"connectorId": connector_id, "status": status,
                   "errorCode": c.error_code if c else "NoError", "timestamp": iso(self.now())}
        if c is not None and c.info:
            payload["info"] = c.info
        with contextlib.suppress(*CALL_FAILED):
            await self.call("StatusNotification", payload)

    async def set_status(self, c: Connector, status: str) -> None:
        if c.status == status:
            return
        c.status = status
        self.event("status", connector=c.id, status=status)
        await self.send_status(c.id, status)

    async def send_raw(self, frame: str) -> None:
        await self.client.send_raw(frame)

    def snapshot(self) -> dict[str, Any]:
        return {"identity": self.identity, "template": self.template.name, "url": self.url,
                "connected": self.connected, "booted": self.booted.is_set(),
                "registration": self.registration,
                "connectors": [c.snapshot() for c in self.connectors.values()], **self.stats,
                "queued": len(self.outbox), "replayed": self.outbox.stats["replayed"]}

    # -- provided by charger_sim.transactions ----------------------------------------------------
    async def stop_transaction(self, c: Connector, reason: str, id_tag: str | None = None) -> None:
        raise NotImplementedError

    def _renumber(self, provisional: int, real: int) -> list[Any]:
        raise NotImplementedError

    def _refused_later(self, transaction_id: int | str, status: str) -> None:
        raise NotImplementedError
