"""Alert rules as records, and the acknowledgement of an alert (who, when, a note).

Every write goes through the store's writer. An acknowledgement is kept on the alert itself and
published (``alert.acknowledged``: the event stream and the webhooks); the REST layer also writes
it to the audit log. A rule's change applies from the next evaluation: one disabled or deleted
clears its open alerts then (:mod:`csms.alerts.evaluator`), and a deleted rule's alerts stay as
history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.alerts.shapes import ACKNOWLEDGED, ALERTS, RULES, alert_not_found, rule_not_found
from csms.events import EventBus
from csms.queries.alerts import alert_view, rule_view
from csms.services.errors import Conflict, in_writer_order
from csms.store.writer import Writer
from csms.timeutil import iso, now_utc

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RULES = 100  # every rule is matched against every problem at each evaluation
NOTE_CHARS = 2000


class AlertService:
    def __init__(self, writer: Writer, events: EventBus) -> None:
        self._writer = writer
        self._events = events

    async def acknowledge(self, alert_id: int, who: str, note: str | None) -> dict[str, Any]:
        """Mark an alert acknowledged by ``who`` now, with ``note``; the alert as it is then.
        :class:`NotFound` ``AlertNotFound``; :class:`Conflict` ``AlertAlreadyAcknowledged`` (with
        who and when) when someone did first: an acknowledgement is never overwritten."""
        async def op(conn: AsyncConnection) -> Any:
            row = (await conn.execute(update(ALERTS).where(ALERTS.c.id == alert_id,
                                                           ALERTS.c.acknowledged_at.is_(None))
                                      .values(acknowledged_at=now_utc(), acknowledged_by=who[:100],
                                              note=(note or None) and note[:NOTE_CHARS])
                                      .returning(*ALERTS.c))).first()
            if row is not None:
                return row
            first = (await conn.execute(select(ALERTS.c.acknowledged_by, ALERTS.c.acknowledged_at)
                                        .where(ALERTS.c.id == alert_id))).first()
            if first is None:
                raise alert_not_found(alert_id)
            raise Conflict("AlertAlreadyAcknowledged", f"alert {alert_id} was acknowledged by "
                           f"{first.acknowledged_by} already", acknowledged_by=first.acknowledged_by,
                           acknowledged_at=iso(first.acknowledged_at))

        alert = alert_view(await in_writer_order(self._writer, op))
        log.info("alert %d (%s) acknowledged by %s%s", alert_id, alert["title"], who,
                 f": {alert['note']}" if alert["note"] else "")
        self._events.publish(ACKNOWLEDGED, alert["charge_point_id"], alert=alert)
        return alert

    async def create_rule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new rule; :class:`Conflict` ``TooManyAlertRules`` past :data:`MAX_RULES`."""
        async def op(conn: AsyncConnection) -> Any:
            count = len((await conn.execute(select(RULES.c.id).limit(MAX_RULES))).all())
            if count >= MAX_RULES:
                raise Conflict("TooManyAlertRules", f"there are {count} alert rules, the most there may be")
            now = now_utc()
            return (await conn.execute(RULES.insert().values(**_values(body), created_at=now, updated_at=now)
                                       .returning(*RULES.c))).one()

        return rule_view(await in_writer_order(self._writer, op))

    async def update_rule(self, rule_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """Change the fields ``body`` names; :class:`NotFound` ``AlertRuleNotFound``."""
        async def op(conn: AsyncConnection) -> Any:
            row = (await conn.execute(update(RULES).where(RULES.c.id == rule_id)
                                      .values(**_values(body), updated_at=now_utc())
                                      .returning(*RULES.c))).first()
            if row is None:
                raise rule_not_found(rule_id)
            return row

        return rule_view(await in_writer_order(self._writer, op))

    async def delete_rule(self, rule_id: int) -> None:
        """Delete a rule (its open alerts clear at the next evaluation; they all stay listed)."""
        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(delete(RULES).where(RULES.c.id == rule_id))).rowcount)

        if not await in_writer_order(self._writer, op):
            raise rule_not_found(rule_id)


def _values(body: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's columns from a request body (the fields it names)."""
    values = {k: body[k] for k in ("kind", "minutes", "enabled") if k in body}
    if "emails" in body:
        values["emails"] = orjson.dumps(list(dict.fromkeys(body["emails"]))).decode()
    return values
