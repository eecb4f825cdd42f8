"""OCPP 2.0.1 TransactionEvents in the one transactions table.

A 2.0.1 station names its transactions (``transactionId``, a string) and reports each with a
sequence of events (Started, Updated, Ended; ``seqNo`` increasing over all its events). The first
event the central system hears of a transaction creates its row, whichever type it is (a Started
lost or sent late while offline changes nothing); each event's ``seqNo`` is kept once, so an exact
replay is answered without writing anything twice, and the gaps of a sequence can be told. The
rules of 1.6 hold: an id token's verdict (status, expiry, concurrent limit), a transaction still
open on the EVSE is over when a new one starts there, and the charge point's Ended fixes the end
even of one the central system had ended provisionally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.endings import REGISTER, Ended, last_reading, supersede
from csms.store.id_tag_book import TagBook
from csms.store.models import MeterValue, Transaction, TransactionEvent, table
from csms.store.reservations import use_reservation
from csms.store.transactions import id_tag_info
from csms.timeutil import now_utc

_TX = table(Transaction)
_EVENTS = table(TransactionEvent)
_MV = table(MeterValue)
# The transaction a station's id names, with whether this seqNo is stored already and the highest
# one stored: one statement where three ran one after another (each a round trip to SQLite's
# thread, inside the writer's batch: bench/csms_load.py's 2.0.1 mix, profiled)
_BY_STATION = select(
    _TX,
    select(_EVENTS.c.id).where(_EVENTS.c.transaction_id == _TX.c.id, _EVENTS.c.seq_no == bindparam("seq"))
    .limit(1).scalar_subquery().label("seen_event"),
    select(func.max(_EVENTS.c.seq_no)).where(_EVENTS.c.transaction_id == _TX.c.id)
    .scalar_subquery().label("last_seq_no"),
).where(_TX.c.charge_point_id == bindparam("cp"), _TX.c.station_transaction_id == bindparam("tx"))
_BY_ID = select(_TX).where(_TX.c.id == bindparam("tx"))
NO_TOKEN = "NoIdToken"  # id_tag_status of a transaction started before any id token (EVConnected)
ID_TAG_CHARS = 20  # 1.6's idTag: a longer 2.0.1 token is kept whole in id_token


@dataclass(slots=True)
class EventRequest:
    charge_point_id: str
    event_type: str
    station_transaction_id: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    evse_id: int | None
    id_token: str | None
    register_wh: int | None  # the energy register the event reports, if it does
    stopped_reason: str | None
    remote_start_id: int | None
    reservation_id: int | None
    offline: bool
    no_authorization: bool = False  # an idToken of type NoAuthorization: no token, no check, Accepted
    first_register_wh: int | None = None  # the event's first register (its Transaction.Begin, say)


@dataclass(slots=True)
class EventResult:
    transaction_id: int
    connector_id: int
    info: dict[str, Any] | None  # the id token's verdict, when the event carries one
    replayed: bool
    created: bool
    remote_start_id: int | None = None
    authorized: bool = False  # this event brought the token of a transaction started without one
    ended: Ended | None = None
    superseded: list[Ended] = field(default_factory=list)
    last_seq: int | None = None  # the highest seqNo stored for an open one (csms.store.known_201)
    needs_start: bool = False  # meter_start 0 and no register stored yet


def transaction_event(req: EventRequest, accept_unknown: bool, stale_after: float = 0,
                      book: TagBook | None = None) -> Callable[[AsyncConnection], Awaitable[EventResult]]:
    """Writer operation: apply one TransactionEvent (see the module)."""

    async def op(conn: AsyncConnection) -> EventResult:
        # statements built once (_BY_STATION, ...): building and keying a statement per event was
        # most of an event's cost (bench/csms_load.py's 2.0.1 mix, profiled)
        row = (await conn.execute(_BY_STATION, {"cp": req.charge_point_id, "tx": req.station_transaction_id,
                                                "seq": req.seq_no})).first()
        token = req.id_token
        if row is not None:
            if row.seen_event is not None:  # the same event again: the same answer, nothing written
                info = await _verdict(conn, req, book, accept_unknown)
                if info is not None and token and token == (row.id_token or row.id_tag):
                    info["status"] = row.id_tag_status
                return EventResult(row.id, row.connector_id, info, True, False)
        result = await (_create(conn, req, book, accept_unknown, stale_after) if row is None
                        else _update(conn, row, req, book, accept_unknown, stale_after))
        await conn.execute(_EVENTS.insert(), event_row(result.transaction_id, req, now_utc()))
        if req.event_type == "Ended":
            result.ended = await _end(conn, result.transaction_id, req)
        elif result.created:  # its only event
            result.last_seq = req.seq_no
        else:  # the highest stored before this one, or this one
            result.last_seq = max(req.seq_no, -1 if row is None or row.last_seq_no is None else row.last_seq_no)
        return result

    return op


async def _verdict(conn: AsyncConnection, req: EventRequest, book: TagBook | None, accept_unknown: bool,
                   for_start: bool = False, stale_after: float = 0) -> dict[str, Any] | None:
    """The event's token's verdict (the 1.6 rules), Accepted for NoAuthorization, None without one."""
    if req.no_authorization:
        return {"status": "Accepted"}
    if req.id_token:
        return await id_tag_info(conn, req.id_token, accept_unknown, for_start=for_start, stale_after=stale_after,
                                 book=book)
    return None


def event_row(transaction_id: int, req: EventRequest, received_at: datetime) -> dict[str, Any]:
    """The transaction_events row of ``req`` (every column: one shape for multi-row inserts)."""
    return {"transaction_id": transaction_id, "seq_no": req.seq_no, "event_type": req.event_type,
            "trigger_reason": req.trigger_reason, "timestamp": req.timestamp,
            "offline": req.offline, "received_at": received_at}


def _token_columns(token: str) -> dict[str, Any]:
    return {"id_tag": token[:ID_TAG_CHARS], "id_token": token}


async def _create(conn: AsyncConnection, req: EventRequest, book: TagBook | None, accept_unknown: bool,
                  stale_after: float) -> EventResult:
    connector = req.evse_id or 0
    superseded = await supersede(conn, req.charge_point_id, connector, req.timestamp) if req.evse_id else []
    info = await _verdict(conn, req, book, accept_unknown, True, stale_after)
    now = now_utc()
    result = await conn.execute(_TX.insert(), dict(
        charge_point_id=req.charge_point_id, connector_id=connector,
        **(_token_columns(req.id_token) if req.id_token else {"id_tag": "", "id_token": None}),
        id_tag_status=info["status"] if info else NO_TOKEN, meter_start=req.first_register_wh or 0,
        start_timestamp=req.timestamp, reservation_id=req.reservation_id,
        station_transaction_id=req.station_transaction_id, remote_start_id=req.remote_start_id,
        start_reason=req.trigger_reason,
        created_at=now, last_activity_at=now))
    key = result.inserted_primary_key
    assert key is not None
    if req.reservation_id is not None and info is not None and req.id_token:  # the reservation it used is over
        await use_reservation(conn, req.charge_point_id, req.reservation_id, int(key[0]), req.id_token or "", info)
    return EventResult(int(key[0]), connector, info, False, True, req.remote_start_id, superseded=superseded,
                       needs_start=req.first_register_wh is None)


async def _update(conn: AsyncConnection, row: Any, req: EventRequest, book: TagBook | None, accept_unknown: bool,
                  stale_after: float) -> EventResult:
    values: dict[str, Any] = {"last_activity_at": now_utc()}
    info = None
    authorized = False
    if req.id_token or req.no_authorization:
        if row.id_tag_status == NO_TOKEN:  # authorized after it started: the token's verdict is its
            info = await _verdict(conn, req, book, accept_unknown, True, stale_after)
            assert info is not None
            values.update(_token_columns(req.id_token) if req.id_token else {}, id_tag_status=info["status"])
            authorized = True
            reservation = req.reservation_id if req.reservation_id is not None else row.reservation_id
            if reservation is not None and req.id_token and await use_reservation(
                    conn, req.charge_point_id, reservation, row.id, req.id_token, info):
                values["reservation_id"] = reservation
        else:
            info = await _verdict(conn, req, book, accept_unknown)
            if req.id_token and not row.id_tag:  # started unchecked (NoAuthorization): the token is kept
                values.update(_token_columns(req.id_token))
    if req.evse_id and row.connector_id == 0:  # the EVSE named late (it may be left out at first)
        values["connector_id"] = req.evse_id
    if req.remote_start_id is not None and row.remote_start_id is None:
        values["remote_start_id"] = req.remote_start_id
    if req.first_register_wh is not None and row.meter_start == 0 and not await _has_reading(conn, row.id):
        values["meter_start"] = req.first_register_wh  # a Started without a reading: the first one is the start
    await _update_tx(conn, row.id, values)
    return EventResult(row.id, values.get("connector_id", row.connector_id), info, False, False,
                       values.get("remote_start_id", row.remote_start_id), authorized,
                       needs_start=row.meter_start == 0 and "meter_start" not in values
                       and req.first_register_wh is None)


_UPDATES: dict[tuple[str, ...], Any] = {}  # UPDATE statements by the columns they set


async def _update_tx(conn: AsyncConnection, transaction_id: int, values: dict[str, Any]) -> None:
    """``UPDATE transactions SET values WHERE id``: one statement per set of columns, kept."""
    columns = tuple(sorted(values))
    stmt = _UPDATES.get(columns)
    if stmt is None:
        stmt = _UPDATES[columns] = update(_TX).where(_TX.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in columns})
    await conn.execute(stmt, {**values, "_id": transaction_id})


async def _has_reading(conn: AsyncConnection, transaction_id: int) -> bool:
    """Whether an energy register of the transaction is stored (its earlier events' readings)."""
    return (await conn.execute(select(_MV.c.id).where(
        _MV.c.transaction_id == transaction_id, _MV.c.phase.is_(None),
        (_MV.c.measurand == REGISTER) | _MV.c.measurand.is_(None)).limit(1))).first() is not None


async def _end(conn: AsyncConnection, transaction_id: int, req: EventRequest) -> Ended:
    """The station's word on the end: final even over a provisional ending of ours."""
    tx = (await conn.execute(_BY_ID, {"tx": transaction_id})).one()
    reported = req.register_wh if req.register_wh is not None else (await last_reading(conn, tx))[0]
    meter_stop = max(reported, tx.meter_start)
    await _update_tx(conn, transaction_id, dict(
        meter_stop=meter_stop, stop_timestamp=req.timestamp, stop_reason=req.stopped_reason or "Local",
        stop_id_tag=req.id_token[:ID_TAG_CHARS] if req.id_token else None, end_source="charge_point"))
    return Ended(transaction_id, req.charge_point_id, tx.connector_id, meter_stop, req.timestamp, "charge_point")


async def gaps(conn: AsyncConnection, transaction_id: int) -> list[int]:
    """The sequence numbers missing between a transaction's first and last event."""
    seen = sorted(n for (n,) in (await conn.execute(select(_EVENTS.c.seq_no).where(
        _EVENTS.c.transaction_id == transaction_id))).all())
    present = set(seen)
    return [n for n in range(seen[0], seen[-1]) if n not in present] if seen else []
