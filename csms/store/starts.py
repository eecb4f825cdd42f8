"""StartTransaction as a writer operation that the writer runs a batch of at once.

Why: in a start storm (10,000 stations starting 20,000 connectors) each start was an operation of
three awaited statements (what is open on the connector, the tag's live transactions, the insert),
~1.3 ms apiece, and every answer waiting for that commit waited for all of them. The starts a
batch holds side by side (:meth:`csms.store.writer.Writer.run` keeps them together until another
operation) are judged here with one read of their connectors, one of their tags and one of their
tags' open transactions, and inserted as one multi-row INSERT.

The result is the one each start would get run alone, in queue order — with the rows the writer
queued among them (other stations' status, online flags, meter values) written first: no answer
leaves before the commit, so that is the order they could as well have arrived in, and a
station's own rows never follow its start in a batch (its next frame waits for the answer);
operations of other kinds end the run, and run in queue order. A start that needs more
than the common case (a replay, an open transaction to supersede, a reservation) or that touches
what an earlier start of the batch touched (its connector, its tag, or a tag whose transaction an
earlier start superseded) runs alone (:func:`_start_one`) after what came before it is written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from common.sqlite_driver import sqlite_datetime
from csms.store.endings import Ended, accepted_open, is_live, supersede_rows
from csms.store.id_tag_book import TagBook, TagRow, read_tags
from csms.store.models import Transaction, table
from csms.store.reservations import use_reservation
from csms.store.transactions import id_tag_info, tag_info
from csms.timeutil import now_utc

_TX = table(Transaction)
# starts judged per read: bounds a statement's parameters and its OR terms (two a start; SQLite
# refuses an expression deeper than 1,000, so never above ~490)
CHUNK = 200


@dataclass(slots=True)
class StartRequest:
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    timestamp: datetime
    reservation_id: int | None


@dataclass(slots=True)
class StartResult:
    transaction_id: int
    info: dict[str, Any]
    replayed: bool
    superseded: list[Ended]


class StartOp:
    """Writer operation: the transaction id and idTagInfo for a StartTransaction.

    A replay (same charge point, connector, tag, timestamp and meterStart) returns the first id.
    A tag that is not accepted still gets a transaction id, as OCPP 1.6 requires. An older
    transaction still open on the connector is over (superseded) before the tag is counted.
    """

    __slots__ = ("req", "accept_unknown", "stale_after", "book")

    def __init__(self, req: StartRequest, accept_unknown: bool, stale_after: float,
                 book: TagBook | None) -> None:
        self.req = req
        self.accept_unknown = accept_unknown
        self.stale_after = stale_after
        self.book = book

    async def __call__(self, conn: AsyncConnection) -> StartResult:
        return (await start_many(conn, [self]))[0]

    @staticmethod
    async def many(conn: AsyncConnection, ops: Sequence[StartOp]) -> list[StartResult]:
        """What the writer calls for a batch's consecutive starts."""
        return await start_many(conn, ops)


def start_transaction(req: StartRequest, accept_unknown: bool, stale_after: float = 0,
                      book: TagBook | None = None) -> StartOp:
    """Writer operation for one StartTransaction (see :class:`StartOp`)."""
    return StartOp(req, accept_unknown, stale_after, book)


async def start_many(conn: AsyncConnection, ops: Sequence[StartOp]) -> list[StartResult]:
    """The results of ``ops``, as if each ran alone in order (see the module)."""
    results: list[StartResult] = []
    for first in range(0, len(ops), CHUNK):
        results += await _chunk(conn, ops[first:first + CHUNK])
    return results


class _Judged:
    """A chunk's reads: connectors' rows, tags' rows and their accepted open transactions."""

    def __init__(self, by_pair: dict[tuple[str, int], list[str]], tags: dict[str, TagRow | None],
                 running: dict[str, list[Any]]) -> None:
        self.by_pair = by_pair
        self.tags = tags
        self.running = running
        self.touched_pairs: set[tuple[str, int]] = set()
        self.touched_tags: set[str] = set()

    @classmethod
    async def read(cls, conn: AsyncConnection, ops: Sequence[StartOp]) -> _Judged:
        by_pair: dict[tuple[str, int], list[str]] = {}
        found: list[Any] = list(await conn.exec_driver_sql(*_lookup(conn, ops)))
        for cp_id, connector_id, id_tag in found:
            by_pair.setdefault((cp_id, connector_id), []).append(id_tag)
        names = list({op.req.id_tag for op in ops})
        book = ops[0].book
        tags: dict[str, TagRow | None] = (
            await book.rows(names, conn) if book is not None else dict(await read_tags(conn, names)))
        accepted = [name for name in names if (row := tags.get(name)) is not None and row.status == "Accepted"]
        return cls(by_pair, tags, await accepted_open(conn, accepted) if accepted else {})

    def simple(self, req: StartRequest) -> bool:
        """Nothing but a new row: no replay, nothing open on the connector, no reservation, and
        nothing an earlier start of the batch changed."""
        pair = (req.charge_point_id, req.connector_id)
        if req.reservation_id is not None or pair in self.touched_pairs or req.id_tag in self.touched_tags:
            return False
        # any row read for the connector is open or may be this start's first sending: alone
        return pair not in self.by_pair

    def touched(self, req: StartRequest) -> None:
        """Later starts on this connector, or with this tag or the tag of what it superseded,
        must see this one's writes: they run alone. Only a known tag's starts are counted (an
        unknown one accepted by the settings is never ConcurrentTx), so only they matter."""
        pair = (req.charge_point_id, req.connector_id)
        self.touched_pairs.add(pair)
        for name in (req.id_tag, *self.by_pair.get(pair, ())):
            if self.tags.get(name) is not None:
                self.touched_tags.add(name)


def _lookup(conn: AsyncConnection, ops: Sequence[StartOp]) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters for (charge point, connector, tag) of the rows that make a start not
    simple: open on its connector, or its first sending (a replay). Written out as one OR term
    per question, so that each is an index lookup on SQLite and PostgreSQL alike (a row-value IN
    list scans the table on SQLite; SQLAlchemy takes ~0.2 ms a start to build and compile it)."""
    sqlite = conn.dialect.paramstyle == "qmark"
    terms, params = [], []
    for op in ops:
        req = op.req
        at = sqlite_datetime(req.timestamp) if sqlite else req.timestamp
        params += [req.charge_point_id, req.connector_id,
                   req.charge_point_id, req.connector_id, req.id_tag, at, req.meter_start]
        terms.append("(charge_point_id = ? AND connector_id = ? AND stop_timestamp IS NULL) OR (charge_point_id"
                     " = ? AND connector_id = ? AND id_tag = ? AND start_timestamp = ? AND meter_start = ?)")
    sql = f"SELECT charge_point_id, connector_id, id_tag FROM {_TX.name} WHERE " + " OR ".join(terms)
    return _marked(conn, sql), tuple(params)


def _marked(conn: AsyncConnection, sql: str) -> str:
    """``sql`` written with ``?`` in the driver's placeholder style."""
    style = conn.dialect.paramstyle
    if style in ("numeric_dollar", "numeric"):
        marks, sign = itertools.count(1), "$" if style == "numeric_dollar" else ":"
        return re.sub(r"\?", lambda _: f"{sign}{next(marks)}", sql)
    return sql if style == "qmark" else sql.replace("?", "%s")


async def _chunk(conn: AsyncConnection, ops: Sequence[StartOp]) -> list[StartResult]:
    judged = await _Judged.read(conn, ops)
    results: list[StartResult | None] = [None] * len(ops)
    pending: list[tuple[int, dict[str, Any]]] = []
    now = now_utc()
    for index, op in enumerate(ops):
        req = op.req
        if not judged.simple(req):
            await _insert(conn, ops, pending, results)
            results[index] = await _start_one(conn, op)
        else:
            row = judged.tags.get(req.id_tag)
            info = tag_info(row, op.accept_unknown)
            if row is not None and info["status"] == "Accepted":
                live = sum(1 for tx in judged.running.get(req.id_tag, ()) if is_live(tx, now, op.stale_after))
                if live >= (row.max_concurrent_tx or 1):
                    info["status"] = "ConcurrentTx"
            pending.append((index, info))
        judged.touched(req)
    await _insert(conn, ops, pending, results)
    return [result for result in results if result is not None]


async def _insert(conn: AsyncConnection, ops: Sequence[StartOp], pending: list[tuple[int, dict[str, Any]]],
                  results: list[StartResult | None]) -> None:
    """One multi-row INSERT of the simple starts judged so far; their ids in their order."""
    if not pending:
        return
    now = now_utc()
    at = sqlite_datetime if conn.dialect.paramstyle == "qmark" else (lambda value: value)
    params: list[Any] = []
    for index, info in pending:
        req = ops[index].req
        params += [req.charge_point_id, req.connector_id, req.id_tag, info["status"], req.meter_start,
                   at(req.timestamp), at(now), at(now)]
    sql = (f"INSERT INTO {_TX.name} (charge_point_id, connector_id, id_tag, id_tag_status, meter_start, "
           "start_timestamp, created_at, last_activity_at) VALUES "
           + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(pending))
           + " RETURNING id, charge_point_id, connector_id")
    # a connector is in ``pending`` once (a second start there runs alone): it names the row
    inserted: list[Any] = list(await conn.exec_driver_sql(_marked(conn, sql), tuple(params)))
    ids = {(cp_id, connector_id): tx_id for tx_id, cp_id, connector_id in inserted}
    for index, info in pending:
        req = ops[index].req
        results[index] = StartResult(int(ids[req.charge_point_id, req.connector_id]), info, False, [])
    pending.clear()


async def _start_one(conn: AsyncConnection, op: StartOp) -> StartResult:
    """One start, every case: a replay, a connector to free, a reservation to use."""
    req = op.req
    # one read for both questions: is this a replay, and what is still open on the connector
    same = and_(_TX.c.id_tag == req.id_tag, _TX.c.start_timestamp == req.timestamp,
                _TX.c.meter_start == req.meter_start)
    rows = (await conn.execute(
        select(_TX, same.label("replay")).where(
            _TX.c.charge_point_id == req.charge_point_id, _TX.c.connector_id == req.connector_id,
            or_(_TX.c.stop_timestamp.is_(None), same)).order_by(_TX.c.id)
    )).all()
    existing = next((row for row in rows if row.replay), None)
    if existing is not None:
        info = await id_tag_info(conn, req.id_tag, op.accept_unknown, book=op.book)
        info["status"] = existing.id_tag_status
        return StartResult(existing.id, info, True, [])
    superseded = await supersede_rows(conn, [row for row in rows if row.stop_timestamp is None],
                                      req.connector_id, req.timestamp)
    info = await id_tag_info(conn, req.id_tag, op.accept_unknown, for_start=True,
                             stale_after=op.stale_after, book=op.book)
    now = now_utc()
    result = await conn.execute(_TX.insert().values(
        charge_point_id=req.charge_point_id, connector_id=req.connector_id, id_tag=req.id_tag,
        id_tag_status=info["status"], meter_start=req.meter_start,
        start_timestamp=req.timestamp, reservation_id=req.reservation_id,
        created_at=now, last_activity_at=now,
    ))
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row has one
    if req.reservation_id is not None:  # the reservation it used is over (one transaction)
        await use_reservation(conn, req.charge_point_id, req.reservation_id, int(key[0]),
                              req.id_tag, info)
    return StartResult(int(key[0]), info, False, superseded)
