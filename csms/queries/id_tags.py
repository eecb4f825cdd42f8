"""Reads of id tags (RFID cards, app tokens)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.errors import NotFound
from csms.store.models import IdTag, table

_TAGS = table(IdTag)


def not_found(id_tag: str) -> NotFound:
    return NotFound("IdTagNotFound", f"no id tag {id_tag!r}")


class IdTagQueries:
    """What the REST API shows of id tags."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page_of(self, page: Page, *, status: str | None = None, q: str | None = None) -> dict[str, Any]:
        """One page by tag; ``q``: text in the tag or its parent."""
        query = select(_TAGS).order_by(_TAGS.c.id_tag)
        if status:
            query = query.where(_TAGS.c.status == status)
        if q:
            query = query.where(or_(_TAGS.c.id_tag.ilike(f"%{q}%"), _TAGS.c.parent_id_tag.ilike(f"%{q}%")))
        return await paginate(self._engine, query, page)

    async def get(self, id_tag: str) -> dict[str, Any]:
        """One id tag; :class:`NotFound` for an unknown one."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_TAGS).where(_TAGS.c.id_tag == id_tag))).first()
        if row is None:
            raise not_found(id_tag)
        return jsonable(row)
