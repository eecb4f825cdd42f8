"""Several CSMS nodes behind one address: connection registry, command routing and events over Redis.

Who holds which charge point lives in Redis as ``cb:cp:{id} -> node`` with an expiry the holding
node keeps refreshing, so the entries of a node that dies vanish within ``ttl`` seconds. Each node
reads its own channel (calls forwarded to its charge points, outcomes of calls it forwarded,
takeovers) and one channel of events, so an SSE stream at any node sees every node's events.
Without ``CHARGEBAY_REDIS_URL`` none of this runs: :class:`~csms.routing.LocalRouter` and the
in-process :class:`~csms.events.EventBus` do the same job in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.tasks import Background, cancel_until_done
from csms.events import EventBus
from csms.metrics import CONNECTED
from csms.outcomes import Outcome
from csms.routing import LocalRouter

if TYPE_CHECKING:
    from csms.connection import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")
EVENTS = "cb:events"
CHUNK = 1000  # keys per registry round trip
MAX_BACKLOG = 10_000  # events kept for the broker while it is unreachable

# Refresh our entries; report the ones another node holds (we missed its takeover message).
_REFRESH = """
local others = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if (not holder) or holder == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    table.insert(others, i)
  end
end
return others
"""
# Delete an entry only if it still names us (a newer holder's entry stays).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def cp_key(charge_point_id: str) -> str:
    return f"cb:cp:{charge_point_id}"


def node_channel(node_id: str) -> str:
    return f"cb:node:{node_id}"


def alive_key(node_id: str) -> str:
    return f"cb:alive:{node_id}"


class RedisLink:
    """One node's Redis client and its one subscribing connection, dispatching by channel."""

    def __init__(self, url: str, node_id: str) -> None:
        self.node_id = node_id
        self.redis: Redis = Redis.from_url(url, health_check_interval=10)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._listener: asyncio.Task[None] | None = None

    def on(self, channel: str, handler: Callable[[dict[str, Any]], None]) -> None:
        self._handlers[channel] = handler

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Publish ``message``; the number of nodes that received it."""
        return int(await self.redis.publish(channel, orjson.dumps(message)))

    async def start(self) -> None:
        await self.redis.ping()  # fail at start, with the URL in the error, not later
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*self._handlers)
        self._listener = asyncio.create_task(self._listen(pubsub), name="redis-listener")

    async def _listen(self, pubsub: Any) -> None:
        delay = 0.1
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
                delay = 0.1
            except (RedisError, OSError) as exc:
                # redis-py reconnects and subscribes again on the next read
                log.warning("redis subscription lost (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            try:
                self._handlers[channel](orjson.loads(message["data"]))
            except Exception:
                log.exception("bad message on %s dropped", channel)

    async def close(self) -> None:
        if self._listener is not None:
            await cancel_until_done(self._listener)
        await self.redis.aclose()


class Pump(Generic[T]):
    """Items sent to Redis in order, up to CHUNK per round trip, by one task: a burst (a connect
    storm, a wave of events) costs a handful of pipelines, and a Redis outage delays items
    without losing them (beyond ``limit``, the oldest go)."""

    def __init__(self, name: str, send: Callable[[list[T]], Awaitable[None]],
                 limit: int | None = None) -> None:
        self.name = name
        self._send = send
        self._limit = limit
        self._items: list[T] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def put(self, item: T) -> None:
        if self._limit is not None and len(self._items) >= self._limit:
            del self._items[0]
        self._items.append(item)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._items[:CHUNK]
            try:
                await self._send(batch)
            except (RedisError, OSError) as exc:
                log.warning("%s failed (%s); retrying", self.name, exc)
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            del self._items[:len(batch)]
            if self._items:
                self._wake.set()
            else:
                self._idle.set()

    async def close(self, drain: float = 0.0) -> None:
        """Stop, after up to ``drain`` seconds for what is queued to go out."""
        if drain:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain):
                    await self._idle.wait()
        if self._task is not None:
            await cancel_until_done(self._task)


class RedisRouter(LocalRouter):
    """Sockets held here are routed locally; calls to others go to their node's channel."""

    def __init__(self, link: RedisLink, ttl: float = 30.0, grace: float = 2.0) -> None:
        super().__init__()
        self._link = link
        self.node_id = link.node_id
        self.ttl = ttl
        self._grace = grace  # on top of a call's timeout, for the two hops through Redis
        # claims (True) and releases (False) of charge points, written in order
        self._registry: Pump[tuple[bool, str]] = Pump("registry update", self._write_registry)
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._background = Background(f"node {self.node_id}", (RedisError, OSError), log)
        self._scheduler = AsyncIOScheduler()
        self._refresh_script = link.redis.register_script(_REFRESH)
        self._release_script = link.redis.register_script(_RELEASE)
        link.on(node_channel(self.node_id), self._on_message)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self._link.redis.set(alive_key(self.node_id), "1", ex=int(self.ttl))
        self._registry.start()
        self._scheduler.add_job(self.refresh, "interval", seconds=self.ttl / 3,
                                max_instances=1, coalesce=True)
        self._scheduler.start()

    async def close(self) -> None:
        """Write the last releases (sockets were closed before), then say this node is gone."""
        self._scheduler.shutdown(wait=False)
        await self._registry.close(drain=5.0)
        await self._background.close()
        with contextlib.suppress(RedisError, OSError):
            await self._link.redis.delete(alive_key(self.node_id))

    # -- the registry ----------------------------------------------------------------------
    def attach(self, conn: Connection) -> Connection | None:
        old = super().attach(conn)
        self._registry.put((True, conn.charge_point_id))
        return old

    def detach(self, conn: Connection) -> bool:
        if not super().detach(conn):
            return False
        self._registry.put((False, conn.charge_point_id))
        return True

    async def _write_registry(self, ops: list[tuple[bool, str]]) -> None:
        """Claims and releases in one pipeline; a claim that took an entry from another node
        tells that node to close its stale socket."""
        async with self._link.redis.pipeline(transaction=False) as pipe:
            for claim, cp in ops:
                if claim:
                    pipe.set(cp_key(cp), self.node_id, ex=int(self.ttl), get=True)
                else:
                    await self._release_script(keys=[cp_key(cp)], args=[self.node_id], client=pipe)
            results = await pipe.execute()
        for (claim, cp), previous in zip(ops, results, strict=True):
            if claim and previous is not None and previous.decode() != self.node_id:
                self._background.spawn(self._link.publish(
                    node_channel(previous.decode()), {"t": "takeover", "cp": cp, "by": self.node_id}))

    async def refresh(self) -> None:
        """Keep this node's entries and liveness from expiring; close sockets another node took."""
        redis = self._link.redis
        try:
            await redis.set(alive_key(self.node_id), "1", ex=int(self.ttl))
            ids = list(self._connections)
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                others = await self._refresh_script(keys=[cp_key(cp) for cp in chunk],
                                                    args=[self.node_id, int(self.ttl)])
                for index in others:
                    self._taken_over(chunk[int(index) - 1], "another node")
        except (RedisError, OSError) as exc:
            log.warning("registry refresh failed: %s", exc)

    async def live_nodes(self) -> set[str] | None:
        keys = [k.decode() async for k in self._link.redis.scan_iter(match=alive_key("*"))]
        return {k.removeprefix(alive_key("")) for k in keys}

    def _taken_over(self, charge_point_id: str, by: str) -> None:
        conn = self._connections.pop(charge_point_id, None)
        if conn is None:
            return
        CONNECTED.set(len(self._connections))
        log.warning("%s reconnected at node %s; closing its stale socket here", charge_point_id, by)
        conn.replace(f"replaced by a newer connection at node {by}")

    # -- routing ---------------------------------------------------------------------------
    async def is_online(self, charge_point_id: str) -> bool:
        if charge_point_id in self._connections:
            return True
        return bool(await self._link.redis.exists(cp_key(charge_point_id)))

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float) -> Outcome:
        if charge_point_id in self._connections:
            return await super().send(charge_point_id, action, payload, timeout)
        try:
            holder = await self._link.redis.get(cp_key(charge_point_id))
        except (RedisError, OSError) as exc:
            return Outcome("offline", description=f"routing unavailable: {exc}")
        node = holder.decode() if isinstance(holder, bytes) else holder
        if node is None or node == self.node_id:
            return Outcome("offline", description=f"{charge_point_id} is not connected")
        request = uuid.uuid4().hex
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        try:
            received = await self._link.publish(node_channel(node), {
                "t": "call", "id": request, "from": self.node_id, "cp": charge_point_id,
                "action": action, "payload": payload, "timeout": timeout})
            if not received:
                return Outcome("offline", description=f"{charge_point_id} was held by node {node}, "
                                                      "which is not running")
            async with asyncio.timeout(timeout + self._grace):
                return await future
        except TimeoutError:
            return Outcome("timeout", description=f"no answer through node {node} within {timeout:g} s")
        except (RedisError, OSError) as exc:
            return Outcome("offline", description=f"routing unavailable: {exc}")
        finally:
            self._waiting.pop(request, None)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "call":
            self._background.spawn(self._serve_call(message))
        elif kind == "outcome":
            future = self._waiting.get(message["id"])
            if future is not None and not future.done():
                future.set_result(Outcome.from_dict(message["outcome"]))
        elif kind == "takeover" and message["by"] != self.node_id:
            self._taken_over(message["cp"], message["by"])

    async def _serve_call(self, message: dict[str, Any]) -> None:
        """A call another node forwarded to a charge point held here."""
        outcome = await super().send(message["cp"], message["action"], message["payload"],
                                     float(message["timeout"]))
        await self._link.publish(node_channel(message["from"]),
                                 {"t": "outcome", "id": message["id"], "outcome": outcome.to_dict()})



class RedisEventBus(EventBus):
    """Events of every node to every node's subscribers (published in batches)."""

    def __init__(self, link: RedisLink, queue_size: int = 1000) -> None:
        super().__init__(queue_size)
        self._link = link
        self._outgoing: Pump[bytes] = Pump("event publish", self._publish, limit=MAX_BACKLOG)
        link.on(EVENTS, self._on_remote)

    def publish(self, kind: str, charge_point_id: str | None = None, **data: Any) -> None:
        event = self.event(kind, charge_point_id, **data)
        self.published(event)
        self._outgoing.put(orjson.dumps({"node": self._link.node_id, "event": event}))

    def _on_remote(self, message: dict[str, Any]) -> None:
        if message["node"] != self._link.node_id:
            self.remote(message["event"])

    def start(self) -> None:
        self._outgoing.start()

    async def _publish(self, batch: list[bytes]) -> None:
        async with self._link.redis.pipeline(transaction=False) as pipe:
            for data in batch:
                pipe.publish(EVENTS, data)
            await pipe.execute()

    async def stop(self) -> None:
        await self._outgoing.close()


class Cluster:
    """The Redis-backed router and event bus of one node, started and stopped together."""

    def __init__(self, url: str, node_id: str, ttl: float = 30.0) -> None:
        self.link = RedisLink(url, node_id)
        self.router = RedisRouter(self.link, ttl)
        self.events = RedisEventBus(self.link)

    async def start(self) -> None:
        await self.link.start()
        await self.router.start()
        self.events.start()
        log.info("cluster node %s joined through Redis", self.link.node_id)

    async def close(self) -> None:
        await self.router.close()
        await self.events.stop()
        await self.link.close()
