"""Changes to the charge point registry: pre-register, set the registration status or password,
delete; each one written through the store writer and told to the handshake caches.

The handshake caches each charge point's registration status and password hash (so a reconnect
storm does not read the database per socket); a change made here drops that entry at every node
(``forget``) once it is committed, so the next handshake reads the new facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from common.passwords import hash_password
from csms.routing import Router
from csms.services.errors import Conflict, Invalid, NotFound
from csms.services.transport import Transport, reachable
from csms.store.models import ChargePoint, Connector, table
from csms.store.writer import Writer
from csms.timeutil import now_utc

_CP = table(ChargePoint)
_CONN = table(Connector)
Forget = Callable[[str, str | None], None]  # (charge point, new registration status or None)
UNSET = object()  # a password that is not to change (None removes it)


def not_found(charge_point_id: str) -> NotFound:
    return NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")


async def _hashed(password: str | bytes | None) -> str | None:
    """scrypt takes a while: off the event loop."""
    return await asyncio.to_thread(hash_password, password) if password else None


class ChargePointService:
    """Writes of the charge point registry, and the cache and live socket they affect."""

    def __init__(self, writer: Writer, router: Router, forget: Forget,
                 transport: Callable[[], Transport]) -> None:
        self._writer = writer
        self._router = router
        self._forget = forget
        self._transport = transport

    async def create(self, charge_point_id: str, registration_status: str, password: str | None) -> None:
        """Pre-register a charge point: :class:`Invalid` for an id the OCPP URL cannot carry,
        :class:`Conflict` when it exists (the check and the insert are one write)."""
        from csms.server import valid_id  # the server imports the central system, which imports us

        if not valid_id(charge_point_id):
            raise Invalid("InvalidChargePointId", "the id must be 1-48 printable ASCII characters, no '/'")
        stmt = self._writer.dialect_insert(_CP).values(
            id=charge_point_id, registration_status=registration_status, password_hash=await _hashed(password),
            online=False, created_at=now_utc()).on_conflict_do_nothing(index_elements=["id"])
        if not await self._writer.changed(stmt):
            raise Conflict("ChargePointExists", f"charge point {charge_point_id!r} already exists")
        self._forget(charge_point_id, None)

    async def set_registration(self, charge_point_id: str, status: str) -> bool:
        """Accept (or reject) a charge point; a connected one answers its next boot accordingly.
        False for an unknown one."""
        stmt = update(_CP).where(_CP.c.id == charge_point_id).values(registration_status=status)
        changed = await self._writer.changed(stmt)
        self._forget(charge_point_id, status)
        return bool(changed)

    async def accept(self, charge_point_id: str) -> None:
        """Its next BootNotification is answered Accepted; :class:`NotFound` for an unknown one."""
        if not await self.set_registration(charge_point_id, "Accepted"):
            raise not_found(charge_point_id)

    async def update(self, charge_point_id: str, registration_status: str | None = None,
                     password: str | bytes | None | object = UNSET,
                     security_profile: int | None = None, ocpp_version: str | None | object = UNSET) -> None:
        """Set the registration status, the password (None removes it; bytes: a binary
        AuthorizationKey), the security profile it must connect at (any pending upgrade is
        dropped: the operator said which) and/or the OCPP version it must connect with (None:
        the newest both sides speak; from its next connect); :class:`NotFound` for an unknown
        charge point,
        :class:`Conflict` for a profile this server's port cannot serve (``TlsRequired``,
        ``ClientCaRequired``) or that would leave it without a password (``PasswordRequired``)."""
        if security_profile is not None:
            reachable(security_profile, self._transport())
        hashed = UNSET if password is UNSET else await _hashed(password)  # type: ignore[arg-type]
        if registration_status is not None and not await self.set_registration(charge_point_id,
                                                                               registration_status):
            raise not_found(charge_point_id)
        values: dict[str, object] = {}
        if hashed is not UNSET:  # the operator said which: no rotation is left unsettled
            values.update(password_hash=hashed, password_pending_hash=None)
        if security_profile is not None:
            values.update(security_profile=security_profile, security_profile_pending=None)
        if ocpp_version is not UNSET:
            values["ocpp_version_pinned"] = ocpp_version
        if values:
            await self._change(charge_point_id, values)

    async def _change(self, charge_point_id: str, values: dict[str, object]) -> None:
        """Write ``values``; :class:`Conflict` ``PasswordRequired`` when the charge point would be
        left at profile 1 or 2 without a password (locked out: no Basic auth could pass)."""
        async def op(conn: AsyncConnection) -> bool:
            row = (await conn.execute(select(_CP.c.security_profile, _CP.c.password_hash)
                                      .where(_CP.c.id == charge_point_id))).first()
            if row is None:
                return False
            profile = values.get("security_profile", row.security_profile)
            password = values.get("password_hash", row.password_hash)
            if profile in (1, 2) and password is None:
                raise Conflict("PasswordRequired", f"security profile {profile} is Basic auth: it needs "
                               "a password (set one, or lower the profile first)")
            await conn.execute(update(_CP).where(_CP.c.id == charge_point_id).values(values))
            return True

        found = await self._writer.run(op)
        self._forget(charge_point_id, None)
        if not found:
            raise not_found(charge_point_id)

    async def expect_profile(self, charge_point_id: str, profile: int) -> None:
        """It accepted ChangeConfiguration SecurityProfile ``profile``: from its first connect at
        that profile on, nothing less is let in (:meth:`reached_profile`). Until then it may still
        connect as before (the whitepaper lets it fall back when the new profile fails)."""
        await self._change(charge_point_id, {"security_profile_pending": profile})

    async def may_hold_password(self, charge_point_id: str, password: bytes) -> None:
        """It was sent ``password`` (AuthorizationKey) and never answered: it may hold it. The
        stored password stays; this one gets in too, until :meth:`settle_password`."""
        await self._change(charge_point_id, {"password_pending_hash": await _hashed(password)})

    async def settle_password(self, charge_point_id: str, pending_hash: str, took: bool) -> None:
        """It connected with the pending password (``took``: that is its password now) or with
        the stored one (the pending one is dropped). Only if ``pending_hash`` is still pending:
        an operator's password set meanwhile wins."""
        values: dict[str, object] = {"password_pending_hash": None}
        if took:
            values["password_hash"] = pending_hash

        async def op(conn: AsyncConnection) -> None:
            await conn.execute(update(_CP).where(_CP.c.id == charge_point_id,
                                                 _CP.c.password_pending_hash == pending_hash).values(values))

        await self._writer.run(op)
        self._forget(charge_point_id, None)

    async def reached_profile(self, charge_point_id: str, profile: int) -> None:
        """It connected at its pending profile: that is its profile now (TC_083)."""
        await self._change(charge_point_id, {"security_profile": profile,
                                             "security_profile_pending": None})

    async def delete(self, charge_point_id: str) -> None:
        """Delete it and its connectors (its transactions, meter values and message log stay);
        a live socket is closed. :class:`NotFound` for an unknown one."""
        async def op(conn: AsyncConnection) -> int:
            await conn.execute(delete(_CONN).where(_CONN.c.charge_point_id == charge_point_id))
            result = await conn.execute(delete(_CP).where(_CP.c.id == charge_point_id))
            return int(result.rowcount)

        deleted = await self._writer.run(op)
        self._forget(charge_point_id, None)
        if not deleted:
            raise not_found(charge_point_id)
        live = self._router.local(charge_point_id)
        if live is not None:
            await live.ws.close(1000, "charge point deleted")

