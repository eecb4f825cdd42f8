"""Charge points: registry, live state, status history and the OCPP message log."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, or_, select, update

from api.auth import require
from api.deps import Page, central, jsonable, page_params, paginate
from api.errors import ApiError
from api.gate import GuardedRoute
from csms.central import CentralSystem
from common.passwords import hash_password
from csms.server import valid_id
from csms.store.models import ChargePoint, Connector, Message, StatusHistory
from csms.timeutil import now_utc, utc

router = APIRouter(prefix="/api/v1/charge-points", tags=["charge-points"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
write = Depends(require("operator"))

_CP = ChargePoint.__table__
_CONN = Connector.__table__
_HIST = StatusHistory.__table__
_MSG = Message.__table__
_PUBLIC = [c for c in _CP.c if c.name != "password_hash"]

Registration = Literal["Accepted", "Pending", "Rejected"]
PASSWORD = Field(None, min_length=16, max_length=40,
                 description="HTTP Basic auth password (OCPP security profile 1, 16-40 characters); "
                             "null removes it.")


class ChargePointCreate(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="The chargePointId in the OCPP URL.")
    registration_status: Registration = "Accepted"
    password: str | None = PASSWORD

    model_config = {"json_schema_extra": {"examples": [
        {"id": "CP-0001", "registration_status": "Accepted", "password": "s3cret-s3cret-s3cret"}]}}


class ChargePointUpdate(BaseModel):
    registration_status: Registration | None = None
    password: str | None = PASSWORD

    model_config = {"json_schema_extra": {"examples": [
        {"registration_status": "Accepted"}, {"password": "rotated-password-0001"}]}}


def _shape(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["online"] = bool(data["online"])
    data["has_password"] = bool(data.pop("has_password", False))
    return data


async def _get(cs: CentralSystem, charge_point_id: str) -> dict[str, Any]:
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(*_PUBLIC, _CP.c.password_hash.isnot(None).label("has_password"))
                                  .where(_CP.c.id == charge_point_id))).first()
        if row is None:
            raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
        connectors = (await conn.execute(select(_CONN).where(_CONN.c.charge_point_id == charge_point_id)
                                         .order_by(_CONN.c.connector_id))).all()
    data = _shape(row)
    data["connectors"] = [_connector(c) for c in connectors]
    return data


@router.get("", summary="List charge points", dependencies=[read])
async def list_charge_points(
    page: Page = Depends(page_params), cs: CentralSystem = Depends(central),
    online: bool | None = Query(None, description="Only connected (true) or disconnected (false)."),
    status: str | None = Query(None, description="Only those with a connector in this status."),
    registration_status: Registration | None = None,
    q: str | None = Query(None, description="Text search in id, vendor, model and serial numbers."),
    connectors: bool = Query(False, description="Include each one's connectors (as the single "
                                                "charge point has them): one query for the page."),
) -> dict[str, Any]:
    query = select(*_PUBLIC, _CP.c.password_hash.isnot(None).label("has_password")).order_by(_CP.c.id)
    if online is not None:
        query = query.where(_CP.c.online.is_(online))
    if registration_status:
        query = query.where(_CP.c.registration_status == registration_status)
    if status:
        query = query.where(_CP.c.id.in_(select(_CONN.c.charge_point_id).where(_CONN.c.status == status)))
    if q:
        like = f"%{q}%"
        query = query.where(or_(*(col.ilike(like) for col in (
            _CP.c.id, _CP.c.vendor, _CP.c.model, _CP.c.charge_point_serial, _CP.c.charge_box_serial))))
    found = await paginate(cs.engine, query, page, _shape)
    if connectors:
        await _attach_connectors(cs, found["items"])
    return found


async def _attach_connectors(cs: CentralSystem, items: list[dict[str, Any]]) -> None:
    """Give every listed charge point its ``connectors`` (the dashboard's overview needs them)."""
    by_id: dict[str, list[dict[str, Any]]] = {item["id"]: [] for item in items}
    if by_id:
        async with cs.engine.connect() as conn:
            rows = (await conn.execute(select(_CONN).where(_CONN.c.charge_point_id.in_(list(by_id)))
                                       .order_by(_CONN.c.charge_point_id, _CONN.c.connector_id))).all()
        for row in rows:
            by_id[row.charge_point_id].append(_connector(row))
    for item in items:
        item["connectors"] = by_id[item["id"]]


def _connector(row: Any) -> dict[str, Any]:
    return {k: v for k, v in jsonable(row).items() if k != "charge_point_id"}


@router.post("", status_code=201, summary="Pre-register a charge point", dependencies=[write])
async def create_charge_point(body: ChargePointCreate, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    if not valid_id(body.id):
        raise ApiError(422, "InvalidChargePointId", "the id must be 1-48 printable ASCII characters, no '/'")
    hashed = await asyncio.to_thread(hash_password, body.password) if body.password else None
    async with cs.engine.begin() as conn:
        if (await conn.execute(select(_CP.c.id).where(_CP.c.id == body.id))).first():
            raise ApiError(409, "ChargePointExists", f"charge point {body.id!r} already exists")
        await conn.execute(_CP.insert().values(id=body.id, registration_status=body.registration_status,
                                               password_hash=hashed, online=False, created_at=now_utc()))
    cs.forget(body.id)
    return await _get(cs, body.id)


@router.get("/{charge_point_id}", summary="One charge point with its connectors", dependencies=[read])
async def get_charge_point(charge_point_id: str, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    return await _get(cs, charge_point_id)


@router.patch("/{charge_point_id}", summary="Change registration status or set/rotate the password",
              dependencies=[write])
async def update_charge_point(charge_point_id: str, body: ChargePointUpdate,
                              cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "password" in body.model_fields_set:
        values["password_hash"] = (await asyncio.to_thread(hash_password, body.password)
                                   if body.password else None)
    if body.registration_status is not None:
        if not await cs.set_registration(charge_point_id, body.registration_status):
            raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    if values:
        async with cs.engine.begin() as conn:
            result = await conn.execute(update(_CP).where(_CP.c.id == charge_point_id).values(values))
        cs.forget(charge_point_id)
        if not result.rowcount:
            raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    return await _get(cs, charge_point_id)


@router.delete("/{charge_point_id}", status_code=204, summary="Delete a charge point",
               dependencies=[write])
async def delete_charge_point(charge_point_id: str, cs: CentralSystem = Depends(central)) -> Response:
    """Its transactions, meter values and message log are kept; a live socket is closed."""
    async with cs.engine.begin() as conn:
        await conn.execute(delete(_CONN).where(_CONN.c.charge_point_id == charge_point_id))
        result = await conn.execute(delete(_CP).where(_CP.c.id == charge_point_id))
    cs.forget(charge_point_id)
    if not result.rowcount:
        raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    live = cs.router.local(charge_point_id)
    if live is not None:
        await live.ws.close(1000, "charge point deleted")
    return Response(status_code=204)


@router.post("/{charge_point_id}/accept", summary="Accept a Pending charge point", dependencies=[write])
async def accept(charge_point_id: str, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    """Its next BootNotification is answered Accepted."""
    if not await cs.set_registration(charge_point_id, "Accepted"):
        raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    return {"id": charge_point_id, "registration_status": "Accepted"}


@router.get("/{charge_point_id}/status-history", summary="Connector status changes, newest first",
            dependencies=[read])
async def status_history(charge_point_id: str, page: Page = Depends(page_params),
                         connector_id: int | None = None,
                         cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    await _get(cs, charge_point_id)
    query = select(_HIST).where(_HIST.c.charge_point_id == charge_point_id).order_by(_HIST.c.id.desc())
    if connector_id is not None:
        query = query.where(_HIST.c.connector_id == connector_id)
    return await paginate(cs.engine, query, page)


@router.get("/{charge_point_id}/messages", summary="The OCPP message log, newest first",
            dependencies=[read])
async def messages(charge_point_id: str, page: Page = Depends(page_params),
                   action: str | None = None, direction: Literal["in", "out"] | None = None,
                   since: datetime | None = Query(None, description="From this time (ISO 8601)."),
                   until: datetime | None = Query(None, description="Before this time (ISO 8601)."),
                   cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    query = select(_MSG).where(_MSG.c.charge_point_id == charge_point_id).order_by(_MSG.c.id.desc())
    if action:
        query = query.where(_MSG.c.action == action)
    if direction:
        query = query.where(_MSG.c.direction == direction)
    if since:
        query = query.where(_MSG.c.ts >= utc(since))
    if until:
        query = query.where(_MSG.c.ts < utc(until))
    await cs.writer.flush()
    return await paginate(cs.engine, query, page)
