"""Charging transactions with their meter values; CSV export for accounting."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.auth import Caller, require
from api.deps import Paging, Queries, Transactions
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.transactions import CloseTransaction, TransactionDetail, TransactionOut
from csms.queries import TransactionFilter

router = APIRouter(prefix="/api/v1/transactions", tags=["transactions"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
Operator = Annotated[Caller, Depends(require("operator"))]


async def filters(charge_point_id: str | None = None, id_tag: str | None = None,
            active: Annotated[bool | None, Query(description="Running (true) or finished (false).")] = None,
            since: Annotated[datetime | None, Query(description="Started at or after (ISO 8601).")] = None,
            until: Annotated[datetime | None, Query(description="Started before (ISO 8601).")] = None,
            ) -> TransactionFilter:
    """Query filters shared by the list and the CSV export."""
    return TransactionFilter(charge_point_id, id_tag, active, since, until)


Filters = Annotated[TransactionFilter, Depends(filters)]


@router.get("", summary="List transactions, newest first", dependencies=[read],
            response_model=Paged[TransactionOut], responses=declare({}))
async def list_transactions(page: Paging, where: Filters, reads: Queries) -> dict[str, Any]:
    return await reads.transactions.page_of(page, where)


@router.get("/export.csv", summary="CSV export of the filtered list", dependencies=[read],
            response_class=StreamingResponse,
            responses={200: {"description": "One row per transaction, a header row first",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}, **declare({})})
async def export_csv(where: Filters, reads: Queries) -> StreamingResponse:
    return StreamingResponse(reads.transactions.csv(where), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})


@router.get("/{transaction_id}", summary="One transaction with its meter values", dependencies=[read],
            response_model=TransactionDetail, responses=declare({404: "`TransactionNotFound`"}))
async def get_transaction(transaction_id: int, reads: Queries) -> dict[str, Any]:
    return await reads.transactions.get(transaction_id)


@router.post("/{transaction_id}/close", summary="Close a transaction its charge point will never stop",
             response_model=TransactionDetail,
             responses=declare({404: "`TransactionNotFound`",
                                409: "`TransactionNotActive`: it has ended already",
                                422: "`MeterStopBelowStart`: a given meter_stop is below the "
                                     "transaction's meter_start (refused, never clamped)"}))
async def close_transaction(transaction_id: int, body: CloseTransaction, caller: Operator,
                            service: Transactions, reads: Queries) -> dict[str, Any]:
    """For a transaction left open by a charge point that forgot it: ends it now with
    ``end_source`` operator, the caller as ``ended_by`` and the reason as ``end_detail`` (the
    audit of who closed what and why: the token's name and id, its user), ``stop_reason`` Other
    and the last known register as ``meter_stop`` unless given (a given one is recorded in the
    detail with the register it replaced; one below the start is refused). Its id tag is free
    again. Should the charge point's own StopTransaction arrive later, its figures replace
    these."""
    await service.close(transaction_id, caller.who, body.reason, body.meter_stop)
    return await reads.transactions.get(transaction_id)
