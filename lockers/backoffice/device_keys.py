"""Device keys: what a field device (a kiosk, a locker controller) sends its heartbeats with
(``POST /system/heartbeat``) instead of a kiosk login.

A key is an API token of role ``device`` bound to one device (``api_tokens.device_id``): its secret
is shown once and only its SHA-256 is stored, as for every token, and it is sent as any token is
(``X-API-Key: <key>`` or ``Authorization: Bearer <key>``). It is good for one thing: its own
device's heartbeat. Another device's code is 404 ``DeviceNotFound``, as an unknown one is (a key
cannot probe which codes exist), and every other operation of the API is 403 ``Forbidden``.

A device has at most one key: issuing one revokes the one before in the same transaction (to
rotate, install the new key at once: the old stops working when the new is issued); ``DELETE``
revokes it, and so does deleting the device. A new kiosk password does not: it logs the device's
kiosks out, not its heartbeats. Keys do not expire. Issued over REST (``POST
/api/devices/{deviceId}/key``, operator) or by the command line (``chargebay token create --role
device --device CODE``), audited as ``device.key_issued`` / ``device.key_revoked``.

The token rows are written here, not through :mod:`csms.services.tokens`, for the reason
:func:`lockers.backoffice.tables.revoke_tokens` gives: the old key's revocation, the new key and
the audit entry commit together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.services.tokens import hash_token, new_token
from csms.timeutil import iso, now_utc
from lockers.audit import audit
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import DEVICE, DEVICES, TOKENS
from lockers.errors import NotFound
from lockers.records import row_or_404
from lockers.scope import Viewer

KEY_ROLE = "device"
KEY_HEADER = "X-API-Key"  # what the documentation tells a device to send (a Bearer works too)

_LIVE = (TOKENS.c.role == KEY_ROLE, TOKENS.c.revoked_at.is_(None))


def has_key() -> Any:
    """A column for a query over devices: whether the device has a live key."""
    return exists().where(TOKENS.c.device_id == DEVICES.c.id, *_LIVE).label("has_key")


async def _revoke(conn: AsyncConnection, device_id: int) -> int:
    result = await conn.execute(update(TOKENS).where(TOKENS.c.device_id == device_id, *_LIVE)
                                .values(revoked_at=now_utc()))
    return int(result.rowcount or 0)


async def issue(conn: AsyncConnection, actor: str, device_id: int, code: str,
                name: str | None = None) -> dict[str, Any]:
    """A new key for the device (its previous one revoked), named ``name`` (default
    ``device:CODE``: the actor of its heartbeats in the audit log), in the caller's transaction:
    the answer that shows its secret, once."""
    replaced = await _revoke(conn, device_id)
    secret, now = new_token(), now_utc()
    result = await conn.execute(TOKENS.insert().values(
        name=(name or f"device:{code}")[:100], role=KEY_ROLE, token_hash=hash_token(secret), created_at=now,
        device_id=device_id))
    inserted = result.inserted_primary_key
    assert inserted is not None  # an INSERT of one row has one
    token_id = int(inserted[0])
    await audit(conn, actor, "device.key_issued", device_id=device_id, tokenId=token_id,
                replaced=bool(replaced))
    return {"deviceId": device_id, "deviceCode": code, "tokenId": token_id, "key": secret,
            "header": KEY_HEADER, "createdAt": iso(now), "replaced": bool(replaced)}


async def issue_for_code(engine: AsyncEngine, actor: str, code: str, name: str | None = None) -> dict[str, Any]:
    """:func:`issue` for the device with this code (the command line names devices by code)."""
    async with engine.begin() as conn:
        device_id = (await conn.execute(select(DEVICES.c.id).where(DEVICES.c.code == code))).scalar()
        if device_id is None:
            raise NotFound("DeviceNotFound", f"no device {code!r}")
        return await issue(conn, actor, int(device_id), code, name)


class DeviceKeys(BackOfficeService):
    """A device's key, as the back office's device routes issue and revoke it."""

    async def issue(self, who: Viewer, device_id: int) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            row = await row_or_404(conn, DEVICE, device_id)
            return await issue(conn, who.name, device_id, row.code)

    async def revoke(self, who: Viewer, device_id: int) -> None:
        """``DeviceNotFound``, or ``DeviceKeyNotFound`` when the device has no live key."""
        async with self.engine.begin() as conn:
            await row_or_404(conn, DEVICE, device_id)
            if not await _revoke(conn, device_id):
                raise NotFound("DeviceKeyNotFound", f"device {device_id} has no key")
            await audit(conn, who.name, "device.key_revoked", device_id=device_id)
