"""Id-tag authorization and the transaction lifecycle, as operations run by the writer.

Both run inside the writer's transaction, in queue order, so two connectors starting with one tag
at the same moment see each other (ConcurrentTx) and a replayed StartTransaction finds its row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import IdTag, MeterValue, StopRecord, Transaction
from csms.timeutil import iso, now_utc, utc

_TX = Transaction.__table__
_TAGS = IdTag.__table__


@dataclass(slots=True)
class StartRequest:
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    timestamp: datetime
    reservation_id: int | None


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
                      for_start: bool = False) -> dict[str, Any]:
    """The ``idTagInfo`` the central system answers for ``id_tag``.

    Unknown tags are Invalid unless ``accept_unknown``; an Accepted tag past its expiry is Expired;
    at a StartTransaction an Accepted tag already in ``max_concurrent_tx`` running transactions
    (one when unset) is ConcurrentTx.
    """
    row = (await conn.execute(select(_TAGS).where(_TAGS.c.id_tag == id_tag))).first()
    if row is None:
        return {"status": "Accepted" if accept_unknown else "Invalid"}
    status = row.status
    expiry = utc(row.expiry_date)
    if status == "Accepted" and expiry is not None and expiry <= now_utc():
        status = "Expired"
    if status == "Accepted" and for_start:
        running = (await conn.execute(
            select(func.count()).select_from(_TX)
            .where(_TX.c.id_tag == id_tag, _TX.c.stop_timestamp.is_(None))
        )).scalar_one()
        if running >= (row.max_concurrent_tx or 1):
            status = "ConcurrentTx"
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = iso(expiry)
    if row.parent_id_tag:
        info["parentIdTag"] = row.parent_id_tag
    return info


StartResult = tuple[int, dict[str, Any], bool]
StopResult = tuple[dict[str, Any] | None, str]


def start_transaction(req: StartRequest, accept_unknown: bool
                      ) -> Callable[[AsyncConnection], Awaitable[StartResult]]:
    """Writer operation: the transaction id and idTagInfo for a StartTransaction.

    A replay (same charge point, connector, tag, timestamp and meterStart) returns the first id.
    A tag that is not accepted still gets a transaction id, as OCPP 1.6 requires.
    """

    async def op(conn: AsyncConnection) -> StartResult:
        existing = (await conn.execute(
            select(_TX.c.id, _TX.c.id_tag_status).where(
                _TX.c.charge_point_id == req.charge_point_id, _TX.c.connector_id == req.connector_id,
                _TX.c.id_tag == req.id_tag, _TX.c.start_timestamp == req.timestamp,
                _TX.c.meter_start == req.meter_start)
        )).first()
        if existing is not None:
            info = await id_tag_info(conn, req.id_tag, accept_unknown)
            info["status"] = existing.id_tag_status
            return existing.id, info, True
        info = await id_tag_info(conn, req.id_tag, accept_unknown, for_start=True)
        result = await conn.execute(_TX.insert().values(
            charge_point_id=req.charge_point_id, connector_id=req.connector_id, id_tag=req.id_tag,
            id_tag_status=info["status"], meter_start=req.meter_start,
            start_timestamp=req.timestamp, reservation_id=req.reservation_id,
            created_at=now_utc(),
        ))
        return int(result.inserted_primary_key[0]), info, False

    return op


def stop_transaction(req: StopRequest, accept_unknown: bool
                     ) -> Callable[[AsyncConnection], Awaitable[StopResult]]:
    """Writer operation: close the transaction, keep its transactionData; never fail.

    A stop for an unknown transaction, or a different stop for an already stopped one, is kept
    in ``stop_records``; an exact replay of the stop that closed it adds nothing.
    Returns (idTagInfo or None, what happened: "stopped" | "replayed" | "unknown" | "already_stopped").
    """

    async def op(conn: AsyncConnection) -> StopResult:
        tx = (await conn.execute(select(_TX).where(
            _TX.c.id == req.transaction_id, _TX.c.charge_point_id == req.charge_point_id)
        )).first()
        info = await id_tag_info(conn, req.id_tag, accept_unknown) if req.id_tag else None
        if tx is not None and tx.stop_timestamp is None:
            await conn.execute(update(_TX).where(_TX.c.id == tx.id).values(
                meter_stop=req.meter_stop, stop_timestamp=req.timestamp, stop_reason=req.reason,
                stop_id_tag=req.id_tag))
            outcome = "stopped"
        elif (tx is not None and tx.meter_stop == req.meter_stop
              and utc(tx.stop_timestamp) == req.timestamp):
            return info, "replayed"
        else:
            outcome = "unknown" if tx is None else "already_stopped"
            await conn.execute(StopRecord.__table__.insert().values(
                charge_point_id=req.charge_point_id, transaction_id=req.transaction_id,
                kind=outcome, id_tag=req.id_tag, meter_stop=req.meter_stop,
                timestamp=req.timestamp, reason=req.reason, received_at=now_utc()))
        if req.samples:
            for sample in req.samples:
                if tx is None:
                    sample["transaction_id"] = None
                else:
                    sample["connector_id"] = tx.connector_id
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            await conn.execute(insert(MeterValue.__table__).on_conflict_do_nothing(), req.samples)
        return info, outcome

    return op
