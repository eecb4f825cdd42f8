"""Reads of commands: what was sent to a charge point, by whom, and how it ended."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.errors import NotFound
from csms.store.models import Command, table

_CMD = table(Command)


def command_view(row: Any) -> dict[str, Any]:
    """A command row with its payload and response as JSON again (they are stored as text)."""
    data = jsonable(row)
    for key in ("payload", "response"):
        if data[key] is not None:
            data[key] = orjson.loads(data[key])
    return data


class CommandQueries:
    """What the REST API shows of commands."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, command_id: str) -> dict[str, Any]:
        """One command; :class:`NotFound` for an unknown id."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_CMD).where(_CMD.c.id == command_id))).first()
        if row is None:
            raise NotFound("CommandNotFound", f"no command {command_id!r}")
        return command_view(row)

    async def page_of(self, page: Page, *, charge_point_id: str | None = None, action: str | None = None,
                   status: str | None = None) -> dict[str, Any]:
        """One page, newest first."""
        query = select(_CMD).order_by(_CMD.c.created_at.desc())
        if charge_point_id:
            query = query.where(_CMD.c.charge_point_id == charge_point_id)
        if action:
            query = query.where(_CMD.c.action == action)
        if status:
            query = query.where(_CMD.c.status == status)
        return await paginate(self._engine, query, page, command_view)
