"""The id tags' rows, kept in memory once read: Authorize and a start judge a tag without a query.

Why: under a 10,000-station fleet every Authorize took a reader connection from the pool (and
often a new one, with its own thread) for one indexed read, and every StartTransaction spent one
of its awaited statements on it; each crossing to the driver thread waits on a busy event loop.
Tags change rarely and only through :class:`csms.services.id_tags.IdTagService`, which forgets
a tag here before its change is applied (for what the writer runs after it in the same batch) and
again once it is committed (for a read that began before), and tells the other nodes, which forget
it too (``id_tag_changed`` on the event bus). A read that overlapped a forget is not kept: a
reader's snapshot may predate the commit. Pub/sub loses what is sent while a node's subscription
is down, so a kept row is also read again after :data:`KEEP_S`: at another node a change applies
at once as a rule, and within that bound at worst.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.store.models import IdTag, table

_TAGS = table(IdTag)
MAX_TAGS = 200_000  # rows kept (a miss costs one read)
KEEP_S = 30.0  # a kept row is read again after this: what bounds a change whose message to this
# node was lost (Redis pub/sub delivers nothing sent while a subscription is down)


@dataclass(frozen=True, slots=True)
class TagRow:
    status: str
    expiry_date: datetime | None
    parent_id_tag: str | None
    max_concurrent_tx: int | None


async def read_tag(conn: AsyncConnection, id_tag: str) -> TagRow | None:
    found = (await conn.execute(select(
        _TAGS.c.status, _TAGS.c.expiry_date, _TAGS.c.parent_id_tag, _TAGS.c.max_concurrent_tx,
    ).where(_TAGS.c.id_tag == id_tag))).first()
    return None if found is None else TagRow(*found)


async def read_tags(conn: AsyncConnection, id_tags: Sequence[str]) -> dict[str, TagRow]:
    """The rows of those of ``id_tags`` that exist, read 500 at a time (bounded parameters)."""
    found: dict[str, TagRow] = {}
    for first in range(0, len(id_tags), 500):
        for tag, *columns in (await conn.execute(select(
                _TAGS.c.id_tag, _TAGS.c.status, _TAGS.c.expiry_date, _TAGS.c.parent_id_tag,
                _TAGS.c.max_concurrent_tx).where(_TAGS.c.id_tag.in_(id_tags[first:first + 500])))):
            found[tag] = TagRow(*columns)
    return found


class TagBook:
    """Id tag rows by tag (None: no such tag), least recently used first out."""

    def __init__(self, engine: AsyncEngine, size: int = MAX_TAGS, keep_s: float = KEEP_S) -> None:
        self._engine = engine  # a miss outside the writer reads through it
        self._rows: OrderedDict[str, tuple[float, TagRow | None]] = OrderedDict()  # tag -> (read at, row)
        self._keep_s = keep_s
        self._size = size
        self._generation = 0  # bumped by every forget: a read that saw one is not kept

    async def row(self, id_tag: str, conn: AsyncConnection | None = None) -> TagRow | None:
        """The tag's row (None: no such tag); a miss reads it on ``conn`` (the writer's, inside an
        operation) or on a reader connection of its own."""
        kept = self._rows.get(id_tag)
        if kept is not None and time.monotonic() - kept[0] <= self._keep_s:
            self._rows.move_to_end(id_tag)
            return kept[1]
        generation = self._generation
        if conn is not None:
            row = await read_tag(conn, id_tag)
        else:
            async with self._engine.connect() as own:
                row = await read_tag(own, id_tag)
        if generation == self._generation:
            self._keep(id_tag, row)
        return row

    async def rows(self, id_tags: Iterable[str], conn: AsyncConnection) -> dict[str, TagRow | None]:
        """:meth:`row` of many tags; the misses are read in one query on ``conn`` (a batch of
        StartTransactions inside the writer asks once, not once per tag)."""
        found: dict[str, TagRow | None] = {}
        missing = []
        now = time.monotonic()
        for id_tag in dict.fromkeys(id_tags):
            kept = self._rows.get(id_tag)
            if kept is not None and now - kept[0] <= self._keep_s:
                self._rows.move_to_end(id_tag)
                found[id_tag] = kept[1]
            else:
                missing.append(id_tag)
        generation = self._generation
        read = await read_tags(conn, missing)
        for id_tag in missing:
            found[id_tag] = read.get(id_tag)
            if generation == self._generation:
                self._keep(id_tag, found[id_tag])
        return found

    def _keep(self, id_tag: str, row: TagRow | None) -> None:
        rows = self._rows
        rows[id_tag] = (time.monotonic(), row)
        if len(rows) > self._size:
            rows.popitem(last=False)

    def forget(self, id_tag: str | None = None) -> None:
        """Drop one tag (None: every tag)."""
        self._generation += 1
        if id_tag is None:
            self._rows.clear()
        else:
            self._rows.pop(id_tag, None)

    def changed_elsewhere(self, event: dict[str, Any]) -> None:
        """Another node changed a tag (an event-bus watcher)."""
        if event.get("type") == "id_tag_changed":
            tag = event.get("id_tag")
            self.forget(tag if isinstance(tag, str) else None)
