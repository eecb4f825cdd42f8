"""Rows as JSON-ready dicts, and one page of a query with the count of all its rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.timeutil import iso

Shape = Callable[[Any], dict[str, Any]]  # a result row -> its JSON answer


@dataclass(slots=True)
class Page:
    """Which page of a list is asked for (from 1) and how many items a page has."""

    page: int
    page_size: int


def jsonable(row: Any) -> dict[str, Any]:
    """A result row as JSON-ready dict (datetimes as ISO 8601 UTC)."""
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


async def paginate(engine: AsyncEngine, query: Select[Any], page: Page,
                   shape: Shape = jsonable, count: Select[Any] | None = None) -> dict[str, Any]:
    """Run ``query`` for one page and count all its rows (or run ``count``, which knows a cheaper
    way): ``items``, ``total``, ``page``, ``page_size``, the shape of every list the REST API answers."""
    if count is None:
        count = select(func.count()).select_from(query.order_by(None).subquery())
    async with engine.connect() as conn:
        total = (await conn.execute(count)).scalar_one()
        result = await conn.execute(query.limit(page.page_size).offset((page.page - 1) * page.page_size))
        items = [shape(r) for r in result]
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}
