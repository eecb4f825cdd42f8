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
from csms.services.shapes_201 import CENTRAL, PASSWORD_CHARS, local_list_16, password_in, reserve_now_16, token
from csms.store.device_model import confirm, key
from csms.store.local_lists import apply_sent_list
from csms.store.models import IdTag, table
from csms.store.reservations import record_reserve_now
from csms.store.security_models import ACTIVE_RESERVATION, Reservation
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.basic_auth import is_password, key_password
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
        if version is not V16:
            password = password_in(payload) if action == "SetVariables" else None
            low, high = PASSWORD_CHARS
            if password is not None and not low <= len(password) <= high:
                raise Invalid("InvalidConfigurationValue", f"BasicAuthPassword: an OCPP 2.0.1 password is "
                              f"{low}-{high} characters (this one has {len(password)})")
            return
        if action != "ChangeConfiguration":
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
        if action != "ReserveNow":
            return payload
        as_16 = payload if version is V16 else reserve_now_16(payload)  # what the store keeps
        if "parentIdTag" not in as_16:
            async with self._engine.connect() as conn:
                parent = (await conn.execute(select(_TAGS.c.parent_id_tag).where(
                    _TAGS.c.id_tag == as_16["idTag"]))).scalar()
            if parent:
                as_16 = {**as_16, "parentIdTag": parent}
                payload = as_16 if version is V16 else {**payload, "groupIdToken": token(parent, CENTRAL)}
        try:
            expiry = parse_ts(as_16["expiryDate"])
        except ValueError as exc:
            raise Invalid("InvalidPayload", f"ReserveNow expiry: {exc}") from None
        assert expiry is not None
        recorded = await self._writer.run(record_reserve_now(charge_point_id, as_16, expiry, requested_by))
        if recorded in ("other_charge_point", "ended"):
            whose = ("another charge point's" if recorded == "other_charge_point"
                     else "a reservation the charge point held that is over (used, cancelled or expired)")
            raise Conflict("ReservationIdInUse", f"reservationId {as_16['reservationId']} is {whose}; "
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
            await self._reservation(charge_point_id, action, payload["reservationId"], outcome)
        if (outcome.kind == "timeout" and action == "ChangeConfiguration"
                and payload.get("key") == "AuthorizationKey"):
            await self._unanswered_password(charge_point_id, key_password(payload["value"]))
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

    async def _unanswered_password(self, charge_point_id: str, password: bytes) -> None:
        """It may have taken the new password and its answer got lost: both passwords get in
        until it connects with one of them (csms.server settles which)."""
        await self._charge_points.may_hold_password(charge_point_id, password)
        log.warning("%s did not answer its new password: the old and the new one get in until it "
                    "connects with one of them", charge_point_id)

    async def _settle_201(self, charge_point_id: str, action: str, payload: dict[str, Any],
                         outcome: Outcome) -> None:
        """What a 2.0.1 command's answer means: a reservation's or a local list's fate as for
        1.6, the Basic auth password a SetVariables set, and the station's device model (the
        values a GetVariables read, those an accepted SetVariables put in force; never the
        password's)."""
        if action in ("ReserveNow", "CancelReservation"):
            reservation_id = payload["id"] if action == "ReserveNow" else payload["reservationId"]
            await self._reservation(charge_point_id, action, reservation_id, outcome)
        password = password_in(payload) if action == "SetVariables" else None
        if password is not None and outcome.kind == "timeout":
            await self._unanswered_password(charge_point_id, password.encode())
        if outcome.kind != "result" or outcome.payload is None:
            return
        if action == "SendLocalList" and outcome.payload.get("status") == "Accepted":
            await self._writer.run(apply_sent_list(charge_point_id, local_list_16(payload)))
        now, rows = now_utc(), []
        if action == "GetVariables":
            for r in outcome.payload["getVariableResult"]:
                if r["attributeStatus"] == "Accepted" and "attributeValue" in r and not is_password(r, False):
                    rows.append({**key(charge_point_id, r["component"], r["variable"], r.get("attributeType")),
                                 "value": r["attributeValue"], "source": action, "updated_at": now})
        elif action == "SetVariables":
            asked = {tuple(key(charge_point_id, d["component"], d["variable"], d.get("attributeType")).values()):
                     d["attributeValue"] for d in payload["setVariableData"]}
            for r in outcome.payload["setVariableResult"]:
                if is_password(r, False):  # any attribute of it
                    taken = is_password(r) and r["attributeStatus"] in ACCEPTED  # now, or at the reboot
                    if taken and password is not None:
                        await self._charge_points.update(charge_point_id, password=password.encode())
                        log.info("%s accepted a new BasicAuthPassword: its password is rotated", charge_point_id)
                    continue  # a password is no value the device model shows
                row = key(charge_point_id, r["component"], r["variable"], r.get("attributeType"))
                value = asked.get(tuple(row.values()))
                if r["attributeStatus"] == "Accepted" and value is not None:  # RebootRequired: not yet
                    rows.append({**row, "value": value, "source": action, "updated_at": now})
        await confirm(self._writer, rows)

    async def _reservation(self, charge_point_id: str, action: str, reservation_id: int,
                           outcome: Outcome) -> None:
        """A reservation's row follows its ReserveNow's answer: Unanswered when it timed out
        (the charge point may hold it: still cancellable), Failed when it was not delivered or
        refused with a CALLERROR. An Accepted CancelReservation makes it Cancelled; a Rejected
        one for an Unanswered reservation shows the charge point never held it (Failed)."""
        answered = outcome.payload.get("status") if outcome.kind == "result" and outcome.payload else None
        row = (_RESERVATIONS.c.id == reservation_id) & (
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
