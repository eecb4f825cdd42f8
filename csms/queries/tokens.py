"""Reads of API tokens: never their secrets (only a hash of each is kept anyway)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.store.access import ApiToken
from csms.store.models import table

_TOKENS = table(ApiToken)
_PUBLIC = [c for c in _TOKENS.c if c.name != "token_hash"]


class TokenQueries:
    """What the REST API shows of its tokens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page_of(self, page: Page, *, include_revoked: bool = False) -> dict[str, Any]:
        """One page by id; the revoked ones only when asked for."""
        query = select(*_PUBLIC).order_by(_TOKENS.c.id)
        if not include_revoked:
            query = query.where(_TOKENS.c.revoked_at.is_(None))
        return await paginate(self._engine, query, page)

    async def get(self, token_id: int) -> dict[str, Any]:
        """One token (known to exist: the one just created)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_PUBLIC).where(_TOKENS.c.id == token_id))).one()
        return jsonable(row)
