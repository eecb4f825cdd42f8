"""Webhooks as records: created with a URL the outbound guard admits, an event filter and a
secret (shown once), deleted with their delivery log. What delivers them is
:class:`csms.webhooks.Dispatcher`, told of every change here (and, through the event bus, at
every other node).
"""

from __future__ import annotations

import secrets

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from common.outbound import WEB_SCHEMES, OutboundPolicy
from csms.events import EventBus
from csms.services.errors import Conflict, NotFound
from csms.store.access import Webhook, WebhookDelivery
from csms.store.models import table
from csms.store.writer import Writer
from csms.timeutil import now_utc
from csms.webhooks import CHANGED, FIELD, Dispatcher

__all__ = ["MAX_WEBHOOKS", "WebhookService", "not_found"]

_HOOKS = table(Webhook)
_LOG = table(WebhookDelivery)
MAX_WEBHOOKS = 100  # every event is matched against each: a bound on the fan-out


def not_found(webhook_id: int) -> NotFound:
    return NotFound("WebhookNotFound", f"no webhook {webhook_id}")


class WebhookService:
    def __init__(self, writer: Writer, policy: OutboundPolicy, dispatcher: Dispatcher,
                 events: EventBus) -> None:
        self._writer = writer
        self._policy = policy
        self._dispatcher = dispatcher
        self._events = events

    async def create(self, url: str, events: list[str], secret: str | None,
                     created_by: str) -> tuple[int, str]:
        """Record a webhook; (its id, its secret: the one given, or a new random one).

        The URL must be one the outbound guard admits now (:class:`OutboundRefused`, answered 422
        naming ``url``); at most :data:`MAX_WEBHOOKS` exist (:class:`Conflict` ``TooManyWebhooks``)."""
        await self._policy.check(url, WEB_SCHEMES, FIELD)
        secret = secret or secrets.token_urlsafe(32)
        patterns = list(dict.fromkeys(events))  # as given, each once

        async def op(conn: AsyncConnection) -> int:
            count = (await conn.execute(select(func.count()).select_from(_HOOKS))).scalar_one()
            if count >= MAX_WEBHOOKS:
                raise Conflict("TooManyWebhooks", f"there are {count} webhooks already, the most "
                               "there may be; delete one first")
            result = await conn.execute(_HOOKS.insert().values(
                url=url, events=orjson.dumps(patterns).decode(), secret=secret, created_at=now_utc(),
                created_by=created_by[:100]))
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row has one
            return int(key[0])

        webhook_id = await self._writer.run(op)
        self._changed(webhook_id)
        return webhook_id, secret

    async def delete(self, webhook_id: int) -> None:
        """Delete a webhook and its delivery log; what waits for it is not delivered. (No
        foreign key ties the log to it: a row of an attempt ending just now must not fail the
        writer's batch; such a straggler belongs to no webhook and is never shown.)"""
        async def op(conn: AsyncConnection) -> int:
            gone = (await conn.execute(delete(_HOOKS).where(_HOOKS.c.id == webhook_id))).rowcount
            await conn.execute(delete(_LOG).where(_LOG.c.webhook_id == webhook_id))
            return int(gone)

        if not await self._writer.run(op):
            raise not_found(webhook_id)
        self._changed(webhook_id)

    def _changed(self, webhook_id: int) -> None:
        self._dispatcher.forget()
        self._events.publish(CHANGED, None, webhook_id=webhook_id)
