"""Reads of what the 1.6 profiles beyond Core keep: security events, reservations, the certificates
the CA issued, the local list a charge point accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.pages import Page, jsonable, paginate
from csms.services.errors import NotFound
from csms.services.reservations import not_found as reservation_not_found
from csms.store.models import ChargePoint, table
from csms.store.security_models import ACTIVE_RESERVATION, IssuedCertificate, LocalListEntry, Reservation, SecurityEvent
from csms.store.writer import Writer
from csms.timeutil import now_utc, utc

_EVENTS = table(SecurityEvent)
_RESERVATIONS = table(Reservation)
_CERTS = table(IssuedCertificate)
_LIST = table(LocalListEntry)
_CP = table(ChargePoint)


def _reservation_columns() -> tuple[Any, ...]:
    """Every column, with an active reservation (Requested, Accepted, Unanswered) past its expiry
    as Expired: the charge point lets it lapse on its own, no message says so."""
    status = case((_RESERVATIONS.c.status.in_(ACTIVE_RESERVATION)
                   & (_RESERVATIONS.c.expiry_date <= now_utc()), "Expired"),
                  else_=_RESERVATIONS.c.status).label("status")
    return (*(c for c in _RESERVATIONS.c if c.name != "status"), status)


class SecurityQueries:
    """What the REST API shows of security events, reservations, certificates and local lists."""

    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        self._engine = engine
        self._writer = writer

    async def events(self, page: Page, *, charge_point_id: str | None = None,
                     event_type: str | None = None, source: str | None = None,
                     since: datetime | None = None) -> dict[str, Any]:
        """Newest first; what was recorded up to this call (the writer is flushed)."""
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        query = select(_EVENTS).order_by(_EVENTS.c.id.desc())
        if charge_point_id:
            query = query.where(_EVENTS.c.charge_point_id == charge_point_id)
        if event_type:
            query = query.where(_EVENTS.c.type == event_type)
        if source:
            query = query.where(_EVENTS.c.source == source)
        if since:
            query = query.where(_EVENTS.c.received_at >= utc(since))
        return await paginate(self._engine, query, page)

    async def reservations(self, page: Page, *, charge_point_id: str | None = None,
                           status: str | None = None) -> dict[str, Any]:
        """Newest first; ``status`` as shown (Expired included); what was recorded up to this
        call (the writer is flushed)."""
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        columns = _reservation_columns()
        inner = select(*columns).subquery()
        query = select(inner).order_by(inner.c.id.desc())
        if charge_point_id:
            query = query.where(inner.c.charge_point_id == charge_point_id)
        if status:
            query = query.where(inner.c.status == status)
        return await paginate(self._engine, query, page)

    async def reservation(self, reservation_id: int) -> dict[str, Any]:
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*_reservation_columns()).where(
                _RESERVATIONS.c.id == reservation_id))).first()
        if row is None:
            raise reservation_not_found(reservation_id)
        return jsonable(row)

    async def certificates(self, page: Page, *, charge_point_id: str | None = None) -> dict[str, Any]:
        """Newest first, without the PEM (:meth:`certificate` has it)."""
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        query = select(*(c for c in _CERTS.c if c.name != "certificate")).order_by(_CERTS.c.id.desc())
        if charge_point_id:
            query = query.where(_CERTS.c.charge_point_id == charge_point_id)
        return await paginate(self._engine, query, page)

    async def certificate(self, serial: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_CERTS).where(_CERTS.c.serial == serial.lower()))).first()
        if row is None:
            raise NotFound("CertificateNotFound", f"no certificate with serial {serial}")
        return jsonable(row)

    async def local_list(self, charge_point_id: str) -> dict[str, Any]:
        """The version and entries of the list the charge point accepted last (as far as the
        central system sent it)."""
        await self._writer.durable()  # what is queued; not the last-seen touches (many commits in a fleet)
        async with self._engine.connect() as conn:
            version = (await conn.execute(select(_CP.c.local_list_version).where(
                _CP.c.id == charge_point_id))).first()
            if version is None:
                raise NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
            entries = (await conn.execute(select(
                _LIST.c.id_tag, _LIST.c.status, _LIST.c.expiry_date, _LIST.c.parent_id_tag)
                .where(_LIST.c.charge_point_id == charge_point_id).order_by(_LIST.c.id_tag))).all()
        return {"charge_point_id": charge_point_id, "version": version[0],
                "entries": [jsonable(e) for e in entries]}
