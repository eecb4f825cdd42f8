"""The fleet at a glance: totals of the connected part of it, and what needs a person.

Why a read of its own: the dashboard's network page (and the alert rules) must not download every
charge point to count them. Each figure is one aggregate over indexed columns, so the answer is a
few hundred bytes and a few milliseconds whether the fleet has ten charge points or ten thousand.

Totals count **online** charge points only: a connector's status is what its charge point said
last, and an offline one's may be hours old ("Finishing" on a charger that lost its link is no
session finishing). Offline charge points are counted apart.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.queries.pages import Page, paginate
from csms.store.models import ChargePoint, Connector, Transaction, table
from csms.timeutil import iso

_CP = table(ChargePoint)
_CONN = table(Connector)
_TX = table(Transaction)

# the energy a session delivered: to its stop, or its latest register while open (the dashboard's
# totals and the site gauges, csms.queries.gauges, count it alike)
DELIVERED_WH = func.coalesce(_TX.c.meter_stop, _TX.c.register_wh, _TX.c.meter_start) - _TX.c.meter_start
ProblemKind = Literal["faulted", "offline", "boot_rejected", "stuck_transaction"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = ("faulted", "offline", "boot_rejected", "stuck_transaction")


def midnight_utc(now: datetime | None = None) -> datetime:
    """The start of the UTC day: "today" for a caller that names no other start."""
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class NetworkQueries:
    """Totals and problems of the whole network."""

    def __init__(self, engine: AsyncEngine, stuck_after: float) -> None:
        self._engine = engine
        self.stuck_after = stuck_after  # seconds without a meter value before a session is "stuck"

    async def summary(self, since: datetime | None = None) -> dict[str, Any]:
        """Charge points online/offline, connector statuses and charging sessions of the online
        ones, their draw now, the energy of the sessions started since ``since`` (default: the
        UTC day's start), and how many problems of each kind there are."""
        since = since or midnight_utc()
        online = _CP.c.online.is_(True)
        async with self._engine.connect() as conn:
            by_online = await _counts(conn, _CP.c.online, select(_CP.c.online))
            statuses = await _counts(conn, _CONN.c.status, select(_CONN.c.status).join(
                _CP, _CP.c.id == _CONN.c.charge_point_id).where(online, _CONN.c.connector_id > 0))
            sessions, unmetered, charging_201, power = (await conn.execute(
                select(func.count(), func.count(case((_TX.c.power_w.is_(None), _TX.c.id))),
                       func.count(case((_TX.c.charging_state == "Charging", _TX.c.id))),
                       func.coalesce(func.sum(_TX.c.power_w), 0.0))
                .join(_CP, _CP.c.id == _TX.c.charge_point_id)
                .where(_TX.c.stop_timestamp.is_(None), online))).one()
            # a session started since then is open or stopped since then: said so, the store finds
            # them by the stop index (migration 0021) instead of reading every past session
            energy = (await conn.execute(select(func.coalesce(func.sum(DELIVERED_WH), 0)).where(
                or_(_TX.c.stop_timestamp.is_(None), _TX.c.stop_timestamp >= since),
                _TX.c.start_timestamp >= since))).scalar_one()
            found = self._problems()
            problems = await _counts(conn, found.c.kind, select(found.c.kind))
        charge_points_online = by_online.get(True, 0)
        total = sum(by_online.values())
        return {
            "charge_points": {"total": total, "online": charge_points_online,
                              "offline": total - charge_points_online},
            "connectors": dict(sorted(statuses.items())),
            # 1.6: a connector Charging; 2.0.1 (whose connectors are only Occupied): a session
            # whose last chargingState was Charging
            "charging": statuses.get("Charging", 0) + int(charging_201),
            "faulted": statuses.get("Faulted", 0),
            "sessions_open": int(sessions),
            "power_kw": round(float(power) / 1000.0, 3),
            "sessions_without_power": int(unmetered),
            "energy_since": iso(since),
            "energy_kwh": round(max(int(energy), 0) / 1000.0, 3),
            "problems": {kind: problems.get(kind, 0) for kind in PROBLEM_KINDS},
        }

    async def problems(self, page: Page, kind: ProblemKind | None = None) -> dict[str, Any]:
        """What needs looking at, newest first: connectors Faulted on online charge points,
        charge points offline (once seen), boots rejected, sessions silent for ``stuck_after``."""
        found = self._problems()
        query = select(found).order_by(found.c.since.desc().nulls_last(), found.c.charge_point_id)
        if kind is not None:
            query = query.where(found.c.kind == kind)
        return await paginate(self._engine, query, page, _problem)

    async def every_problem(self, kinds: Collection[ProblemKind]) -> list[dict[str, Any]]:
        """Every problem of ``kinds`` at once, ``since`` a datetime: what the alert rules are
        evaluated on (:mod:`csms.alerts.evaluator`), so a rule means what the dashboard lists."""
        if not kinds:
            return []
        found = self._problems()
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(found).where(found.c.kind.in_(list(kinds))))
            return [{**row._mapping, "since": _when(row.since)} for row in rows]

    def _problems(self) -> Any:
        """Every problem as one row: kind, charge point, connector, transaction, since, detail."""
        stuck_before = datetime.now(UTC) - timedelta(seconds=self.stuck_after)

        def row(kind: str, charge_point: Any, *, connector: Any = None, transaction: Any = None,
                since: Any, detail: Any = None, where: ColumnElement[bool]) -> Select[Any]:
            # typed NULLs: PostgreSQL will not unite a text NULL with a bigint column
            return select(literal(kind).label("kind"), charge_point.label("charge_point_id"),
                          (cast(null(), Integer) if connector is None else connector).label("connector_id"),
                          (cast(null(), BigInteger) if transaction is None else transaction
                           ).label("transaction_id"),
                          since.label("since"),
                          (cast(null(), String) if detail is None else detail).label("detail")).where(where)

        heard = func.coalesce(_TX.c.last_activity_at, _TX.c.created_at)
        faulted = row("faulted", _CONN.c.charge_point_id, connector=_CONN.c.connector_id,
                      since=_CONN.c.updated_at, detail=_CONN.c.error_code,
                      where=and_(_CONN.c.status == "Faulted", _CONN.c.charge_point_id.in_(
                          select(_CP.c.id).where(_CP.c.online.is_(True)))))
        offline = row("offline", _CP.c.id, since=_CP.c.last_seen,
                      where=and_(_CP.c.online.is_(False), _CP.c.last_seen.is_not(None)))
        rejected = row("boot_rejected", _CP.c.id, since=_CP.c.last_boot_at,
                       where=_CP.c.boot_status == "Rejected")
        stuck = row("stuck_transaction", _TX.c.charge_point_id, connector=_TX.c.connector_id,
                    transaction=_TX.c.id, since=heard, detail=_TX.c.id_tag,
                    where=and_(_TX.c.stop_timestamp.is_(None), heard < stuck_before))
        return union_all(faulted, offline, rejected, stuck).subquery("problems")


async def _counts(conn: AsyncConnection, key: Any, query: Select[Any]) -> dict[Any, int]:
    """``query``'s rows counted by ``key`` (one GROUP BY)."""
    rows = await conn.execute(query.add_columns(func.count()).group_by(key))
    return {found: int(n) for found, n in rows}


def _when(since: Any) -> datetime | None:
    """A problem's ``since`` as an aware datetime."""
    if isinstance(since, str):  # SQLite hands a union's datetimes back as text
        since = datetime.fromisoformat(since)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since  # type: ignore[no-any-return]


def _problem(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    since = _when(data["since"])
    data["since"] = iso(since) if since is not None else None
    return data
