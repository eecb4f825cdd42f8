"""Charge points: registry, live state, status history and the OCPP message log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.auth import require
from api.deps import ChargePoints, Paging, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.charge_points import (
    ChargePointCreate,
    ChargePointOut,
    ChargePointUpdate,
    MessageOut,
    Registered,
    Registration,
    StatusChange,
    Variables,
)
from csms.services.charge_points import UNSET

router = APIRouter(prefix="/api/v1/charge-points", tags=["charge-points"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
write = Depends(require("operator"))
UNKNOWN = {404: "`ChargePointNotFound`"}
Sort = Literal["id", "-id", "last_seen", "-last_seen", "vendor", "-vendor", "model", "-model", "online",
               "-online", "ocpp_version", "-ocpp_version", "firmware_version", "-firmware_version",
               "registration_status", "-registration_status", "created_at", "-created_at"]


@router.get("", summary="List charge points", dependencies=[read], response_model=Paged[ChargePointOut],
            response_model_exclude_unset=True, responses=declare({}))
async def list_charge_points(
    page: Paging, reads: Queries,
    online: Annotated[bool | None, Query(description="Only connected (true) or disconnected (false).")] = None,
    status: Annotated[str | None, Query(description=(
        "Only those with a connector in this status (Charging: also a 2.0.1 session charging)."))] = None,
    registration_status: Registration | None = None,
    q: Annotated[str | None, Query(description="Text search in id, vendor, model and serial numbers.")] = None,
    connectors: Annotated[bool, Query(description="Include each one's connectors (as the single charge "
                                                  "point has them): one query for the page.")] = False,
    sort: Annotated[Sort, Query(description="Order by this field; a leading `-`: descending. Ties "
                                            "by id; absent values last.")] = "id",
) -> dict[str, Any]:
    return await reads.charge_points.page_of(page, online=online, status=status,
                                          registration_status=registration_status, q=q, connectors=connectors,
                                          sort=sort)


@router.post("", status_code=201, summary="Pre-register a charge point", dependencies=[write],
             response_model=ChargePointOut,
             responses=declare({409: "`ChargePointExists`", 422: "`InvalidChargePointId`"}))
async def create_charge_point(body: ChargePointCreate, service: ChargePoints, reads: Queries) -> dict[str, Any]:
    await service.create(body.id, body.registration_status, body.password)
    return await reads.charge_points.get(body.id)


@router.get("/{charge_point_id}", summary="One charge point with its connectors", dependencies=[read],
            response_model=ChargePointOut, responses=declare(UNKNOWN))
async def get_charge_point(charge_point_id: str, reads: Queries) -> dict[str, Any]:
    return await reads.charge_points.get(charge_point_id)


@router.patch("/{charge_point_id}", summary="Change registration status, password or security profile",
              dependencies=[write], response_model=ChargePointOut,
              responses=declare({**UNKNOWN, 409: "`PasswordRequired`: profile 1 or 2 without a password; "
                                                "`TlsRequired` (profile 2 or 3 on a server without TLS), "
                                                "`ClientCaRequired` (profile 3 without a client CA)"}))
async def update_charge_point(charge_point_id: str, body: ChargePointUpdate, service: ChargePoints,
                              reads: Queries) -> dict[str, Any]:
    password = body.password if "password" in body.model_fields_set else UNSET
    version = body.ocpp_version if "ocpp_version" in body.model_fields_set else UNSET
    await service.update(charge_point_id, body.registration_status, password, body.security_profile, version)
    return await reads.charge_points.get(charge_point_id)


@router.delete("/{charge_point_id}", status_code=204, summary="Delete a charge point",
               dependencies=[write], response_class=Response, responses=declare(UNKNOWN))
async def delete_charge_point(charge_point_id: str, service: ChargePoints) -> Response:
    """Its transactions, meter values and message log are kept; a live socket is closed."""
    await service.delete(charge_point_id)
    return Response(status_code=204)


@router.post("/{charge_point_id}/accept", summary="Accept a Pending charge point", dependencies=[write],
             responses=declare(UNKNOWN))
async def accept(charge_point_id: str, service: ChargePoints) -> Registered:
    """Its next BootNotification is answered Accepted."""
    await service.accept(charge_point_id)
    return Registered(id=charge_point_id, registration_status="Accepted")


@router.get("/{charge_point_id}/status-history", summary="Connector status changes, newest first",
            dependencies=[read], response_model=Paged[StatusChange], responses=declare(UNKNOWN))
async def status_history(charge_point_id: str, page: Paging, reads: Queries,
                         connector_id: int | None = None) -> dict[str, Any]:
    return await reads.charge_points.status_history(charge_point_id, page, connector_id)


@router.get("/{charge_point_id}/messages", summary="The OCPP message log, newest first",
            dependencies=[read], response_model=Paged[MessageOut], responses=declare({}))
async def messages(charge_point_id: str, page: Paging, reads: Queries,
                   action: str | None = None, direction: Literal["in", "out"] | None = None,
                   since: Annotated[datetime | None, Query(description="From this time (ISO 8601).")] = None,
                   until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
                   ) -> dict[str, Any]:
    return await reads.charge_points.messages(charge_point_id, page, action=action, direction=direction,
                                              since=since, until=until)


@router.get("/{charge_point_id}/variables", summary="Its OCPP 2.0.1 device model", dependencies=[read],
            response_model=Variables, responses=declare(UNKNOWN))
async def variables(
        charge_point_id: str, reads: Queries,
        component: Annotated[str | None, Query(description="Only this component (e.g. OCPPCommCtrlr).")] = None,
        variable: Annotated[str | None, Query(description="Only this variable (e.g. HeartbeatInterval).")] = None,
) -> dict[str, Any]:
    """Every variable attribute the station reported (NotifyReport chains: send GetBaseReport) or
    confirmed (GetVariables, an accepted SetVariables), with its value and characteristics."""
    return {"charge_point_id": charge_point_id,
            "items": await reads.charge_points.variables(charge_point_id, component, variable)}
