"""What a command means to the central system beyond the charge point's answer.

Some commands change what the central system must believe about a charge point once it accepts
them: a new ``AuthorizationKey`` is the password its next handshake presents; a new
``SecurityProfile`` is the one it must connect at from its first connect at it; an accepted local
list is the version it holds. Others carry what the central system knows and the caller may
have left out (``ReserveNow``'s ``parentIdTag``). Every command goes through
:class:`~csms.services.commands.CommandService`, REST or internal, so these rules hold whichever
way it was sent: :meth:`CommandEffects.prepare` before it is recorded and sent,
:meth:`CommandEffects.settle` once it has ended. A rejected, failed or unanswered command changes
nothing (the old password stays: the charge point did not say it took the new one).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.outcomes import Outcome
from csms.services.charge_points import ChargePointService
from csms.services.errors import Conflict, Invalid
from csms.store.device_model import confirm, key
from csms.store.local_lists import apply_sent_list
from csms.store.models import IdTag, table
from csms.store.reservations import record_reserve_now
from csms.store.security_models import ACTIVE_RESERVATION, Reservation
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.basic_auth import key_password
from ocppj.timestamps import parse_ts
from ocppj.versions import V16, Version

log = logging.getLogger(__name__)
_TAGS = table(IdTag)
_RESERVATIONS = table(Reservation)
ACCEPTED = ("Accepted", "RebootRequired")  # ChangeConfiguration: applied now, or at the reboot


def security_profile(value: str) -> int:
    """A SecurityProfile configuration value (0-3); ValueError otherwise."""
    profile = int(value.strip())
    if not 0 <= profile <= 3:
        raise ValueError(profile)
    return profile


class CommandEffects:
    """The central system's side of the commands it sends (see the module)."""

    def __init__(self, engine: AsyncEngine, writer: Writer, charge_points: ChargePointService) -> None:
        self._engine = engine
        self._writer = writer
        self._charge_points = charge_points

    @staticmethod
    def check(action: str, payload: dict[str, Any], version: Version = V16) -> None:
        """Refuse (:class:`Invalid`) a command the charge point could accept but the central
        system could not follow: a key that stands for no password, a profile that is none
        (1.6's ChangeConfiguration)."""
        if version is not V16 or action != "ChangeConfiguration":
            return
        key, value = payload.get("key"), str(payload.get("value", ""))
        try:
            if key == "AuthorizationKey":
                key_password(value)
            elif key == "SecurityProfile":
                security_profile(value)
        except ValueError as exc:
            raise Invalid("InvalidConfigurationValue", f"{key}: {exc}" if str(exc) else
                          f"{key} must be 0, 1, 2 or 3") from None

    async def prepare(self, charge_point_id: str, action: str, payload: dict[str, Any],
                      requested_by: str | None = None, version: Version = V16) -> dict[str, Any]:
        """The payload to send: ``ReserveNow`` gains the id tag's ``parentIdTag`` when the
        caller left it out and the id tag has one (TC_053), and is recorded as the reservation
        of its id (:func:`~csms.store.reservations.record_reserve_now`): :class:`Conflict`
        ``ReservationIdInUse`` for an id that is another charge point's or a reservation that
        is over."""
        if version is not V16 or action != "ReserveNow":  # 2.0.1's ReserveNow is another shape
            return payload
        if "parentIdTag" not in payload:
            async with self._engine.connect() as conn:
                parent = (await conn.execute(select(_TAGS.c.parent_id_tag).where(
                    _TAGS.c.id_tag == payload["idTag"]))).scalar()
            if parent:
                payload = {**payload, "parentIdTag": parent}
        try:
            expiry = parse_ts(payload["expiryDate"])
        except ValueError as exc:
            raise Invalid("InvalidPayload", f"ReserveNow expiryDate: {exc}") from None
        assert expiry is not None
        recorded = await self._writer.run(record_reserve_now(charge_point_id, payload, expiry, requested_by))
        if recorded in ("other_charge_point", "ended"):
            whose = ("another charge point's" if recorded == "other_charge_point"
                     else "a reservation the charge point held that is over (used, cancelled or expired)")
            raise Conflict("ReservationIdInUse", f"reservationId {payload['reservationId']} is {whose}; "
                           "POST /api/v1/reservations picks a free one")
        return payload

    async def settle(self, charge_point_id: str, action: str, payload: dict[str, Any],
                     outcome: Outcome, version: Version = V16) -> None:
        """Apply what an accepted command changed; nothing for any other ending, but a
        reservation or a password that was never answered (see below). 2.0.1:
        :meth:`_settle_201`."""
        if version is not V16:
            await self._settle_201(charge_point_id, action, payload, outcome)
            return
        if action in ("ReserveNow", "CancelReservation"):
            await self._reservation(charge_point_id, action, payload, outcome)
        if (outcome.kind == "timeout" and action == "ChangeConfiguration"
                and payload.get("key") == "AuthorizationKey"):
            # it may have taken the key and its answer got lost: both passwords get in until
            # it connects with one of them (csms.server settles which)
            await self._charge_points.may_hold_password(charge_point_id, key_password(payload["value"]))
            log.warning("%s did not answer the new AuthorizationKey: the old and the new password "
                        "get in until it connects with one of them", charge_point_id)
        if outcome.kind != "result" or outcome.payload is None:
            return
        status = outcome.payload.get("status")
        if action == "ChangeConfiguration" and status in ACCEPTED:
            key, value = payload["key"], payload["value"]
            if key == "AuthorizationKey":
                await self._charge_points.update(charge_point_id, password=key_password(value))
                log.info("%s accepted a new AuthorizationKey: its password is rotated", charge_point_id)
            elif key == "SecurityProfile":
                await self._charge_points.expect_profile(charge_point_id, security_profile(value))
        elif action == "SendLocalList" and status == "Accepted":
            await self._writer.run(apply_sent_list(charge_point_id, payload))  # entries and version

    async def _settle_201(self, charge_point_id: str, action: str, payload: dict[str, Any],
                         outcome: Outcome) -> None:
        """What a 2.0.1 command's answer tells of the station's device model: the values a
        GetVariables read, and those an accepted SetVariables put in force."""
        if outcome.kind != "result" or outcome.payload is None:
            return
        now, rows = now_utc(), []
        if action == "GetVariables":
            for r in outcome.payload["getVariableResult"]:
                if r["attributeStatus"] == "Accepted" and "attributeValue" in r:
                    rows.append({**key(charge_point_id, r["component"], r["variable"], r.get("attributeType")),
                                 "value": r["attributeValue"], "source": action, "updated_at": now})
        elif action == "SetVariables":
            asked = {tuple(key(charge_point_id, d["component"], d["variable"], d.get("attributeType")).values()):
                     d["attributeValue"] for d in payload["setVariableData"]}
            for r in outcome.payload["setVariableResult"]:
                row = key(charge_point_id, r["component"], r["variable"], r.get("attributeType"))
                value = asked.get(tuple(row.values()))
                if r["attributeStatus"] == "Accepted" and value is not None:  # RebootRequired: not yet
                    rows.append({**row, "value": value, "source": action, "updated_at": now})
        await confirm(self._writer, rows)

    async def _reservation(self, charge_point_id: str, action: str, payload: dict[str, Any],
                           outcome: Outcome) -> None:
        """A reservation's row follows its ReserveNow's answer: Unanswered when it timed out
        (the charge point may hold it: still cancellable), Failed when it was not delivered or
        refused with a CALLERROR. An Accepted CancelReservation makes it Cancelled; a Rejected
        one for an Unanswered reservation shows the charge point never held it (Failed)."""
        answered = outcome.payload.get("status") if outcome.kind == "result" and outcome.payload else None
        row = (_RESERVATIONS.c.id == payload["reservationId"]) & (
            _RESERVATIONS.c.charge_point_id == charge_point_id)
        if action == "ReserveNow":
            ending = answered or ("Unanswered" if outcome.kind == "timeout" else "Failed")
            stmt = update(_RESERVATIONS).where(row, _RESERVATIONS.c.status == "Requested").values(
                status=ending)
        elif answered == "Accepted":
            stmt = update(_RESERVATIONS).where(row, _RESERVATIONS.c.status.in_(ACTIVE_RESERVATION)).values(
                status="Cancelled", ended_at=now_utc())
        elif answered == "Rejected":
            stmt = update(_RESERVATIONS).where(row, _RESERVATIONS.c.status == "Unanswered").values(
                status="Failed", ended_at=now_utc())
        else:
            return
        await self._writer.changed(stmt)
