"""Reads of charge points: the registry with live state, connectors, status history, message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.errors import NotFound
from csms.store.message_log import count_of, frames_of
from csms.store.models import (
    ChargePoint,
    Connector,
    DeviceVariable,
    EvseConnector,
    Message,
    StatusHistory,
    Transaction,
    table,
)
from csms.store.writer import Writer
from csms.timeutil import utc

_CP = table(ChargePoint)
_CONN = table(Connector)
_EVSE = table(EvseConnector)
_VARS = table(DeviceVariable)
_HIST = table(StatusHistory)
_MSG = table(Message)
_TX = table(Transaction)
# every column but the passwords' hashes; whether there is one is all a reader learns
_PUBLIC = (*(c for c in _CP.c if c.name not in ("password_hash", "password_pending_hash")),
           _CP.c.password_hash.isnot(None).label("has_password"),
           _CP.c.password_pending_hash.isnot(None).label("password_unsettled"))


# what a list may be sorted by (the API's name -> the column)
SORTS = {"id": "id", "last_seen": "last_seen", "vendor": "vendor", "model": "model", "online": "online",
         "ocpp_version": "ocpp_version", "firmware_version": "firmware_version",
         "registration_status": "registration_status", "created_at": "created_at"}


def not_found(charge_point_id: str) -> NotFound:
    return NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")


def _shape(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    data["online"] = bool(data["online"])
    data["has_password"] = bool(data.pop("has_password", False))
    return data


def _connector(row: Any) -> dict[str, Any]:
    return {k: v for k, v in jsonable(row).items() if k != "charge_point_id"}


class ChargePointQueries:
    """What the REST API shows of charge points."""

    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        self._engine = engine
        self._writer = writer

    async def get(self, charge_point_id: str) -> dict[str, Any]:
        """One charge point with its connectors; :class:`NotFound` for an unknown id."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_PUBLIC).where(_CP.c.id == charge_point_id))).first()
            if row is None:
                raise not_found(charge_point_id)
            connectors = (await conn.execute(select(_CONN).where(_CONN.c.charge_point_id == charge_point_id)
                                             .order_by(_CONN.c.connector_id))).all()
            evse_connectors = (await conn.execute(select(_EVSE).where(_EVSE.c.charge_point_id == charge_point_id)
                                                  .order_by(_EVSE.c.evse_id, _EVSE.c.connector_id))).all()
        data = _shape(row)
        data["connectors"] = [_connector(c) for c in connectors]
        evses: dict[int, list[dict[str, Any]]] = {}
        for c in evse_connectors:
            evses.setdefault(c.evse_id, []).append(
                {k: v for k, v in _connector(c).items() if k != "evse_id"})
        data["evses"] = [{"evse_id": evse, "connectors": found} for evse, found in evses.items()]
        return data

    async def variables(self, charge_point_id: str, component: str | None = None,
                        variable: str | None = None) -> list[dict[str, Any]]:
        """Its 2.0.1 device model as kept up to this call (the writer is flushed), by component,
        then variable; :class:`NotFound` for an unknown charge point."""
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        query = select(_VARS).where(_VARS.c.charge_point_id == charge_point_id).order_by(
            _VARS.c.component, _VARS.c.component_instance, _VARS.c.evse_id, _VARS.c.connector_id,
            _VARS.c.variable, _VARS.c.variable_instance, _VARS.c.attribute_type)
        if component:
            query = query.where(_VARS.c.component == component)
        if variable:
            query = query.where(_VARS.c.variable == variable)
        async with self._engine.connect() as conn:
            if (await conn.execute(select(_CP.c.id).where(_CP.c.id == charge_point_id))).first() is None:
                raise not_found(charge_point_id)
            found = (await conn.execute(query)).all()
        return [_connector(row) for row in found]

    async def page_of(self, page: Page, *, online: bool | None = None, status: str | None = None,
                   registration_status: str | None = None, q: str | None = None,
                   connectors: bool = False, sort: str = "id") -> dict[str, Any]:
        """One page in ``sort`` order (a column of :data:`SORTS`, ``-`` first: descending; ties
        by id); ``status``: those with a connector in it; ``q``: text in the id, vendor, model or
        serial numbers; ``connectors``: each with its connectors (one query)."""
        key = sort.removeprefix("-")
        column: ColumnElement[Any] = _CP.c[SORTS[key]]
        if key in ("vendor", "model"):  # as people read them: "chargebay" beside "Chargebay"
            column = func.lower(column)
        order = column.desc().nulls_last() if sort.startswith("-") else column.asc().nulls_last()
        query = select(*_PUBLIC).order_by(order, _CP.c.id)
        if online is not None:
            query = query.where(_CP.c.online.is_(online))
        if registration_status:
            query = query.where(_CP.c.registration_status == registration_status)
        if status:
            having: ColumnElement[bool] = _CP.c.id.in_(select(_CONN.c.charge_point_id).where(_CONN.c.status == status))
            if status == "Charging":  # a 2.0.1 connector says Occupied: its session's chargingState tells
                having = or_(having, _CP.c.id.in_(select(_TX.c.charge_point_id).where(
                    _TX.c.stop_timestamp.is_(None), _TX.c.charging_state == "Charging")))
            query = query.where(having)
        if q:
            like = f"%{q}%"
            query = query.where(or_(*(col.ilike(like) for col in (
                _CP.c.id, _CP.c.vendor, _CP.c.model, _CP.c.charge_point_serial, _CP.c.charge_box_serial))))
        found = await paginate(self._engine, query, page, _shape)
        if connectors:
            await self._attach_connectors(found["items"])
        return found

    async def _attach_connectors(self, items: list[dict[str, Any]]) -> None:
        """Give every listed charge point its ``connectors`` (the dashboard's overview needs them)."""
        by_id: dict[str, list[dict[str, Any]]] = {item["id"]: [] for item in items}
        if by_id:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(_CONN).where(_CONN.c.charge_point_id.in_(list(by_id)))
                                           .order_by(_CONN.c.charge_point_id, _CONN.c.connector_id))).all()
            for row in rows:
                by_id[row.charge_point_id].append(_connector(row))
        for item in items:
            item["connectors"] = by_id[item["id"]]

    async def status_history(self, charge_point_id: str, page: Page,
                             connector_id: int | None = None) -> dict[str, Any]:
        """Connector status changes, newest first; :class:`NotFound` for an unknown charge point."""
        await self.get(charge_point_id)
        query = select(_HIST).where(_HIST.c.charge_point_id == charge_point_id).order_by(_HIST.c.id.desc())
        if connector_id is not None:
            query = query.where(_HIST.c.connector_id == connector_id)
        return await paginate(self._engine, query, page)

    async def messages(self, charge_point_id: str, page: Page, *, action: str | None = None,
                       direction: str | None = None, since: datetime | None = None,
                       until: datetime | None = None) -> dict[str, Any]:
        """The OCPP message log, newest first, with every frame handled so far: the log is
        written without waiting, so the queue is committed before it is read."""
        where: list[ColumnElement[bool]] = []
        if action:
            where.append(_MSG.c.action == action)
        if direction:
            where.append(_MSG.c.direction == direction)
        if since:
            where.append(_MSG.c.ts >= utc(since))
        if until:
            where.append(_MSG.c.ts < utc(until))
        query = frames_of(charge_point_id, *where, newest=page.page * page.page_size)
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        return await paginate(self._engine, query, page, count=count_of(charge_point_id, *where))
