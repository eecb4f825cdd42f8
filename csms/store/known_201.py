"""What a connection remembers of its station's open 2.0.1 transactions: the Updated fast path.

Most TransactionEvents are Updated events that change nothing of their transaction but its
events and readings (a meter value every few seconds, no token, nothing named late). Applying
one through :func:`csms.store.transactions_201.transaction_event` costs two SELECTs, an UPDATE and
an INSERT, awaited one after the other inside the writer's batch: at a fleet's rate that serial
work, not the CPU, bounds the central system. Here a connection keeps, per open transaction, the
few facts that decide whether an event needs that work at all; an event that does not is queued
as one row of a multi-row INSERT and answered once that is committed, as any answer is.

Why per connection: a station's transactions are written by its own events. Another node, or an
earlier socket, may have seen events this one has not, so what is known starts empty on every
connect and is learnt from the store by the first event of each transaction (the slow path).
What the central system changes on its own (an ending of ours, a sweep) needs no forgetting here:
an Updated event of such a transaction is stored as the slow path would store it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table

from csms.store.models import TransactionEvent
from csms.store.transactions_201 import EventRequest, EventResult, event_row
from csms.store.writer import Writer
from csms.timeutil import now_utc

_EVENTS = cast(Table, TransactionEvent.__table__)
MAX_KNOWN = 16  # open transactions remembered per connection (a station that never ends any)


@dataclass(slots=True)
class Known:
    """One open transaction as the store holds it after the events seen so far."""

    transaction_id: int
    connector_id: int
    remote_start_id: int | None
    last_seq: int  # the highest seqNo stored for it: a lower or equal one may be a replay
    needs_start: bool  # meter_start 0 and no register stored: a reading may still become its start
    charging_state: str | None = None  # the last chargingState written (a change costs one update)

    def admits(self, req: EventRequest) -> bool:
        """Whether ``req`` changes nothing but the events and readings (see the module): an
        Updated event, new by its seqNo, without a token, naming nothing the store lacks."""
        return (req.event_type == "Updated" and req.seq_no > self.last_seq
                and req.id_token is None and not req.no_authorization
                and not (req.evse_id and self.connector_id == 0)
                and not (req.remote_start_id is not None and self.remote_start_id is None)
                and not (req.first_register_wh is not None and self.needs_start))


def apply_known(writer: Writer, known: Known, req: EventRequest,
                vouch: Callable[[asyncio.Future[Any]], None]) -> EventResult:
    """Queue ``req``'s event row (the answer vouches for it) and note the transaction heard of;
    what the slow path answers."""
    now = now_utc()
    vouch(writer.queue(_EVENTS, [event_row(known.transaction_id, req, now)]))
    writer.touch_transaction(known.transaction_id, now)
    known.last_seq = req.seq_no
    return EventResult(known.transaction_id, known.connector_id, None, False, False, known.remote_start_id)


def remember(known: dict[str, Known], req: EventRequest, result: EventResult) -> None:
    """Keep (or forget) what the slow path learnt of ``req``'s transaction."""
    for ended in result.superseded:
        for key in [k for k, v in known.items() if v.transaction_id == ended.transaction_id]:
            del known[key]
    if result.ended is not None or result.last_seq is None:
        known.pop(req.station_transaction_id, None)
        return
    if req.station_transaction_id not in known and len(known) >= MAX_KNOWN:
        del known[next(iter(known))]  # the oldest: its station lost track of it, most likely
    known[req.station_transaction_id] = Known(
        result.transaction_id, result.connector_id, result.remote_start_id, result.last_seq,
        result.needs_start)
