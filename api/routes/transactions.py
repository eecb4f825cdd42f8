"""Charging transactions with their meter values; CSV export for accounting."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select

from api.auth import Caller, require
from api.deps import Page, central, jsonable, page_params, paginate
from api.errors import ApiError
from api.gate import GuardedRoute
from csms.central import CentralSystem
from csms.store.models import MeterValue, Transaction
from csms.timeutil import utc
from csms.transactions import ClosingRefused, energy_so_far

router = APIRouter(prefix="/api/v1/transactions", tags=["transactions"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
_TX = Transaction.__table__
_MV = MeterValue.__table__


def _shape(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["active"] = data["stop_timestamp"] is None
    data["energy_wh"] = None if data["meter_stop"] is None else data["meter_stop"] - data["meter_start"]
    return data


def _filtered(charge_point_id: str | None, id_tag: str | None, active: bool | None,
              since: datetime | None, until: datetime | None) -> Select[Any]:
    query = select(_TX).order_by(_TX.c.id.desc())
    if charge_point_id:
        query = query.where(_TX.c.charge_point_id == charge_point_id)
    if id_tag:
        query = query.where(_TX.c.id_tag == id_tag)
    if active is not None:
        query = query.where(_TX.c.stop_timestamp.is_(None) if active else _TX.c.stop_timestamp.isnot(None))
    if since:
        query = query.where(_TX.c.start_timestamp >= utc(since))
    if until:
        query = query.where(_TX.c.start_timestamp < utc(until))
    return query


class Filters:
    """Query filters shared by the list and the CSV export."""

    def __init__(self, charge_point_id: str | None = None, id_tag: str | None = None,
                 active: bool | None = Query(None, description="Running (true) or finished (false)."),
                 since: datetime | None = Query(None, description="Started at or after (ISO 8601)."),
                 until: datetime | None = Query(None, description="Started before (ISO 8601).")) -> None:
        self.query = _filtered(charge_point_id, id_tag, active, since, until)


@router.get("", summary="List transactions, newest first", dependencies=[read])
async def list_transactions(page: Page = Depends(page_params), filters: Filters = Depends(),
                            cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    return await paginate(cs.engine, filters.query, page, _shape)


@router.get("/export.csv", summary="CSV export of the filtered list", dependencies=[read],
            response_class=StreamingResponse)
async def export_csv(filters: Filters = Depends(), cs: CentralSystem = Depends(central)) -> StreamingResponse:
    columns = [c.name for c in _TX.c] + ["energy_wh"]

    async def body():  # type: ignore[no-untyped-def]
        buf = io.StringIO()
        out = csv.DictWriter(buf, columns, extrasaction="ignore")
        out.writeheader()
        async with cs.engine.connect() as conn:
            result = await conn.stream(filters.query)
            async for row in result:
                out.writerow(_shape(row))
                if buf.tell() > 65536:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(body(), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})


@router.get("/{transaction_id}", summary="One transaction with its meter values", dependencies=[read])
async def get_transaction(transaction_id: int, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    await cs.writer.flush()
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(_TX).where(_TX.c.id == transaction_id))).first()
        if row is None:
            raise ApiError(404, "TransactionNotFound", f"no transaction {transaction_id}")
        samples = (await conn.execute(select(_MV).where(_MV.c.transaction_id == transaction_id)
                                      .order_by(_MV.c.timestamp, _MV.c.id))).all()
    data = _shape(row)
    data["meter_values"] = [{k: v for k, v in jsonable(s).items()
                             if k not in ("charge_point_id", "transaction_id")} for s in samples]
    data["samples_outside_window"] = sum(1 for s in samples if s.outside_tx)
    if data["energy_wh"] is None:  # running: what its latest register inside the window says
        data["energy_wh"] = energy_so_far(data["meter_start"], samples)
    return data


class CloseTransaction(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description=(
        "Why the transaction is closed without its charge point's StopTransaction (kept with it)."))
    meter_stop: int | None = Field(None, ge=0, le=2**53, description=(
        "The meter reading (Wh) to close it with; default: the last register known for it."))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "charger replaced; session ended on site", "meter_stop": 12840}]})


Operator = Annotated[Caller, Depends(require("operator"))]
Central = Annotated[CentralSystem, Depends(central)]


@router.post("/{transaction_id}/close", summary="Close a transaction its charge point will never stop",
             responses={404: {"description": "`TransactionNotFound`"},
                        409: {"description": "`TransactionNotActive`: it has ended already"}})
async def close_transaction(transaction_id: int, body: CloseTransaction, caller: Operator,
                            cs: Central) -> dict[str, Any]:
    """For a transaction left open by a charge point that forgot it: ends it now with
    ``end_source`` operator, the caller as ``ended_by`` and the reason as ``end_detail`` (the
    audit of who closed what and why), ``stop_reason`` Other and the last known register as
    ``meter_stop`` unless given. Its id tag is free again. Should the charge point's own
    StopTransaction arrive later, its figures replace these."""
    try:
        await cs.transactions.close(transaction_id, caller.name, body.reason, body.meter_stop)
    except ClosingRefused as exc:
        if exc.code == "unknown":
            raise ApiError(404, "TransactionNotFound", str(exc)) from None
        raise ApiError(409, "TransactionNotActive", str(exc)) from None
    return await get_transaction(transaction_id, cs)
