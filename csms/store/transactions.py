"""Id-tag authorization and the transaction lifecycle, as operations run by the writer.

Both run inside the writer's transaction, in queue order, so two connectors starting with one tag
at the same moment see each other (ConcurrentTx) and a replayed StartTransaction finds its row.
Transactions that end without a StopTransaction are in :mod:`csms.store.endings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.endings import REGISTER, live_count, register_wh
from csms.store.id_tag_book import TagBook, TagRow, read_tag
from csms.store.models import MeterValue, StopRecord, Transaction, table
from csms.timeutil import iso, now_utc, utc

_TX = table(Transaction)
_MV = table(MeterValue)
# OCPP 1.6: a StopTransaction without a reason means Local.
DEFAULT_STOP_REASON = "Local"
# The same stop sent twice by a charge point (a resend after a lost answer, a shutdown race) may
# carry a timestamp a little later: the same meterStop within this many seconds is that replay.
REPLAY_WINDOW = timedelta(seconds=60)


@dataclass(slots=True)
class StopRequest:
    charge_point_id: str
    transaction_id: int
    id_tag: str | None
    meter_stop: int
    timestamp: datetime
    reason: str | None
    samples: list[dict[str, Any]]


async def id_tag_info(conn: AsyncConnection, id_tag: str, accept_unknown: bool,
                      for_start: bool = False, stale_after: float = 0,
                      book: TagBook | None = None) -> dict[str, Any]:
    """The ``idTagInfo`` the central system answers for ``id_tag``.

    Unknown tags are Invalid unless ``accept_unknown``; an Accepted tag past its expiry is Expired;
    at a StartTransaction an Accepted tag already in ``max_concurrent_tx`` live transactions
    (one when unset; see :func:`csms.store.endings.is_live`) is ConcurrentTx.
    """
    row = await book.row(id_tag, conn) if book is not None else await read_tag(conn, id_tag)
    info = tag_info(row, accept_unknown)
    if row is not None and info["status"] == "Accepted" and for_start:
        running = await live_count(conn, id_tag, now_utc(), stale_after)
        if running >= (row.max_concurrent_tx or 1):
            info["status"] = "ConcurrentTx"
    return info


def tag_info(row: TagRow | None, accept_unknown: bool) -> dict[str, Any]:
    """The ``idTagInfo`` of a tag's row, outside a start (see :func:`id_tag_info`)."""
    if row is None:
        return {"status": "Accepted" if accept_unknown else "Invalid"}
    status = row.status
    expiry = utc(row.expiry_date)
    if status == "Accepted" and expiry is not None and expiry <= now_utc():
        status = "Expired"
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = iso(expiry)
    if row.parent_id_tag:
        info["parentIdTag"] = row.parent_id_tag
    return info


StopResult = tuple[dict[str, Any] | None, str]


async def _judge_again(conn: AsyncConnection, tx_id: int, charge_point_id: str, stop: datetime,
                       meter_stop: int) -> None:
    """Flag a transaction's meter values again against its real window: a provisional ending
    (operator, stale, superseded, rebooted) judged them by a guessed stop, and what it flagged
    may well be inside the stop the charge point reports. One meterValue element (one timestamp)
    is outside when it is from another charge point, later than the stop, or its energy register
    is above meterStop."""
    rows = (await conn.execute(select(
        _MV.c.id, _MV.c.timestamp, _MV.c.charge_point_id, _MV.c.measurand, _MV.c.phase,
        _MV.c.value, _MV.c.unit).where(_MV.c.transaction_id == tx_id,
                                       _MV.c.source == "MeterValues"))).all()
    outside_at: set[Any] = set()
    for row in rows:
        at = utc(row.timestamp)
        wh = register_wh(row.value, row.unit) if row.measurand in (None, REGISTER) and row.phase is None else None
        if (row.charge_point_id != charge_point_id or (at is not None and at > stop)
                or (wh is not None and wh > meter_stop)):
            outside_at.add(row.timestamp)
    flagged = [row.id for row in rows if row.timestamp in outside_at]
    inside = [row.id for row in rows if row.timestamp not in outside_at]
    for ids, value in ((flagged, True), (inside, None)):
        for first in range(0, len(ids), 500):  # bound the statement's parameters
            await conn.execute(update(_MV).where(_MV.c.id.in_(ids[first:first + 500])).values(outside_tx=value))


def stop_transaction(req: StopRequest, accept_unknown: bool, book: TagBook | None = None
                     ) -> Callable[[AsyncConnection], Awaitable[StopResult]]:
    """Writer operation: close the transaction, keep its transactionData; never fail.

    The charge point's own StopTransaction is the truth: it also replaces the figures of a
    transaction the central system ended without it (superseded, rebooted, stale, operator;
    outcome "corrected"). The same stop sent again (same meterStop, a timestamp within
    :data:`REPLAY_WINDOW`) adds nothing; a stop for an unknown transaction, or a different stop for
    a stopped one, is kept in ``stop_records``. Meter values stored with timestamps after the stop
    are flagged outside the transaction's window.
    Returns (idTagInfo or None, "stopped" | "corrected" | "replayed" | "unknown" | "already_stopped").
    """

    async def op(conn: AsyncConnection) -> StopResult:
        tx = (await conn.execute(select(_TX).where(
            _TX.c.id == req.transaction_id, _TX.c.charge_point_id == req.charge_point_id)
        )).first()
        info = await id_tag_info(conn, req.id_tag, accept_unknown, book=book) if req.id_tag else None
        reason = req.reason or DEFAULT_STOP_REASON
        provisional = tx is not None and tx.stop_timestamp is not None and tx.end_source not in (
            None, "charge_point")
        if tx is not None and (tx.stop_timestamp is None or provisional):
            detail = None
            if provisional:
                detail = (f"ended as {tx.end_source} ({tx.end_detail}) before its "
                          "StopTransaction arrived")[:2000]
            await conn.execute(update(_TX).where(_TX.c.id == tx.id).values(
                meter_stop=req.meter_stop, stop_timestamp=req.timestamp, stop_reason=reason,
                stop_id_tag=req.id_tag, end_source="charge_point", end_detail=detail))
            if provisional:  # the window the samples were judged by was provisional too
                await _judge_again(conn, tx.id, tx.charge_point_id, req.timestamp, req.meter_stop)
            else:
                await conn.execute(update(_MV).where(
                    _MV.c.transaction_id == tx.id, _MV.c.timestamp > req.timestamp,
                    _MV.c.source == "MeterValues").values(outside_tx=True))
            outcome = "corrected" if provisional else "stopped"
        elif (tx is not None and tx.meter_stop == req.meter_stop
              and abs(utc(tx.stop_timestamp) - req.timestamp) <= REPLAY_WINDOW):  # type: ignore[operator]
            return info, "replayed"
        else:
            outcome = "unknown" if tx is None else "already_stopped"
            await conn.execute(table(StopRecord).insert().values(
                charge_point_id=req.charge_point_id, transaction_id=req.transaction_id,
                kind=outcome, id_tag=req.id_tag, meter_stop=req.meter_stop,
                timestamp=req.timestamp, reason=reason, received_at=now_utc()))
        if req.samples:
            for sample in req.samples:
                if tx is None:
                    sample["transaction_id"] = None
                else:
                    sample["connector_id"] = tx.connector_id
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            await conn.execute(insert(_MV).on_conflict_do_nothing(), req.samples)
        return info, outcome

    return op
