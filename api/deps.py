"""Shared request plumbing: the central system, pagination, JSON rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.central import CentralSystem
from csms.timeutil import iso


def central(request: Request) -> CentralSystem:
    return request.app.state.central  # type: ignore[no-any-return]


@dataclass(slots=True)
class Page:
    page: int
    page_size: int


def page_params(page: int = Query(1, ge=1, description="Page number, from 1."),
                page_size: int = Query(50, ge=1, le=1000, description="Items per page.")) -> Page:
    return Page(page, page_size)


def jsonable(row: Any) -> dict[str, Any]:
    """A result row as JSON-ready dict (datetimes as ISO 8601 UTC)."""
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


async def paginate(engine: AsyncEngine, query: Select[Any], page: Page,
                   shape: Any = jsonable) -> dict[str, Any]:
    """Run ``query`` for one page and count all its rows."""
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
        result = await conn.execute(query.limit(page.page_size).offset((page.page - 1) * page.page_size))
        items = [shape(r) for r in result]
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}
