"""Reads of webhooks (never their secrets) and of their delivery logs."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.webhooks import not_found
from csms.store.access import Webhook, WebhookDelivery
from csms.store.models import table
from csms.store.writer import Writer

_HOOKS = table(Webhook)
_LOG = table(WebhookDelivery)
_SHOWN = (_HOOKS.c.id, _HOOKS.c.url, _HOOKS.c.events, _HOOKS.c.created_at, _HOOKS.c.created_by)


def webhook_view(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["events"] = orjson.loads(data["events"])
    return data


def delivery_view(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["event"] = orjson.loads(data["event"])
    return data


class WebhookQueries:
    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        self._engine = engine
        self._writer = writer

    async def page_of(self, page: Page) -> dict[str, Any]:
        """One page of webhooks, oldest first."""
        return await paginate(self._engine, select(*_SHOWN).order_by(_HOOKS.c.id), page, webhook_view)

    async def get(self, webhook_id: int) -> dict[str, Any]:
        """One webhook; :class:`NotFound` ``WebhookNotFound`` for an unknown id."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_SHOWN).where(_HOOKS.c.id == webhook_id))).first()
        if row is None:
            raise not_found(webhook_id)
        return webhook_view(row)

    async def deliveries(self, webhook_id: int, page: Page, status: str | None = None) -> dict[str, Any]:
        """One page of a webhook's delivery log, newest attempt first (every attempt written so
        far: the writer's queue is committed first)."""
        await self.get(webhook_id)
        await self._writer.flush()
        query = select(_LOG.c.id, _LOG.c.delivery_id, _LOG.c.event_type, _LOG.c.event, _LOG.c.attempt,
                       _LOG.c.status, _LOG.c.status_code, _LOG.c.error, _LOG.c.duration_ms,
                       _LOG.c.at).where(_LOG.c.webhook_id == webhook_id).order_by(_LOG.c.id.desc())
        if status:
            query = query.where(_LOG.c.status == status)
        return await paginate(self._engine, query, page, delivery_view)
