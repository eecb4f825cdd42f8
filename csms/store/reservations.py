"""Writer operations on reservations that do not start from the REST resource: a ``ReserveNow``
sent through the raw commands API, and a StartTransaction that names a reservation.

One id space: a reservation id is the ``reservationId`` a charge point holds, whoever chose it. A
raw ``ReserveNow`` with an id no row has is recorded under that id (so the list shows it and a
start naming it finds it), and the id allocator moves past it so the REST resource never hands
the same id out again, which the charge point would take as replacing the first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import table
from csms.store.security_models import ACTIVE_RESERVATION, Reservation
from csms.timeutil import now_utc, utc

_RESERVATIONS = table(Reservation)

Recorded = Literal["recorded", "replaced", "other_charge_point", "ended"]
# A reservation the charge point never held (refused, or never delivered): its id may be sent
# again, as a retry of it. One it held and that is over (Used, Cancelled, expired) keeps its row.
NEVER_HELD = ("Faulted", "Occupied", "Rejected", "Unavailable", "Failed")


def record_reserve_now(charge_point_id: str, payload: dict[str, Any], expiry: datetime,
                       requested_by: str | None) -> Callable[[AsyncConnection], Awaitable[Recorded]]:
    """Writer operation: the reservation a ``ReserveNow`` (already prepared) stands for.

    ``recorded``: a new row under its id. ``replaced``: the charge point's active reservation of
    that id takes the new connector, tag and expiry (a ReserveNow with a known id replaces it, as
    OCPP 1.6 says), or one it never held is retried. ``other_charge_point`` / ``ended``: the id
    is another charge point's, or a reservation it held that is over (used, cancelled, expired:
    its history is not overwritten); nothing is written.
    """
    reservation_id = int(payload["reservationId"])
    values = {"connector_id": payload["connectorId"], "id_tag": payload["idTag"],
              "parent_id_tag": payload.get("parentIdTag"), "expiry_date": expiry, "status": "Requested",
              "transaction_id": None, "ended_at": None}

    async def op(conn: AsyncConnection) -> Recorded:
        row = (await conn.execute(select(
            _RESERVATIONS.c.charge_point_id, _RESERVATIONS.c.status, _RESERVATIONS.c.expiry_date).where(
            _RESERVATIONS.c.id == reservation_id))).first()
        if row is not None:
            if row.charge_point_id != charge_point_id:
                return "other_charge_point"
            lapsed = row.status in ACTIVE_RESERVATION and (utc(row.expiry_date) or expiry) <= now_utc()
            if row.status not in (*ACTIVE_RESERVATION, *NEVER_HELD) or lapsed:
                return "ended"
            await conn.execute(update(_RESERVATIONS).where(_RESERVATIONS.c.id == reservation_id).values(**values))
            return "replaced"
        await conn.execute(_RESERVATIONS.insert().values(
            id=reservation_id, charge_point_id=charge_point_id, requested_by=requested_by,
            created_at=now_utc(), **values))
        if conn.dialect.name == "postgresql":  # SQLite's AUTOINCREMENT moves past it by itself
            top = (await conn.execute(select(func.max(_RESERVATIONS.c.id)))).scalar()
            await conn.execute(text(
                "SELECT setval(seq, GREATEST(:top, COALESCE(pg_sequence_last_value(seq::regclass), 0))) "
                "FROM (SELECT pg_get_serial_sequence('reservations', 'id') AS seq) AS s"), {"top": top})
        return "recorded"

    return op


async def use_reservation(conn: AsyncConnection, charge_point_id: str, reservation_id: int,
                          transaction_id: int, id_tag: str, info: dict[str, Any]) -> bool:
    """A StartTransaction naming ``reservation_id`` used it, if the start was accepted and its
    id tag is the reserved one, its parent, or one with the same parent (OCPP 1.6 §5.13); a
    refused start or another driver's leaves it in force. Whether it was used."""
    if info.get("status") != "Accepted":
        return False
    row = (await conn.execute(select(_RESERVATIONS.c.id_tag, _RESERVATIONS.c.parent_id_tag).where(
        _RESERVATIONS.c.id == reservation_id, _RESERVATIONS.c.charge_point_id == charge_point_id,
        _RESERVATIONS.c.status.in_(ACTIVE_RESERVATION)))).first()
    if row is None:
        return False
    parent = row.parent_id_tag
    if id_tag != row.id_tag and not (parent and parent in (id_tag, info.get("parentIdTag"))):
        return False
    await conn.execute(update(_RESERVATIONS).where(_RESERVATIONS.c.id == reservation_id).values(
        status="Used", transaction_id=transaction_id, ended_at=now_utc()))
    return True


def reservation_over(charge_point_id: str, reservation_id: int, how: str
                     ) -> Callable[[AsyncConnection], Awaitable[None]]:
    """Writer operation: an OCPP 2.0.1 station's ReservationStatusUpdate, ``Expired`` or
    ``Removed`` (it let the reservation go): the reservation, if still active, is over so."""
    async def op(conn: AsyncConnection) -> None:
        await conn.execute(update(_RESERVATIONS).where(
            _RESERVATIONS.c.id == reservation_id, _RESERVATIONS.c.charge_point_id == charge_point_id,
            _RESERVATIONS.c.status.in_(ACTIVE_RESERVATION)).values(status=how, ended_at=now_utc()))
    return op
