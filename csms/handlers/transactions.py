"""Authorize, StartTransaction, StopTransaction and MeterValues.

Transaction facts are awaited until committed before the charge point gets its answer: a charge
point deletes what it has been answered for, so an answer must mean the record is on disk.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from sqlalchemy import Table

from csms.handlers import handles
from csms.handlers.context import ChargePointLink, Services
from csms.store.models import MeterValue
from csms.store.starts import StartRequest, start_transaction
from csms.store.transactions import DEFAULT_STOP_REASON, StopRequest, stop_transaction
from csms.timeutil import parse_ts

_METER_VALUES = cast(Table, MeterValue.__table__)


def meter_rows(conn: ChargePointLink, connector_id: int, transaction_id: int | None,
               meter_values: list[dict[str, Any]], source: str
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per sampledValue, every column present (the writer inserts them in one statement),
    and the same rows per meterValue element: ``{"timestamp", "samples"}``."""
    rows: list[dict[str, Any]] = []
    elements = []
    cp = conn.charge_point_id
    for mv in meter_values:
        ts = parse_ts(mv["timestamp"])
        samples = [{
            "charge_point_id": cp, "connector_id": connector_id,
            "transaction_id": transaction_id, "timestamp": ts, "value": sv["value"],
            "context": sv.get("context"), "format": sv.get("format"),
            "measurand": sv.get("measurand"), "phase": sv.get("phase"),
            "location": sv.get("location"), "unit": sv.get("unit"), "source": source,
            "outside_tx": None,
        } for sv in mv["sampledValue"]]
        rows.extend(samples)
        elements.append({"timestamp": ts, "samples": samples})
    return rows, elements


async def keep(ctx: Services, conn: ChargePointLink, table: Table, rows: list[dict[str, Any]]) -> None:
    """Store rows the answer vouches for. With durable answers (the default) the answer waits
    for everything queued before it (:meth:`Writer.durable`), so the rows join the log rows'
    multi-row inserts instead of costing a wait of their own (and if they fail, the answer is an
    InternalError: ``conn.vouch``); without, they are awaited here."""
    if ctx.settings.durable_answers:
        conn.vouch(ctx.writer.queue(table, rows))
    else:
        await ctx.writer.save(table, rows)


@handles("Authorize")
async def authorize(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return {"idTagInfo": await ctx.transactions.authorize(p["idTag"])}


@handles("StartTransaction")
async def start(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    req = StartRequest(conn.charge_point_id, p["connectorId"], p["idTag"], p["meterStart"],
                       parse_ts(p["timestamp"]), p.get("reservationId"))  # type: ignore[arg-type]
    result = await ctx.writer.run(start_transaction(
        req, ctx.settings.accept_unknown_id_tags, ctx.transactions.stale_after, ctx.transactions.tags))
    ctx.transactions.ended(result.superseded)
    if not result.replayed:
        ctx.transactions.started(result.transaction_id, conn.charge_point_id, req.timestamp)
        # published once the answer is sent: whoever hears of the transaction (an integrator that
        # stops it at once, through another node) must not reach the charge point before its id
        conn.after_answer(partial(
            ctx.events.publish, "transaction_started", conn.charge_point_id,
            transaction_id=result.transaction_id, connector_id=req.connector_id, id_tag=req.id_tag,
            id_tag_status=result.info["status"], meter_start=req.meter_start))
        if ctx.energy.watches(conn.charge_point_id):  # its share names the id: sent after the answer
            conn.after_answer(partial(ctx.energy.started, conn.charge_point_id, req.connector_id,
                                      result.transaction_id, None,
                                      (req.id_tag, result.info.get("parentIdTag"))))
    return {"transactionId": result.transaction_id, "idTagInfo": result.info}


@handles("StopTransaction")
async def stop(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    samples, _ = meter_rows(conn, 0, p["transactionId"], p.get("transactionData") or [],
                            "StopTransaction")
    req = StopRequest(conn.charge_point_id, p["transactionId"], p.get("idTag"), p["meterStop"],
                      parse_ts(p["timestamp"]), p.get("reason"), samples)  # type: ignore[arg-type]
    info, outcome = await ctx.writer.run(
        stop_transaction(req, ctx.settings.accept_unknown_id_tags, ctx.transactions.tags))
    if outcome in ("stopped", "corrected"):
        ctx.transactions.stopped(req.transaction_id, conn.charge_point_id, req.timestamp,
                                 req.meter_stop)
        ctx.events.publish("transaction_stopped" if outcome == "stopped" else
                           "transaction_corrected", conn.charge_point_id,
                           transaction_id=req.transaction_id, meter_stop=req.meter_stop,
                           reason=req.reason or DEFAULT_STOP_REASON, end_source="charge_point")
    return {} if info is None else {"idTagInfo": info}


@handles("MeterValues")
async def meter_values(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    tx_id = p.get("transactionId")
    rows, elements = meter_rows(conn, p["connectorId"], tx_id, p["meterValue"], "MeterValues")
    if tx_id is not None:
        await ctx.transactions.place(conn.charge_point_id, tx_id, elements)
    await keep(ctx, conn, _METER_VALUES, rows)
    if ctx.energy.watches(conn.charge_point_id) and p["meterValue"]:
        ctx.energy.observe(conn.charge_point_id, p["connectorId"], p["meterValue"][-1]["sampledValue"])
    return {}
