"""OCPP 2.0.1 TransactionEvent and MeterValues: transactions and their meter values in the same
tables as 1.6's (:mod:`csms.store.transactions_201`), answered once committed, as 1.6's are."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any, cast

from sqlalchemy import Table

from csms.handlers.context import ChargePointLink, Services
from csms.handlers.transactions import keep, meter_rows
from csms.handlers.v201 import handles, token_info
from csms.store.endings import REGISTER, register_wh
from csms.store.known_201 import apply_known, remember
from csms.store.models import MeterValue, Transaction
from csms.store.transactions_201 import EventRequest, transaction_event
from csms.timeutil import parse_ts

_TX = cast(Table, Transaction.__table__)
_METER_VALUES = cast(Table, MeterValue.__table__)


MAX_DIGITS = 30  # a sampled value's text past this: exponent notation (a multiplier is unbounded)


def scaled(value: float, multiplier: int) -> str:
    """``value`` × 10^``multiplier`` as exact decimal text: no digit of a lifetime register lost
    to float rounding or an exponent (12345678.9 stays 12345678.9, 1.1 kWh at 3 is 1100). The
    schema bounds no multiplier: a value that would be longer than :data:`MAX_DIGITS` digits is
    kept in exponent notation (1E+999990), exact and short, never megabytes of zeros."""
    number = (Decimal(repr(value)) if isinstance(value, float) else Decimal(value)).scaleb(multiplier)
    if number.adjusted() >= MAX_DIGITS or (number and number.adjusted() <= -MAX_DIGITS):
        return format(number.normalize(), "E")
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def as_16(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """2.0.1 meterValue elements in 1.6's shape, the one the meter_values table keeps: the value
    as text with its multiplier applied, the unit from unitOfMeasure (absent: Wh, as both say)."""
    found = []
    for mv in meter_values:
        samples = []
        for sv in mv["sampledValue"]:
            unit = sv.get("unitOfMeasure") or {}
            samples.append({"value": scaled(sv["value"], unit.get("multiplier", 0)),
                            "context": sv.get("context"), "measurand": sv.get("measurand"),
                            "phase": sv.get("phase"), "location": sv.get("location"), "unit": unit.get("unit")})
        found.append({"timestamp": mv["timestamp"], "sampledValue": samples})
    return found


def registers(meter_values: list[dict[str, Any]]) -> list[int]:
    """The total energy registers among the samples, in Wh, in order (a sample without a
    measurand is one: it is the default in both versions)."""
    found = []
    for mv in meter_values:
        for sv in mv["sampledValue"]:
            if (sv.get("measurand") or REGISTER) == REGISTER and sv.get("phase") is None:
                wh = register_wh(sv["value"], sv.get("unit"))
                if wh is not None:
                    found.append(int(wh))
    return found


@handles("TransactionEvent")
async def transaction_event_201(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    info = p["transactionInfo"]
    samples = as_16(p.get("meterValue") or [])
    evse = p.get("evse") or {}
    token = p.get("idToken")
    unchecked = token is not None and token["type"] == "NoAuthorization"  # an idToken that is none: Accepted
    timestamp = parse_ts(p["timestamp"])
    assert timestamp is not None  # the schema requires it
    readings = registers(samples)
    req = EventRequest(
        conn.charge_point_id, p["eventType"], info["transactionId"], p["seqNo"], timestamp,
        p["triggerReason"], evse.get("id"), token["idToken"] if token and not unchecked else None,
        readings[-1] if readings else None, info.get("stoppedReason"), info.get("remoteStartId"),
        p.get("reservationId"), bool(p.get("offline")), unchecked, readings[0] if readings else None)
    known = conn.open_transactions.get(req.station_transaction_id) if conn.open_transactions else None
    if known is not None and known.admits(req):
        result = apply_known(ctx.writer, known, req, conn.vouch)  # no query: queued with the log rows
    else:
        result = await ctx.writer.run(transaction_event(req, ctx.settings.accept_unknown_id_tags,
                                                        ctx.transactions.stale_after, ctx.transactions.tags))
        if conn.open_transactions is None:
            conn.open_transactions = {}
        remember(conn.open_transactions, req, result)
    ctx.transactions.ended(result.superseded)
    tx_id = result.transaction_id
    if result.created:
        ctx.transactions.started(tx_id, conn.charge_point_id, timestamp)
        ctx.events.publish("transaction_started", conn.charge_point_id, transaction_id=tx_id,
                           connector_id=result.connector_id, id_tag=req.id_token,
                           id_tag_status=result.info["status"] if result.info else None,
                           station_transaction_id=req.station_transaction_id,
                           remote_start_id=result.remote_start_id)
        if ctx.energy.watches(conn.charge_point_id):  # its share names the id: sent after the answer
            conn.after_answer(partial(ctx.energy.started, conn.charge_point_id, result.connector_id, tx_id,
                                      req.station_transaction_id,
                                      (req.id_token, (result.info or {}).get("parentIdTag"))))
    elif result.authorized and result.info is not None:  # started at plug-in, the token came now
        ctx.events.publish("transaction_authorized", conn.charge_point_id, transaction_id=tx_id,
                           connector_id=result.connector_id, id_tag=req.id_token,
                           id_tag_status=result.info["status"],
                           station_transaction_id=req.station_transaction_id,
                           remote_start_id=result.remote_start_id)
    if samples and not result.replayed:
        rows, elements = meter_rows(conn, result.connector_id, tx_id, samples, "TransactionEvent")
        await ctx.transactions.place(conn.charge_point_id, tx_id, elements)
        await keep(ctx, conn, _METER_VALUES, rows)
    if ctx.energy.watches(conn.charge_point_id) and result.ended is None:
        ctx.energy.observe(conn.charge_point_id, result.connector_id,
                           samples[-1]["sampledValue"] if samples else None, info.get("chargingState"))
    if result.ended is not None:
        ctx.transactions.ended([result.ended])
    elif info.get("chargingState") is not None:
        note_charging_state(ctx, conn, req.station_transaction_id, tx_id, info["chargingState"])
    answer: dict[str, Any] = {}
    if token is not None and result.info is not None:
        answer["idTokenInfo"] = token_info(result.info)
    return answer


def note_charging_state(ctx: Services, conn: ChargePointLink, station_tx: str, tx_id: int, state: str) -> None:
    """Keep an open transaction's chargingState (Charging, SuspendedEV, …): a 2.0.1 connector's
    status says only Occupied, so this is what tells the network's totals it is charging. Written
    when it changes, not with every event that repeats it."""
    known = conn.open_transactions.get(station_tx) if conn.open_transactions else None
    if known is not None and known.charging_state == state:
        return
    ctx.writer.update(_TX, "id", {"id": tx_id, "charging_state": state})
    if known is not None:
        known.charging_state = state


@handles("MeterValues")
async def meter_values_201(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """Meter values of an EVSE outside any transaction's events (clock-aligned, say)."""
    samples = as_16(p["meterValue"])
    rows, _ = meter_rows(conn, p["evseId"], None, samples, "MeterValues")
    await keep(ctx, conn, _METER_VALUES, rows)
    if ctx.energy.watches(conn.charge_point_id) and samples:
        ctx.energy.observe(conn.charge_point_id, p["evseId"], samples[-1]["sampledValue"])
    return {}
