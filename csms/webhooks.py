"""Webhooks at work: each event of the central system's bus (what ``GET /api/v1/events`` streams)
that a webhook's filter takes is POSTed to its URL, signed, retried with backoff, and every
attempt lands in its delivery log. The webhooks themselves are kept by
:class:`csms.services.webhooks.WebhookService`.

Never in the central system's way: publishing an event only puts it in a bounded queue (full:
the event is dropped for the webhooks, and logged). One task hands each event to the *lane* of
every webhook that wants it; a lane is a bounded queue of its own worked by one task, so a slow
or dead receiver backs up only its own lane (past :data:`LANE_SIZE` its oldest waiting delivery
is dropped, a ``dropped`` row in its log) and the others go on. A lane delivers in order.

Once per event in a cluster: the dispatcher watches only the events published at its own node
(:meth:`csms.events.EventBus.watch_local`); every node runs one, over the same webhooks.

Every attempt goes through the outbound guard again (:mod:`common.outbound`: the URL was judged
when the webhook was created, its name may resolve elsewhere now) and to an address of that
check (:func:`csms.callbacks.post_checked`); redirects are not followed.

What a receiver gets: ``POST`` of a JSON body ``{"id", "webhook_id", "attempt", "sent_at",
"event"}`` (``id`` the delivery's, the same in each of its attempts; ``event`` as on the event
stream) with ``X-Chargebay-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body under the
webhook's secret, and ``X-Chargebay-Event``, ``X-Chargebay-Delivery``, ``X-Chargebay-Timestamp``
(``sent_at`` in Unix seconds). Any 2xx answer is delivered; anything else, no answer within
``CHARGEBAY_WEBHOOK_TIMEOUT`` or no connection is retried after ``CHARGEBAY_WEBHOOK_BACKOFF``
seconds, twice that, ... (at most :data:`MAX_DELAY_S`) until ``CHARGEBAY_WEBHOOK_ATTEMPTS`` have
been made. A retry still waiting when the process stops is not made (the log shows the attempts
so far).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.outbound import WEB_SCHEMES, OutboundPolicy, OutboundRefused
from common.version import __version__
from csms.callbacks import post_checked
from csms.events import EventBus
from csms.store.access import Webhook, WebhookDelivery
from csms.store.models import table
from csms.store.writer import Writer
from csms.timeutil import iso

log = logging.getLogger(__name__)

_HOOKS = table(Webhook)
_LOG = table(WebhookDelivery)
FIELD = "url"
CHANGED = "webhook_changed"  # published when a webhook is created or deleted (every node reloads)
QUEUE_SIZE = 10_000  # events waiting to be handed to the lanes
LANE_SIZE = 1_000  # deliveries waiting for one webhook
MAX_DELAY_S = 300.0
RELOAD_S = 30.0  # the webhooks are read again at least this often
KEEP_LOG = 1_000  # delivery log rows kept per webhook (the newest)
PRUNE_EVERY = 100  # rows written for a webhook between two prunings of its log
SIGNATURE = "X-Chargebay-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of ``body`` in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def takes(patterns: tuple[str, ...], kind: str) -> bool:
    """Does a filter take an event type? ``*`` takes all, ``lock.*`` every ``lock.`` type."""
    return any(p == kind or p == "*" or (p.endswith(".*") and kind.startswith(p[:-1])) for p in patterns)


@dataclass(frozen=True)
class Hook:
    id: int
    url: str
    events: tuple[str, ...]
    secret: str


@dataclass(frozen=True)
class Retry:
    """How often and how patiently an event is delivered (the CHARGEBAY_WEBHOOK_* settings)."""

    attempts: int = 5
    backoff: float = 2.0
    timeout: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (from 1)."""
        return float(min(self.backoff * 2 ** (attempt - 1), MAX_DELAY_S))


class Lane:
    """One webhook's deliveries: a bounded queue and the task that works it, in order."""

    def __init__(self, hook: Hook, deliver: Callable[[Hook, dict[str, Any]], Awaitable[None]],
                 dropped: Callable[[Hook, dict[str, Any]], None], size: int) -> None:
        self.hook = hook
        self._deliver = deliver
        self._dropped = dropped
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(size)
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"webhook-{hook.id}")

    def put(self, event: dict[str, Any]) -> None:
        if self.queue.full():  # the receiver cannot keep up: its oldest waiting delivery goes
            self._dropped(self.hook, self.queue.get_nowait())
        self.queue.put_nowait(event)

    async def _run(self) -> None:
        while True:
            await self._deliver(self.hook, await self.queue.get())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class Dispatcher:
    """Hands the events published at this node to the webhooks that want them."""

    def __init__(self, engine: AsyncEngine, writer: Writer, events: EventBus, policy: OutboundPolicy,
                 retry: Retry, queue_size: int = QUEUE_SIZE, lane_size: int = LANE_SIZE) -> None:
        self._engine = engine
        self._writer = writer
        self.policy = policy
        self.retry = retry
        self.lane_size = lane_size
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._hooks: dict[int, Hook] | None = None  # None: to be read
        self._loaded_at = 0.0
        self._generation = 0  # bumped by forget(): a read begun before it is stale at once
        self._lanes: dict[int, Lane] = {}
        self._written: dict[int, int] = {}  # log rows written per webhook since its last pruning
        self._router: asyncio.Task[None] | None = None
        self._closed = False
        self._last_full = 0.0
        events.watch_local(self._take)
        events.watch_remote(self._remote)

    def start(self) -> None:
        self._router = asyncio.get_running_loop().create_task(self._route(), name="webhooks")

    async def close(self) -> None:
        """Stop delivering (what waits is dropped; an attempt under way is cut off)."""
        self._closed = True
        if self._router is not None:
            self._router.cancel()
            await asyncio.gather(self._router, return_exceptions=True)
        for lane in list(self._lanes.values()):
            await lane.stop()
        self._lanes.clear()

    def forget(self) -> None:
        """The webhooks changed (created or deleted here, or at another node): read them again."""
        self._hooks = None
        self._generation += 1

    # -- taking events (in the publisher's stack: note and return) --------------------------------
    def _take(self, event: dict[str, Any]) -> None:
        if self._closed:
            return
        if event["type"] == CHANGED:
            self.forget()
        elif self._hooks == {} and time.monotonic() - self._loaded_at < RELOAD_S:
            return  # no webhook at all: nothing to hand on
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            now = time.monotonic()
            if now - self._last_full > 60:
                self._last_full = now
                log.warning("webhooks: %d events waiting; %s dropped (and others, this minute)",
                            self._queue.qsize(), event["type"])

    def _remote(self, event: dict[str, Any]) -> None:
        if event["type"] == CHANGED:
            self.forget()

    async def _route(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                hooks = await self._current()
            except Exception:  # the database away: this event is lost for the webhooks
                log.exception("webhooks: could not read the webhooks; %s not delivered", event["type"])
                continue
            for hook in hooks.values():
                if takes(hook.events, event["type"]):
                    lane = self._lanes.get(hook.id)
                    if lane is None:
                        lane = self._lanes[hook.id] = Lane(hook, self._deliver, self._dropped,
                                                           self.lane_size)
                    lane.put(event)

    async def _current(self) -> dict[int, Hook]:
        if self._hooks is not None and time.monotonic() - self._loaded_at < RELOAD_S:
            return self._hooks
        generation = self._generation
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(_HOOKS.c.id, _HOOKS.c.url, _HOOKS.c.events,
                                              _HOOKS.c.secret))).all()
        hooks = {r.id: Hook(r.id, r.url, tuple(orjson.loads(r.events)), r.secret) for r in rows}
        for gone in [i for i in self._lanes if i not in hooks]:  # deleted: its waiting deliveries too
            await self._lanes.pop(gone).stop()
            self._written.pop(gone, None)
        self._hooks = hooks
        self._loaded_at = time.monotonic() if generation == self._generation else 0.0
        return hooks

    # -- delivering --------------------------------------------------------------------------------
    async def _deliver(self, hook: Hook, event: dict[str, Any]) -> None:
        """Every attempt at one event, logged; never raises (the lane goes on)."""
        delivery = uuid.uuid4().hex
        for attempt in range(1, self.retry.attempts + 1):
            status, code, error, took = await self._attempt(hook, event, delivery, attempt)
            self._log(hook, event, delivery, attempt, status, code, error, took)
            if status == "delivered":
                return
            if attempt < self.retry.attempts:
                await asyncio.sleep(self.retry.delay(attempt))
        log.warning("webhook %d: %s (delivery %s) not delivered after %d attempts: %s", hook.id,
                    event["type"], delivery, self.retry.attempts, error)

    async def _attempt(self, hook: Hook, event: dict[str, Any], delivery: str,
                       attempt: int) -> tuple[str, int | None, str | None, int]:
        """(delivered | failed | refused, the HTTP status, why not, milliseconds taken)."""
        sent = datetime.now(UTC)
        body = orjson.dumps({"id": delivery, "webhook_id": hook.id, "attempt": attempt,
                             "sent_at": iso(sent), "event": event})
        headers = {"User-Agent": f"chargebay/{__version__}", "X-Chargebay-Event": event["type"],
                   "X-Chargebay-Delivery": delivery, "X-Chargebay-Timestamp": str(int(sent.timestamp())),
                   SIGNATURE: sign(hook.secret, body)}
        started = time.monotonic()
        code: int | None = None
        try:
            target = await self.policy.check(hook.url, WEB_SCHEMES, FIELD)
            code, error = await post_checked(target, body, headers, self.retry.timeout)
            status = "failed" if error else "delivered"
        except OutboundRefused as exc:
            status, error = "refused", str(exc)
        except Exception as exc:  # a receiver never takes anything down with it
            log.exception("webhook %d: unexpected error delivering to %s", hook.id, hook.url)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        return status, code, error, int((time.monotonic() - started) * 1000)

    def _dropped(self, hook: Hook, event: dict[str, Any]) -> None:
        self._log(hook, event, uuid.uuid4().hex, 0, "dropped", None,
                  f"{self.lane_size} deliveries were waiting for this receiver", None)

    def _log(self, hook: Hook, event: dict[str, Any], delivery: str, attempt: int, status: str,
             code: int | None, error: str | None, took: int | None) -> None:
        row = {"webhook_id": hook.id, "delivery_id": delivery, "event_type": event["type"][:64],
               "event": orjson.dumps(event).decode(), "attempt": attempt, "status": status,
               "status_code": code, "error": error, "duration_ms": took, "at": datetime.now(UTC)}
        try:
            self._writer.insert(_LOG, row)
            written = self._written[hook.id] = self._written.get(hook.id, 0) + 1
            if written >= PRUNE_EVERY:
                self._written[hook.id] = 0
                self._writer.submit(lambda conn: _prune(conn, hook.id))
        except RuntimeError:  # the store closed (shutting down): the process log has it
            log.info("webhook %d: %s attempt %d %s, not recorded: the store is closed", hook.id,
                     event["type"], attempt, status)


async def _prune(conn: AsyncConnection, webhook_id: int) -> None:
    """Keep the newest :data:`KEEP_LOG` rows of a webhook's delivery log."""
    mine = _LOG.c.webhook_id == webhook_id
    oldest_kept = (await conn.execute(select(_LOG.c.id).where(mine).order_by(_LOG.c.id.desc())
                                      .offset(KEEP_LOG - 1).limit(1))).scalar()
    if oldest_kept is not None:
        await conn.execute(delete(_LOG).where(mine, _LOG.c.id < oldest_kept))
