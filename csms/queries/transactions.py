"""Reads of charging transactions: the filtered list, one with its meter values, a CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.errors import NotFound
from csms.store.endings import last_reading
from csms.store.models import MeterValue, Transaction, TransactionEvent, table
from csms.store.transactions_201 import gaps
from csms.store.writer import Writer
from csms.timeutil import utc

_TX = table(Transaction)
_MV = table(MeterValue)
_EVENTS = table(TransactionEvent)
# a row as it was recorded (not the live draw and register an open one keeps for the dashboard)
CSV_COLUMNS = [c.name for c in _TX.c if c.name not in ("power_w", "register_wh", "charging_state")] + ["energy_wh"]
CSV_CHUNK = 65536  # characters of CSV sent at once


def not_found(transaction_id: int) -> NotFound:
    return NotFound("TransactionNotFound", f"no transaction {transaction_id}")


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """Which transactions a list or an export holds (every field set must match)."""

    charge_point_id: str | None = None
    id_tag: str | None = None
    active: bool | None = None  # running (true) or finished (false)
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before

    def query(self) -> Select[Any]:
        query = select(_TX).order_by(_TX.c.id.desc())
        if self.charge_point_id:
            query = query.where(_TX.c.charge_point_id == self.charge_point_id)
        if self.id_tag:
            query = query.where(_TX.c.id_tag == self.id_tag)
        if self.active is not None:
            query = query.where(_TX.c.stop_timestamp.is_(None) if self.active else _TX.c.stop_timestamp.isnot(None))
        if self.since:
            query = query.where(_TX.c.start_timestamp >= utc(self.since))
        if self.until:
            query = query.where(_TX.c.start_timestamp < utc(self.until))
        return query


def _shape(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["active"] = data["stop_timestamp"] is None
    data["energy_wh"] = None if data["meter_stop"] is None else data["meter_stop"] - data["meter_start"]
    return data


async def _energy_so_far(conn: AsyncConnection, item: dict[str, Any]) -> None:
    """Fill a running transaction's energy: its latest register inside its window, as the
    detail and a closure without the charge point's word count it."""
    tx = SimpleNamespace(id=item["id"], meter_start=item["meter_start"],
                         start_timestamp=datetime.fromisoformat(item["start_timestamp"]))
    last, _ = await last_reading(conn, tx)
    item["energy_wh"] = last - item["meter_start"]


class TransactionQueries:
    """What the REST API shows of transactions."""

    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        self._engine = engine
        self._writer = writer

    async def page_of(self, page: Page, where: TransactionFilter) -> dict[str, Any]:
        """One page, newest first; a running transaction's energy is what its latest register
        inside its window says so far (as the detail shows it)."""
        found = await paginate(self._engine, where.query(), page, _shape)
        running = [item for item in found["items"] if item["energy_wh"] is None]
        if running:
            async with self._engine.connect() as conn:
                for item in running:
                    await _energy_so_far(conn, item)
        return found

    def csv(self, where: TransactionFilter) -> AsyncIterator[str]:
        """The filtered list as CSV (a header, then a row a transaction), in chunks: streamed
        from the database, so an export of years holds one chunk in memory at a time. The query
        is built now: a filter out of range raises before the first byte is answered."""
        return self._csv(where.query())

    async def _csv(self, query: Select[Any]) -> AsyncIterator[str]:
        buf = io.StringIO()
        out = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore")
        out.writeheader()
        async with self._engine.connect() as conn, self._engine.connect() as readings:
            result = await conn.stream(query)
            async for row in result:
                item = _shape(row)
                if item["energy_wh"] is None:
                    await _energy_so_far(readings, item)
                out.writerow(item)
                if buf.tell() > CSV_CHUNK:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    async def get(self, transaction_id: int) -> dict[str, Any]:
        """One transaction with every meter value handled so far (the queue is committed first);
        a running one's energy is what its latest register inside its window says."""
        await self._writer.flush()
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_TX).where(_TX.c.id == transaction_id))).first()
            if row is None:
                raise not_found(transaction_id)
            samples = (await conn.execute(select(_MV).where(_MV.c.transaction_id == transaction_id)
                                          .order_by(_MV.c.timestamp, _MV.c.id))).all()
            data = _shape(row)
            if data["energy_wh"] is None:  # as the list counts it, and a closure would
                await _energy_so_far(conn, data)
            if row.station_transaction_id is not None:  # 2.0.1: its events, and the ones missing
                events = (await conn.execute(select(_EVENTS).where(_EVENTS.c.transaction_id == transaction_id)
                                             .order_by(_EVENTS.c.seq_no))).all()
                data["events"] = [{k: v for k, v in jsonable(e).items() if k not in ("id", "transaction_id")}
                                  for e in events]
                data["seq_gaps"] = await gaps(conn, transaction_id)
        data["meter_values"] = [{k: v for k, v in jsonable(s).items()
                                 if k not in ("charge_point_id", "transaction_id")} for s in samples]
        data["samples_outside_window"] = sum(1 for s in samples if s.outside_tx)
        return data
