"""What the Prometheus gauges read from the store at scrape time (issue #21): connector statuses
of the online charge points by OCPP version, how many charge points are offline, and per load
group the sessions open, their draw now and the energy of the sessions started today.

Why these shapes: a scrape comes every 15 s from each Prometheus, so a read must cost the same
with a year of transactions as with a day's. Sessions are found by ``ix_transactions_stop``
(migration 0021): the open ones are its NULLs, today's stopped ones a range at its end; each
found session is then looked up by key (its charge point, its outlet's load group membership).
The statuses are one pass over ``connectors``. For 10,000 charge points, 70-80 ms on SQLite and
25-30 ms on PostgreSQL with 20 or 60 days of history (``bench/metrics_scrape.py``,
docs/monitoring.md).

Energy is the dashboard's (:mod:`csms.queries.network`): a session started since the day began
counts ``meter_stop`` (or, open, the latest register its transaction keeps, or nothing yet) less
``meter_start``, the whole session on the day it started. A day begins at midnight in its site's
time zone: each load group's start of day comes in from the caller (``since``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import TS
from csms.queries.network import DELIVERED_WH
from csms.store.energy_models import LoadGroupMember
from csms.store.models import ChargePoint, Connector, Transaction, table

_CP = table(ChargePoint)
_CONN = table(Connector)
_TX = table(Transaction)
_EXACT = table(LoadGroupMember).alias("exact")  # a member for the connector itself
_WHOLE = table(LoadGroupMember).alias("whole")  # a member for its whole charge point (connector 0)
# the load group of an outlet (a connector): its own membership first, as the allocator has it
# (csms.energy.state.Layout.member_of); NULL for one in no group
_GROUP = func.coalesce(_EXACT.c.group_id, _WHOLE.c.group_id)
_ONLINE = _CP.c.online.is_(True)
# a session with its charge point and the load group of its outlet: the session is the outer
# side of each join, found by its index, the rest looked up by key
_SESSIONS = (_TX.join(_CP, _CP.c.id == _TX.c.charge_point_id)
             .outerjoin(_EXACT, and_(_EXACT.c.charge_point_id == _TX.c.charge_point_id,
                                     _EXACT.c.connector_id == _TX.c.connector_id))
             .outerjoin(_WHOLE, and_(_WHOLE.c.charge_point_id == _TX.c.charge_point_id, _WHOLE.c.connector_id == 0)))


@dataclass(slots=True)
class GroupFigures:
    """One load group's live figures (under the key None: the sessions on outlets in no group)."""

    sessions_open: int = 0  # on online charge points (an offline one's may have ended unheard)
    power_w: float = 0.0  # the open sessions' latest draw, online charge points
    energy_today_wh: int = 0  # sessions started since its day began, online or not


@dataclass(slots=True)
class FleetFigures:
    statuses: dict[tuple[str | None, str], int] = field(default_factory=dict)  # (OCPP version, status)
    charge_points_offline: int = 0
    groups: dict[int | None, GroupFigures] = field(default_factory=dict)


class GaugeQueries:
    """The scrape's reads, three statements on the read engine (no writer flush: a figure a
    second or two behind is what a 15 s scrape can show anyway)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def read(self, since: Mapping[int, datetime], since_ungrouped: datetime) -> FleetFigures:
        """The figures now; ``since``: the start of today for each load group by id (its
        site's midnight), ``since_ungrouped`` for connectors in none and groups not named."""
        found = FleetFigures()
        day_start = _day_start(since, since_ungrouped)
        earliest = min([since_ungrouped, *since.values()])
        async with self._engine.connect() as conn:
            for version, status, count in await conn.execute(
                    select(_CP.c.ocpp_version, _CONN.c.status, func.count())
                    .join(_CP, _CP.c.id == _CONN.c.charge_point_id)
                    .where(_ONLINE, _CONN.c.connector_id > 0)
                    .group_by(_CP.c.ocpp_version, _CONN.c.status)):
                found.statuses[(version, status)] = int(count)
            found.charge_points_offline = int((await conn.execute(
                select(func.count()).select_from(_CP).where(_CP.c.online.is_not(True)))).scalar_one())
            today = case((_TX.c.start_timestamp >= day_start, DELIVERED_WH))
            open_here = and_(_TX.c.stop_timestamp.is_(None), _ONLINE)
            for group, sessions, power, energy in await conn.execute(
                    select(_GROUP, func.count(case((open_here, _TX.c.id))),
                           func.sum(case((open_here, _TX.c.power_w))), func.sum(today))
                    .select_from(_SESSIONS)
                    .where(or_(_TX.c.stop_timestamp.is_(None), _TX.c.stop_timestamp >= earliest))
                    .group_by(_GROUP)):
                found.groups[group] = GroupFigures(int(sessions), float(power or 0.0), int(energy or 0))
        return found


def _day_start(since: Mapping[int, datetime], since_ungrouped: datetime) -> ColumnElement[datetime]:
    """The start of today for the session's load group (its site's), as one SQL expression."""
    otherwise = literal(since_ungrouped, TS)
    if not since:
        return otherwise
    return case({group: literal(at, TS) for group, at in since.items()}, value=_GROUP, else_=otherwise)
