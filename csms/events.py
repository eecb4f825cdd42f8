"""In-process event bus: connects, disconnects, status changes, transactions, command results.

Subscribers (the SSE stream of the API, tests) each get a bounded queue; a slow subscriber loses
its oldest events rather than slowing the central system down. A broker-backed bus for several
nodes implements the same two methods.

Watchers of the local events (:meth:`EventBus.watch_local`: the webhooks, the lock events derived
from connections) see each event once in a whole cluster, at the node where it happened; they
are called in the publisher's stack, so they only take note (a queue) and never block or raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)
Watcher = Callable[[dict[str, Any]], None]
Wanted = tuple[frozenset[str] | None, frozenset[str] | None]  # a subscriber's event types, charge points


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        # each queue with what it keeps: the event types (None: all) and one charge point (None:
        # all). Filtered here, not by the reader: a dashboard watching statuses of 10,000 charge
        # points must not have its queue filled, and its statuses pushed out, by meter values
        self._subscribers: dict[asyncio.Queue[dict[str, Any] | None], Wanted] = {}
        # told of every event another node published (a cache here must not outlive a change
        # made there): see :meth:`remote`
        self._remote_watchers: list[Watcher] = []
        self._local_watchers: list[Watcher] = []  # see watch_local
        self._queue_size = queue_size
        self.closed = False

    def publish(self, kind: str, charge_point_id: str | None = None, **data: Any) -> None:
        if self._subscribers or self._local_watchers:
            self.published(self.event(kind, charge_point_id, **data))

    def published(self, event: dict[str, Any]) -> None:
        """Hand an event published at this node to its local watchers, then to its subscribers."""
        for watcher in self._local_watchers:
            try:
                watcher(event)
            except Exception:  # a watcher's bug must not fail whatever published the event
                log.exception("event watcher %r failed on %s", watcher, event.get("type"))
        if self._subscribers:
            self.deliver(event)

    @staticmethod
    def event(kind: str, charge_point_id: str | None, **data: Any) -> dict[str, Any]:
        return {"type": kind, "charge_point_id": charge_point_id,
                "ts": datetime.now(UTC).isoformat(), **data}

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand ``event`` to this process's subscribers (a broker-backed bus calls this for events
        published on other nodes)."""
        for queue, (kinds, charge_points) in self._subscribers.items():
            if kinds is not None and event["type"] not in kinds:
                continue
            if charge_points is not None and event["charge_point_id"] not in charge_points:
                continue
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def watch_remote(self, watcher: Watcher) -> None:
        """Call ``watcher`` with each event published on another node."""
        self._remote_watchers.append(watcher)

    def watch_local(self, watcher: Watcher) -> None:
        """Call ``watcher`` with each event published at this node (in a cluster, every event
        reaches the watchers of exactly one node: the one where it was published)."""
        self._local_watchers.append(watcher)

    def remote(self, event: dict[str, Any]) -> None:
        """An event another node published (a broker-backed bus calls this)."""
        for watcher in self._remote_watchers:
            watcher(event)
        if self._subscribers:
            self.deliver(event)

    def close(self) -> None:
        """End every subscription (each queue gets ``None``): the process is shutting down."""
        self.closed = True
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self, kinds: frozenset[str] | None = None,
                        charge_points: frozenset[str] | None = None
                        ) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of events (only those of ``kinds``, of ``charge_points``, where given);
        ``None`` means the bus closed."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        if self.closed:
            queue.put_nowait(None)
        self._subscribers[queue] = (kinds, charge_points)
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)
