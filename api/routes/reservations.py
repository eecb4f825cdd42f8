"""Reservations as a resource (Reservation profile): create sends ReserveNow, cancel sends
CancelReservation; the list shows each one's status and the transaction that used it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.auth import Caller, require
from api.deps import Paging, Queries, Reservations
from api.errors import body_schema, declare
from api.gate import GuardedRoute
from api.routes.commands import Wait, answered
from api.schemas import Paged
from api.schemas.security import CommandSummary, ReservationCreate, ReservationMade, ReservationOut, summary

router = APIRouter(prefix="/api/v1/reservations", tags=["reservations"], route_class=GuardedRoute)
Operator = Annotated[Caller, Depends(require("operator", "integrator"))]
read = Depends(require("operator", "integrator", "viewer"))


@router.post("", status_code=201, summary="Reserve a connector (ReserveNow)", response_model=ReservationMade,
             responses={202: {"description": "Recorded and sent, not waited for (`wait=0`): the "
                                              "reservation is `Requested` until the charge point answers",
                              "content": body_schema(ReservationMade)},
                        **declare({404: "`ChargePointNotFound`", 422: "`ExpiryInPast`"})})
async def create_reservation(body: ReservationCreate, caller: Operator, service: Reservations,
                             reads: Queries, response: Response, wait: Wait = 30) -> dict[str, Any]:
    """The reservation is recorded first (its id is the ``reservationId`` sent), then ReserveNow
    goes out with ``parentIdTag`` from the id tag when not given (to an OCPP 2.0.1 station: its
    ReserveNow, ``id`` the reservation's, ``evseId`` the connector given, 0 left out, and the
    parent as ``groupIdToken``). Its ``status`` is the charge
    point's answer (Accepted, Occupied, Faulted, Rejected, Unavailable), Unanswered when it timed
    out (the charge point may hold it: it can be cancelled), Failed when it was not delivered,
    Requested while not waited for (``wait=0``: 202)."""
    reservation_id, run = await service.create(body.charge_point_id, body.connector_id, body.id_tag,
                                               body.expiry_date, body.parent_id_tag, caller.who, wait,
                                               body.id_token_type)
    if run.outcome is None:
        response.status_code = 202
    return {"reservation": await reads.security.reservation(reservation_id), "command": summary(run)}


@router.get("", summary="Reservations, newest first", dependencies=[read],
            response_model=Paged[ReservationOut], responses=declare({}))
async def list_reservations(page: Paging, reads: Queries, charge_point_id: str | None = None,
                            status: str | None = None) -> dict[str, Any]:
    return await reads.security.reservations(page, charge_point_id=charge_point_id, status=status)


@router.get("/{reservation_id}", summary="One reservation", dependencies=[read],
            response_model=ReservationOut, responses=declare({404: "`ReservationNotFound`"}))
async def get_reservation(reservation_id: int, reads: Queries) -> dict[str, Any]:
    return await reads.security.reservation(reservation_id)


@router.post("/{reservation_id}/cancel", summary="Cancel a reservation (CancelReservation)",
             response_model=CommandSummary,
             responses=declare({404: "`ReservationNotFound`", 409: "`ReservationNotActive` or "
                                "`ChargePointOffline`", 502: "`CallError`", 504: "`Timeout`"}))
async def cancel_reservation(reservation_id: int, caller: Operator, service: Reservations,
                             wait: Wait = 30) -> CommandSummary:
    """Accepted by the charge point: the reservation is Cancelled. Rejected (it knows no such
    reservation): it stays as it was."""
    return summary(answered(await service.cancel(reservation_id, caller.who, max(wait, 1))))
