"""Reads of alerts and alert rules (csms.alerts): the list by state, one alert, the count the
dashboard's top bar shows on every page, the rules."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.alerts.shapes import ALERTS, RULES, AlertState, alert_not_found, in_state, rule_not_found, state_of, title
from csms.queries.pages import Page, jsonable, paginate

_SHOWN = [c for c in ALERTS.c if c.name != "open_key"]


def alert_view(row: Any) -> dict[str, Any]:
    """An alert row as the REST API, the events and the e-mails show it (without its twin guard)."""
    data = jsonable(row)
    data.pop("open_key", None)
    data["state"] = state_of(data)
    data["title"] = title(data)
    return data


def rule_view(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["emails"] = orjson.loads(data["emails"])
    return data


class AlertQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page_of(self, page: Page, state: AlertState | None = None,
                      charge_point_id: str | None = None) -> dict[str, Any]:
        """One page of alerts, newest first (all states unless ``state`` is given)."""
        query = select(*_SHOWN).order_by(ALERTS.c.id.desc())
        if state is not None:
            query = query.where(in_state(state))
        if charge_point_id is not None:
            query = query.where(ALERTS.c.charge_point_id == charge_point_id)
        return await paginate(self._engine, query, page, alert_view)

    async def get(self, alert_id: int) -> dict[str, Any]:
        """One alert; :class:`NotFound` ``AlertNotFound``."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_SHOWN).where(ALERTS.c.id == alert_id))).first()
        if row is None:
            raise alert_not_found(alert_id)
        return alert_view(row)

    async def counts(self) -> dict[str, int]:
        """Alerts open (nobody acknowledged them yet) and acknowledged, whose condition holds:
        one small read, polled by every dashboard page."""
        found = {"open": 0, "acknowledged": 0}
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(ALERTS.c.acknowledged_at.is_not(None), func.count())
                                      .where(ALERTS.c.cleared_at.is_(None))
                                      .group_by(ALERTS.c.acknowledged_at.is_not(None)))
            for acknowledged, n in rows:
                found["acknowledged" if acknowledged else "open"] += int(n)
        return found

    async def rules(self, page: Page) -> dict[str, Any]:
        """One page of rules, oldest first."""
        return await paginate(self._engine, select(RULES).order_by(RULES.c.id), page, rule_view)

    async def rule(self, rule_id: int) -> dict[str, Any]:
        """One rule; :class:`NotFound` ``AlertRuleNotFound``."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(RULES).where(RULES.c.id == rule_id))).first()
        if row is None:
            raise rule_not_found(rule_id)
        return rule_view(row)
