"""A charge point's life with its central system: connect, boot, heartbeats, calls, reconnect.

The simulator's stations and the locker bridge's bays each had their own copy of this loop (and
fixes that reached one copy only); this is the one left. What differs between them is passed in
as :class:`Options` and callbacks: the owner says what to boot with, what to do once booted and
what it answers (:class:`~chargepoint.handlers.Handlers`); the client owns the socket.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websockets
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from chargepoint.errors import CallRefused, Offline
from chargepoint.handlers import Handlers
from chargepoint.link import FrameLog, Gate, Link
from chargepoint.session import booted_session
from common.outbound import WEBSOCKET_SCHEMES, OutboundPolicy
from ocppj.versions import V16, Version

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
# How long the central system took to answer, per process (a fleet's workers report it): counts
# of answers within each bound, in ms, and a last one for the slower and the never answered
# (timed out). Timed from the station's call, its wait for its own earlier call included. Kept per process, not per
# station: 10,000 stations add nothing to their memory for it.
ANSWER_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
ANSWERED = [0] * (len(ANSWER_BUCKETS_MS) + 1)


def _answered(started: float) -> None:
    ms = (time.monotonic() - started) * 1000
    ANSWERED[bisect.bisect_left(ANSWER_BUCKETS_MS, ms)] += 1
# What ends a call short of an answer it can use: callers that do not care suppress these.
CALL_FAILED: tuple[type[BaseException], ...] = (Offline, TimeoutError, ConnectionClosed, CallRefused)
# What leaves a message undelivered (it is sent again): the outbox retries these.
TRANSIENT: tuple[type[BaseException], ...] = (Offline, TimeoutError, ConnectionClosed)
Coro = Coroutine[Any, Any, None]


@dataclass(slots=True)
class Options:
    """How one kind of charge point connects; the defaults are the `websockets` library's."""

    response_timeout: float = 30.0  # seconds a call waits for its answer
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    ping_interval: float | None = 20.0
    compression: str | None = "deflate"
    max_queue: int = 16
    close_reason: str = "stopped"
    version: Version = V16
    jitter: Callable[[], float] | None = None  # a random 0..1: backoff * (0.5 + jitter())
    headers: Callable[[], dict[str, str]] = field(default=lambda: {})
    outbound: OutboundPolicy | None = None  # set: the URL is checked at every connect


def _deflate() -> list[ClientPerMessageDeflateFactory]:
    """permessage-deflate as a small station offers it: 1 KiB windows both ways and zlib memLevel
    2 (websockets' default: memLevel 5, and whatever window the central system compresses with,
    up to 32 KiB, to inflate). OCPP frames are small; a fleet of 10,000 stations holds one
    inflater and one deflater each (bench/sim_fleet_versions.py). A central system that cannot
    keep to 1 KiB declines the offer and the connection goes uncompressed."""
    return [ClientPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10,
                                           compress_settings={"memLevel": 2})]


def identity_url(csms_url: str, identity: str) -> str:
    """``{csms_url}/{identity}``, the identity percent-encoded as OCPP-J asks (a space is valid)."""
    return csms_url.rstrip("/") + "/" + quote(identity, safe="")


class Client:
    """One charge point's connection to its central system, kept up until :meth:`stop`."""

    def __init__(self, identity: str, url: str, handlers: Handlers, options: Options, *,
                 spawn: Callable[[Coro], Any],
                 boot_payload: Callable[[], dict[str, Any]],
                 on_boot: Callable[[str, int], None],
                 after_boot: Callable[[], Coro],
                 heartbeat_interval: Callable[[], int],
                 on_connected: Callable[[], None] = lambda: None,
                 on_disconnected: Callable[[int | None], None] = lambda code: None,
                 on_connect_failed: Callable[[BaseException], None] = lambda exc: None,
                 frame_log: FrameLog | None = None, gate: Gate | None = None,
                 stats: dict[str, int] | None = None) -> None:
        self.identity = identity
        self.url = url
        self.handlers = handlers
        self.options = options
        self.spawn = spawn
        self.boot_payload = boot_payload
        self.on_boot = on_boot  # every boot answer: (status, interval); booted is set if Accepted
        self.after_boot = after_boot
        self.heartbeat_interval = heartbeat_interval
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_connect_failed = on_connect_failed
        self.frame_log = frame_log
        self.gate = gate
        self.stats = stats if stats is not None else {}
        for key in ("calls", "call_errors", "connects"):
            self.stats.setdefault(key, 0)
        self.link: Link | None = None
        self.booted = asyncio.Event()
        self.hold_until = 0.0  # time.monotonic() before which no connection is tried
        self._stop = asyncio.Event()
        self._interval_changed = asyncio.Event()
        self._reconnect_now = False

    @property
    def connected(self) -> bool:
        return self.link is not None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until :meth:`stop`: reconnect with exponential backoff."""
        opts = self.options
        backoff = 1.0
        while not self._stop.is_set():
            wait = self.hold_until - time.monotonic()
            if wait > 0:
                await self.sleep(wait)
                continue
            try:
                sock = None if opts.outbound is None else await opts.outbound.connect(
                    self.url, WEBSOCKET_SCHEMES, "csms_url")
                async with websockets.connect(
                    self.url, sock=sock, subprotocols=[opts.version.subprotocol],  # type: ignore[list-item]
                    additional_headers=opts.headers(), open_timeout=opts.open_timeout,
                    close_timeout=opts.close_timeout, ping_interval=opts.ping_interval,
                    compression=None, extensions=_deflate() if opts.compression == "deflate" else None,
                    max_queue=opts.max_queue,
                ) as ws:
                    backoff = 1.0
                    self.stats["connects"] += 1
                    await self._session(ws)
            except (OSError, WebSocketException, TimeoutError) as exc:  # OutboundRefused is an OSError
                self.on_connect_failed(exc)
            finally:
                self.link = None
                self.booted.clear()
            if self._stop.is_set():
                break
            if self._reconnect_now:
                self._reconnect_now = False
                continue
            await self.sleep(backoff * (0.5 + opts.jitter()) if opts.jitter else backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the client is stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _session(self, ws: Any) -> None:
        link = Link(ws, self.options.version, self.handlers, self.spawn, self.identity,
                    self.frame_log, self.gate)
        reader = asyncio.ensure_future(link.read())
        self.link = link
        self.on_connected()
        try:
            await booted_session(reader, self._boot, self._heartbeats, self.after_boot, self.spawn,
                                 (ConnectionClosed, Offline, TimeoutError, CallRefused))
        finally:
            link.lost()
            self.link = None
            self.booted.clear()
            self.on_disconnected(ws.close_code)

    async def _boot(self) -> None:
        """BootNotification until Accepted; Pending and Rejected wait the interval answered."""
        while True:
            result = await self.call("BootNotification", self.boot_payload(), booting=True)
            status, interval = result["status"], result["interval"]
            if status == "Accepted":
                self.booted.set()
                self.on_boot(status, interval)
                return
            self.on_boot(status, interval)
            await asyncio.sleep(interval or 10)

    async def _heartbeats(self) -> None:
        while True:
            self._interval_changed.clear()
            try:  # a new interval restarts the wait: it applies now, not after the old one ran out
                await asyncio.wait_for(self._interval_changed.wait(), max(self.heartbeat_interval(), 1))
                continue
            except TimeoutError:
                pass
            with contextlib.suppress(*CALL_FAILED):
                await self.call("Heartbeat", {})

    def interval_changed(self) -> None:
        """The heartbeat interval was set: the next heartbeat is due that long from now."""
        self._interval_changed.set()

    # -- calls ----------------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any], booting: bool = False) -> dict[str, Any]:
        """Send a call (camelCase payload) and return the central system's answer payload.

        Raises :class:`Offline` without a (booted) connection or when it drops meanwhile,
        :class:`CallRefused` for a CALLERROR and TimeoutError when no answer comes in time.
        """
        link = self.link
        if link is None or (not booting and not self.booted.is_set()):
            raise Offline(self.identity)
        self.stats["calls"] += 1
        started = time.monotonic()
        try:
            answer = await link.call(action, payload, self.options.response_timeout)
        except CallRefused:
            _answered(started)
            self.stats["call_errors"] += 1
            raise
        except TimeoutError:
            ANSWERED[-1] += 1  # no answer in time: slower than any bucket
            raise
        _answered(started)
        return answer

    async def send_raw(self, frame: str) -> None:
        """Send any text as it is (a simulator's malformed frames)."""
        link = self.link
        if link is None:
            raise Offline(self.identity)
        await link.send(frame)

    # -- the socket -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Close the socket and stop reconnecting (:meth:`run` returns)."""
        self._stop.set()
        if self.link is not None:
            self.spawn(self.link.close(self.options.close_reason))

    async def close(self) -> None:
        """:meth:`stop`, waiting for the socket to close."""
        self._stop.set()
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close(self.options.close_reason)

    def reconnect(self, reason: str) -> None:
        """Close the socket and connect again at once (a reset, a reboot)."""
        self._reconnect_now = True
        if self.link is not None:
            self.spawn(self.link.close(reason))

    def drop(self) -> None:
        """Lose the network: the socket dies without a closing handshake, and from this moment
        the charge point is offline (its session notices the dead socket a little later)."""
        if self.link is not None:
            transport = getattr(self.link.ws, "transport", None)
            if transport is not None:
                transport.abort()
            self.link = None
