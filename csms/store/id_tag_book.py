"""The id tags' rows, kept in memory once read: Authorize and a start judge a tag without a query.

Why: under a 10,000-station fleet every Authorize took a reader connection from the pool (and
often a new one, with its own thread) for one indexed read, and every StartTransaction spent one
of its awaited statements on it; each crossing to the driver thread waits on a busy event loop.
Tags change rarely and only through :class:`csms.services.id_tags.IdTagService`, which forgets
a tag here before its change is applied (for what the writer runs after it in the same batch) and
again once it is committed (for a read that began before), and tells the other nodes, which forget
it too (``id_tag_changed`` on the event bus). A read that overlapped a forget is not kept: a
reader's snapshot may predate the commit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import IdTag, table

_TAGS = table(IdTag)
MAX_TAGS = 200_000  # rows kept (a miss costs one read)


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


class TagBook:
    """Id tag rows by tag (None: no such tag), least recently used first out."""

    def __init__(self, size: int = MAX_TAGS) -> None:
        self._rows: OrderedDict[str, TagRow | None] = OrderedDict()
        self._size = size
        self._generation = 0  # bumped by every forget: a read that saw one is not kept

    async def row(self, conn: AsyncConnection, id_tag: str) -> TagRow | None:
        rows = self._rows
        if id_tag in rows:
            rows.move_to_end(id_tag)
            return rows[id_tag]
        generation = self._generation
        row = await read_tag(conn, id_tag)
        if generation == self._generation:
            rows[id_tag] = row
            if len(rows) > self._size:
                rows.popitem(last=False)
        return row

    def cached(self, id_tag: str) -> TagRow | None | bool:
        """The kept row (None: no such tag), or False when it is not kept."""
        row = self._rows.get(id_tag, False)
        if row is not False:
            self._rows.move_to_end(id_tag)
        return row

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
