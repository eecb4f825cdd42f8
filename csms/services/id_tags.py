"""Changes to id tags (RFID cards, app tokens), written through the store writer.

StartTransaction reads id tags inside the writer's own transactions (in queue order), and every
verdict reads them through the central system's :class:`TagBook`, which each change here makes
forget the tag before it is applied and once it is committed, at this node and (over the event
bus) at the others: a tag created, blocked or deleted here applies from the next frame handled
after it here, and at another node once the bus tells it (within ``KEEP_S`` if that message is lost).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Executable, delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.events import EventBus
from csms.services.errors import Conflict, NotFound
from csms.store.id_tag_book import TagBook
from csms.store.models import IdTag, table
from csms.store.writer import Writer
from csms.timeutil import now_utc, utc

_TAGS = table(IdTag)


def not_found(id_tag: str) -> NotFound:
    return NotFound("IdTagNotFound", f"no id tag {id_tag!r}")


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """Column values with the expiry as aware UTC."""
    if "expiry_date" in values:
        expiry: datetime | None = values["expiry_date"]
        values = {**values, "expiry_date": utc(expiry)}
    return values


class IdTagService:
    """Writes of id tags."""

    def __init__(self, writer: Writer, book: TagBook, events: EventBus) -> None:
        self._writer = writer
        self._book = book
        self._events = events

    async def _change(self, id_tag: str, stmt: Executable) -> int:
        """Run ``stmt`` in queue order with ``id_tag`` forgotten around it (see the module);
        the number of rows it changed."""
        book = self._book

        async def op(conn: AsyncConnection) -> int:
            book.forget(id_tag)  # what the writer judges after it in this batch reads it afresh
            return int((await conn.execute(stmt)).rowcount)

        try:
            return await self._writer.run(op)
        finally:
            book.forget(id_tag)  # a read that began before the commit is not kept
            self._events.publish("id_tag_changed", None, id_tag=id_tag)

    async def create(self, values: dict[str, Any]) -> None:
        """Create the tag ``values["id_tag"]`` (with ``status``, ``expiry_date``,
        ``parent_id_tag``, ``max_concurrent_tx``); :class:`Conflict` when it exists."""
        stmt = self._writer.dialect_insert(_TAGS).values(
            **_values(values), created_at=now_utc()).on_conflict_do_nothing(index_elements=["id_tag"])
        if not await self._change(values["id_tag"], stmt):
            raise Conflict("IdTagExists", f"id tag {values['id_tag']!r} already exists")

    async def update(self, id_tag: str, values: dict[str, Any]) -> None:
        """Change the fields in ``values`` (none: no change); :class:`NotFound` for an unknown tag."""
        if not values:
            return
        stmt = update(_TAGS).where(_TAGS.c.id_tag == id_tag).values(_values(values))
        if not await self._change(id_tag, stmt):
            raise not_found(id_tag)

    async def delete(self, id_tag: str) -> None:
        """:class:`NotFound` for an unknown tag."""
        stmt = delete(_TAGS).where(_TAGS.c.id_tag == id_tag)
        if not await self._change(id_tag, stmt):
            raise not_found(id_tag)

