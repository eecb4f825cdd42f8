"""Transactions that end without their charge point's StopTransaction, as writer operations.

A charge point that forgets a transaction (killed mid-charge, a state file lost, a simulator's
shutdown race) never sends its StopTransaction: the transaction would stay open forever, its
connector busy and its id tag refused everywhere (ConcurrentTx). Four things end one here:

- **superseded**: a StartTransaction on the same connector (a connector runs one transaction);
- **rebooted**: the charge point booted and then reported the connector Available;
- **stale**: nothing heard of it for ``stale_after`` seconds, unless its charge point is online
  and says the connector is charging (a charge point may send no meter values at all);
- **operator**: closed over REST, with who and why.

Each is recorded (``end_source``, ``end_detail``, ``ended_by``) with ``stop_reason`` Other, the
last energy register known for the transaction as ``meter_stop`` (never below ``meter_start``) and
the time of that reading as ``stop_timestamp``. Such an ending is provisional: if the charge point's
own StopTransaction arrives later, its figures replace these (csms/store/transactions.py).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import ChargePoint, Connector, MeterValue, Transaction, table
from csms.timeutil import iso, utc

_TX = table(Transaction)
_MV = table(MeterValue)
_CP = table(ChargePoint)
_CONNECTORS = table(Connector)

# a connector in one of these, on a connected charge point, has a transaction under way
LIVE_STATUSES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Occupied"})  # 2.0.1: Occupied
FREE_STATUSES = frozenset({"Available"})
REGISTER = "Energy.Active.Import.Register"
_WH_PER_UNIT = {"Wh": 1, "kWh": 1000}


@dataclass(slots=True, frozen=True)
class Ended:
    """A transaction ended here: what the event and the caches need."""

    transaction_id: int
    charge_point_id: str
    connector_id: int
    meter_stop: int
    stop_timestamp: datetime
    end_source: str

    def event(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "connector_id": self.connector_id,
                "meter_stop": self.meter_stop, "reason": "Other", "end_source": self.end_source}


MAX_REGISTER_WH = 2**62  # a BigInteger column holds it; no meter counts more (4.6e18 Wh)


def register_wh(value: str, unit: str | None) -> float | None:
    """An energy register sample in Wh (None for a unit or value that is not one, or that no
    meter could show: not finite, or beyond :data:`MAX_REGISTER_WH`)."""
    factor = _WH_PER_UNIT.get(unit or "Wh")
    try:
        wh = None if factor is None else float(value) * factor
    except (ValueError, OverflowError):
        return None
    return wh if wh is not None and math.isfinite(wh) and abs(wh) <= MAX_REGISTER_WH else None


async def last_reading(conn: AsyncConnection, tx: Any) -> tuple[int, datetime]:
    """The transaction's latest energy register inside its window and the time of it, else its
    start: what a closure without the charge point's word can vouch for."""
    rows = (await conn.execute(
        select(_MV.c.value, _MV.c.unit, _MV.c.timestamp).where(
            _MV.c.transaction_id == tx.id, _MV.c.outside_tx.is_not(True), _MV.c.phase.is_(None),
            (_MV.c.measurand == REGISTER) | _MV.c.measurand.is_(None))
        .order_by(_MV.c.timestamp.desc()).limit(8))).all()
    best, at = tx.meter_start, utc(tx.start_timestamp)
    for row in rows:
        wh = register_wh(row.value, row.unit)
        if wh is not None and wh >= best:
            best, at = int(wh), max(at, utc(row.timestamp))  # type: ignore[type-var]
    assert at is not None
    return int(best), at


async def end(conn: AsyncConnection, tx: Any, source: str, detail: str, *,
              actor: str | None = None, meter_stop: int | None = None) -> Ended:
    """End the open transaction ``tx`` (a row of transactions) without a StopTransaction."""
    known, at = await last_reading(conn, tx)
    stop = known if meter_stop is None else meter_stop  # below the start is refused by the caller
    if meter_stop is not None:  # a figure typed in by hand is said to be one
        detail = (f"{detail}; meter_stop {stop} Wh given by {actor or 'the caller'} "
                  f"(last known register {known} Wh)")
    await conn.execute(update(_TX).where(_TX.c.id == tx.id, _TX.c.stop_timestamp.is_(None)).values(
        meter_stop=stop, stop_timestamp=at, stop_reason="Other", end_source=source,
        ended_by=actor, end_detail=detail[:2000]))
    return Ended(tx.id, tx.charge_point_id, tx.connector_id, stop, at, source)


def _open(*where: Any) -> Any:
    return select(_TX).where(_TX.c.stop_timestamp.is_(None), *where).order_by(_TX.c.id)


async def supersede(conn: AsyncConnection, charge_point_id: str, connector_id: int,
                    started_at: datetime) -> list[Ended]:
    """End the open transactions of a connector on which a new one is starting."""
    rows = (await conn.execute(_open(
        _TX.c.charge_point_id == charge_point_id, _TX.c.connector_id == connector_id))).all()
    return await supersede_rows(conn, rows, connector_id, started_at)


async def supersede_rows(conn: AsyncConnection, rows: Sequence[Any], connector_id: int,
                         started_at: datetime) -> list[Ended]:
    """End ``rows`` (open transactions of the connector, read by the caller) for a new one."""
    return [await end(conn, tx, "superseded", f"a new transaction started on connector "
                      f"{connector_id} at {iso(started_at)} while this one was still open")
            for tx in rows]


def after_boot(charge_point_id: str, connector_id: int, booted_at: datetime
               ) -> Callable[[AsyncConnection], Awaitable[list[Ended]]]:
    """Writer operation: the charge point booted at ``booted_at`` and then reported the connector
    Available, so what it started there before the boot is over (a start replayed from its
    offline queue after the boot is younger and untouched)."""

    async def op(conn: AsyncConnection) -> list[Ended]:
        rows = (await conn.execute(_open(
            _TX.c.charge_point_id == charge_point_id, _TX.c.connector_id == connector_id,
            _TX.c.created_at < booted_at))).all()
        return [await end(conn, tx, "rebooted", f"the charge point booted at {iso(booted_at)} "
                          f"and reported connector {connector_id} Available") for tx in rows]

    return op


async def charge_points_with_open(conn: AsyncConnection) -> set[str]:
    """The charge points with open transactions."""
    return set((await conn.execute(select(_TX.c.charge_point_id).distinct().where(
        _TX.c.stop_timestamp.is_(None)))).scalars())


async def open_connectors(conn: AsyncConnection, charge_point_id: str) -> set[int]:
    """The connectors on which the charge point has open transactions (what a boot may end)."""
    return set((await conn.execute(select(_TX.c.connector_id).distinct().where(
        _TX.c.charge_point_id == charge_point_id, _TX.c.stop_timestamp.is_(None)))).scalars())


def _with_liveness(query: Any) -> Any:
    """``query`` joined with what says a transaction is live: its charge point's online flag and
    its connector's last status."""
    return query.add_columns(
        _CP.c.online.label("cp_online"), _CONNECTORS.c.status.label("cp_status"),
        _CONNECTORS.c.updated_at.label("cp_status_at"), _CONNECTORS.c.timestamp.label("cp_status_ts"),
    ).outerjoin(_CP, _CP.c.id == _TX.c.charge_point_id).outerjoin(
        _CONNECTORS, and_(_CONNECTORS.c.charge_point_id == _TX.c.charge_point_id,
                          _CONNECTORS.c.connector_id == _TX.c.connector_id))


def freed(row: Any) -> bool:
    """The charge point has forgotten the transaction: it is online and the last thing heard of
    the connector is that it is Available, received after anything heard of the transaction (its
    start, its meter values), and not stamped by the charge point before the transaction started
    (an old status replayed from a queue). Preparing does not count: some charge points report it
    after a StartTransaction while they charge."""
    if not row.cp_online or row.cp_status not in FREE_STATUSES:
        return False
    at, heard = utc(row.cp_status_at), utc(row.last_activity_at or row.created_at)
    if at is None or heard is None or at <= heard:
        return False
    stamped, started = utc(row.cp_status_ts), utc(row.start_timestamp)
    return stamped is None or started is None or stamped >= started


def is_live(row: Any, now: datetime, stale_after: float) -> bool:
    """An open transaction counts (for ConcurrentTx) and stays open (for the sweep) while it was
    heard of within ``stale_after`` seconds, or its charge point is online and reports the
    connector charging; never once the charge point reported its connector free since it started
    (see :func:`freed`). ``stale_after`` <= 0: every other open transaction is live."""
    if freed(row):
        return False
    if stale_after <= 0:
        return True
    if row.cp_online and row.cp_status in LIVE_STATUSES:
        return True
    heard = utc(row.last_activity_at or row.created_at)
    return heard is not None and now - heard < timedelta(seconds=stale_after)


async def occupying(conn: AsyncConnection, charge_point_id: str, connector_id: int, now: datetime,
                    stale_after: float) -> Any:
    """The connector's newest open transaction that still holds it, else None. One the charge
    point has forgotten (not live, see :func:`is_live`) does not: a new start there is the charge
    point's to judge, and its StartTransaction supersedes the old one."""
    rows = (await conn.execute(_with_liveness(_open(
        _TX.c.charge_point_id == charge_point_id, _TX.c.connector_id == connector_id)))).all()
    return next((row for row in reversed(rows) if is_live(row, now, stale_after)), None)


async def live_count(conn: AsyncConnection, id_tag: str, now: datetime, stale_after: float) -> int:
    """How many open transactions of ``id_tag`` are live (see :func:`is_live`); one the central
    system refused (ConcurrentTx, Invalid, ...) never counts, though the charge point may never stop it."""
    rows = (await conn.execute(_with_liveness(_open(
        _TX.c.id_tag == id_tag, _TX.c.id_tag_status == "Accepted")))).all()
    return sum(1 for row in rows if is_live(row, now, stale_after))


async def accepted_open(conn: AsyncConnection, id_tags: Sequence[str]) -> dict[str, list[Any]]:
    """The open transactions the central system accepted for each of ``id_tags``, with their
    liveness columns (:func:`live_count` of many tags in one query per 500)."""
    found: dict[str, list[Any]] = {}
    for first in range(0, len(id_tags), 500):
        for row in (await conn.execute(_with_liveness(_open(
                _TX.c.id_tag.in_(id_tags[first:first + 500]), _TX.c.id_tag_status == "Accepted")))):
            found.setdefault(row.id_tag, []).append(row)
    return found


def sweep_stale(now: datetime, stale_after: float
                ) -> Callable[[AsyncConnection], Awaitable[list[Ended]]]:
    """Writer operation: end the open transactions that are no longer live. Harmless when several
    nodes sweep at once (an ended transaction is not ended again)."""

    async def op(conn: AsyncConnection) -> list[Ended]:
        if stale_after <= 0:
            return []
        cutoff = now - timedelta(seconds=stale_after)
        heard = _TX.c.last_activity_at
        rows = (await conn.execute(_with_liveness(_open(
            (heard < cutoff) | (heard.is_(None) & (_TX.c.created_at < cutoff)))))).all()
        ended = []
        for row in rows:
            if is_live(row, now, stale_after):
                continue
            last = utc(row.last_activity_at or row.created_at)
            ended.append(await end(conn, row, "stale", f"nothing heard of it since {iso(last)} "
                                   f"(stale after {stale_after:g} s)"))
        return ended

    return op


def close_by_operator(transaction_id: int, actor: str, reason: str, meter_stop: int | None
                      ) -> Callable[[AsyncConnection], Awaitable[tuple[str, Ended | None]]]:
    """Writer operation: an operator closes a transaction the charge point will never stop.
    Returns ("closed", ended) or ("unknown" | "not_active" | "below_start", None): a typed
    meter_stop below the transaction's meter_start is refused, never clamped, so what is billed
    is what the operator typed or nothing."""

    async def op(conn: AsyncConnection) -> tuple[str, Ended | None]:
        tx = (await conn.execute(select(_TX).where(_TX.c.id == transaction_id))).first()
        if tx is None:
            return "unknown", None
        if tx.stop_timestamp is not None:
            return "not_active", None
        if meter_stop is not None and meter_stop < tx.meter_start:
            return "below_start", None
        return "closed", await end(conn, tx, "operator", reason, actor=actor, meter_stop=meter_stop)

    return op
