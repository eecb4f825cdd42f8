"""Reservations as records: create one (ReserveNow), cancel it (CancelReservation).

The row is written before the command goes out, so its id is the ``reservationId`` the charge
point gets and a StartTransaction naming it later finds it (:mod:`csms.store.transactions` marks
it Used). How the charge point answered is applied by
:class:`~csms.services.command_effects.CommandEffects`, whichever way the command ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.services.commands import CommandRun, CommandService
from csms.services.errors import Conflict, Invalid, NotFound
from csms.services.shapes_201 import CARD, reserve_now_201
from csms.store.models import ChargePoint, table
from csms.store.security_models import ACTIVE_RESERVATION, Reservation
from csms.store.writer import Writer
from csms.timeutil import iso, now_utc, utc
from ocppj.versions import V16

_RESERVATIONS = table(Reservation)
_CP = table(ChargePoint)


def not_found(reservation_id: int) -> NotFound:
    return NotFound("ReservationNotFound", f"no reservation {reservation_id}")


class ReservationService:
    """Writes of reservations, and the commands that carry them."""

    def __init__(self, engine: AsyncEngine, writer: Writer, commands: CommandService) -> None:
        self._engine = engine
        self._writer = writer
        self._commands = commands

    async def create(self, charge_point_id: str, connector_id: int, id_tag: str, expiry: datetime,
                     parent_id_tag: str | None, requested_by: str, wait: float,
                     token_type: str = CARD) -> tuple[int, CommandRun]:
        """Record a reservation and send its ReserveNow (``parentIdTag`` from the id tag when not
        given; to a 2.0.1 station in 2.0.1's shape, ``connector_id`` its EVSE, the id tag a token
        of ``token_type``). :class:`NotFound` for an unknown charge point, :class:`Invalid` for
        an expiry that has passed. Returns the reservation's id and the command."""
        expiry_utc = utc(expiry)
        assert expiry_utc is not None
        if expiry_utc <= now_utc():
            raise Invalid("ExpiryInPast", "the reservation's expiry_date has passed")

        async def op(conn: AsyncConnection) -> int:
            if (await conn.execute(select(_CP.c.id).where(_CP.c.id == charge_point_id))).first() is None:
                raise NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
            result = await conn.execute(_RESERVATIONS.insert().values(
                charge_point_id=charge_point_id, connector_id=connector_id, id_tag=id_tag,
                parent_id_tag=parent_id_tag, expiry_date=expiry_utc, status="Requested",
                requested_by=requested_by, created_at=now_utc()))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        # the row allocates the id; the command's preparation (csms.services.command_effects)
        # fills parentIdTag from the id tag and brings the row up to what goes out
        reservation_id = await self._writer.run(op)
        payload: dict[str, Any] = {"connectorId": connector_id, "expiryDate": iso(expiry_utc),
                                   "idTag": id_tag, "reservationId": reservation_id}
        if parent_id_tag:
            payload["parentIdTag"] = parent_id_tag
        if await self._commands.version(charge_point_id) is not V16:
            payload = reserve_now_201(payload, token_type)
        run = await self._commands.run(charge_point_id, "ReserveNow", payload, wait=wait,
                                       requested_by=requested_by)
        await self._writer.changed(_RESERVATIONS.update().where(
            _RESERVATIONS.c.id == reservation_id).values(command_id=run.command_id))
        return reservation_id, run

    async def cancel(self, reservation_id: int, requested_by: str, wait: float) -> CommandRun:
        """Send CancelReservation for an active reservation (:class:`Conflict`
        ``ReservationNotActive`` for one that was used, cancelled, refused or has expired)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_RESERVATIONS).where(
                _RESERVATIONS.c.id == reservation_id))).first()
        if row is None:
            raise not_found(reservation_id)
        expiry = utc(row.expiry_date)
        if row.status not in ACTIVE_RESERVATION or (expiry is not None and expiry <= now_utc()):
            raise Conflict("ReservationNotActive", f"reservation {reservation_id} is {row.status}"
                           + (" and has expired" if row.status in ACTIVE_RESERVATION else ""))
        return await self._commands.run(row.charge_point_id, "CancelReservation",
                                        {"reservationId": reservation_id}, wait=wait,
                                        requested_by=requested_by)
