"""Changes to id tags (RFID cards, app tokens), written through the store writer.

Authorize and StartTransaction read id tags inside the writer's own transactions (in queue
order), so a tag created, blocked or deleted here applies from the next frame handled after it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update

from csms.services.errors import Conflict, NotFound
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

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    async def create(self, values: dict[str, Any]) -> None:
        """Create the tag ``values["id_tag"]`` (with ``status``, ``expiry_date``,
        ``parent_id_tag``, ``max_concurrent_tx``); :class:`Conflict` when it exists."""
        stmt = self._writer.dialect_insert(_TAGS).values(
            **_values(values), created_at=now_utc()).on_conflict_do_nothing(index_elements=["id_tag"])
        if not await self._writer.changed(stmt):
            raise Conflict("IdTagExists", f"id tag {values['id_tag']!r} already exists")

    async def update(self, id_tag: str, values: dict[str, Any]) -> None:
        """Change the fields in ``values`` (none: no change); :class:`NotFound` for an unknown tag."""
        if not values:
            return
        stmt = update(_TAGS).where(_TAGS.c.id_tag == id_tag).values(_values(values))
        if not await self._writer.changed(stmt):
            raise not_found(id_tag)

    async def delete(self, id_tag: str) -> None:
        """:class:`NotFound` for an unknown tag."""
        stmt = delete(_TAGS).where(_TAGS.c.id_tag == id_tag)
        if not await self._writer.changed(stmt):
            raise not_found(id_tag)

