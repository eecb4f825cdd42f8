"""The REST API's bearer tokens: issued, found, revoked.

Only a SHA-256 of each secret is stored: the secrets are random 256-bit values, so a fast hash
loses nothing and lets every request be checked with one indexed read. Tokens are written with
the engine, not the store writer: the ``token`` command of the CLI issues them without a running
central system, and no OCPP frame is ordered against them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.services.errors import NotFound
from csms.store.access import ApiToken
from csms.store.models import table
from csms.timeutil import now_utc, utc

ROLES = ("admin", "operator", "integrator", "viewer", "kiosk", "device")
# kiosk: a token from the kiosk login, limited to the lockers of its own device
# device: a field device's key (lockers.backoffice.device_keys), bound to one device, good for
# nothing but that device's heartbeat (POST /system/heartbeat)
_TOKENS = table(ApiToken)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "cb_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Holder:
    """Whom a valid token was issued to: its name and role; a login's user, a kiosk's device."""

    name: str
    role: str
    user_id: int | None = None
    device_id: int | None = None
    token_id: int | None = None  # names are free text and not unique: the id says which token


async def create_token(engine: AsyncEngine, name: str, role: str, token: str | None = None, *,
                       user_id: int | None = None, device_id: int | None = None,
                       expires_at: datetime | None = None) -> tuple[int, str]:
    """Store a token (a new random one unless given); return its id and secret."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "device" and device_id is None:
        raise ValueError("a device key is bound to one device: give its device_id")
    token = token or new_token()
    async with engine.begin() as conn:
        result = await conn.execute(_TOKENS.insert().values(
            name=name, role=role, token_hash=hash_token(token), created_at=now_utc(),
            user_id=user_id, device_id=device_id, expires_at=expires_at))
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row has one
    return int(key[0]), token


async def bootstrap_admin(engine: AsyncEngine, configured: str | None) -> str | None:
    """Make sure an admin can log in. Returns a token to print once, or None.

    A configured CHARGEBAY_API_TOKEN is registered as an admin token; without one, a token is
    generated the first time the stack starts (when no admin token exists yet).
    """
    async with engine.connect() as conn:
        if configured:
            hit = (await conn.execute(select(_TOKENS.c.id).where(
                _TOKENS.c.token_hash == hash_token(configured)))).first()
            if hit is None:
                # several nodes starting together may all get here: one insert wins
                with contextlib.suppress(IntegrityError):
                    await create_token(engine, "CHARGEBAY_API_TOKEN", "admin", configured)
            return None
        admins = (await conn.execute(select(_TOKENS.c.id).where(
            _TOKENS.c.role == "admin", _TOKENS.c.revoked_at.is_(None)))).first()
    if admins is not None:
        return None
    return (await create_token(engine, "bootstrap", "admin"))[1]


_FIND = select(_TOKENS.c.id, _TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.user_id, _TOKENS.c.device_id,
               _TOKENS.c.expires_at, _TOKENS.c.revoked_at).where(_TOKENS.c.token_hash == bindparam("hashed"))


KEEP_MAX = 10_000  # valid API tokens kept at most (a store rarely has more than a few dozen)
KEEP_S = 1.0  # how long a valid API token is believed without a read (a revocation elsewhere)


class TokenService:
    """Tokens of one store.

    A valid API token (made with /api/v1/tokens or CHARGEBAY_API_TOKEN: no user, no kiosk) is
    kept in memory for :data:`KEEP_S` after a read: an integrator's client sends hundreds of
    requests a second on one token, and the read each of them cost was a tenth of a REST
    command's CPU (issue #18). Revoked here, it stops working at once on this node; revoked at
    another node, within a second. Login tokens (a user's, a kiosk's) are never kept: the locker
    back office revokes those in the transaction that removes the user or retires the kiosk,
    which must take effect at once everywhere.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # renewals of kept tokens under way, by hash
        self._reading: dict[str, asyncio.Future[tuple[bool, Holder | None]]] = {}
        self._kept: dict[str, tuple[float, Holder, datetime | None]] = {}  # hash -> (until, holder, expiry)
        # bumped by every revocation here: a read that started before one is not kept (it may
        # have read the row just before the revocation committed)
        self._revocations = 0

    async def create(self, name: str, role: str) -> tuple[int, str]:
        """A new random token: its id and its secret (shown once, never stored)."""
        return await create_token(self._engine, name, role)

    async def find(self, token: str, hashed: str | None = None) -> tuple[bool, Holder | None]:
        """Whether the token was ever issued, and its holder if it is still valid (neither
        revoked nor expired). ``hashed``: its :func:`hash_token`, when the caller has it already.

        An API token's keeping renewed by requests at the same moment is one read they share
        (twenty clients in flight on one token read it twenty times a second, each waiting for
        a connection of the pool); a request after a revocation here reads anew, and a login
        token (never kept) is read by each request."""
        hashed = hashed or hash_token(token)
        kept = self._kept.get(hashed)
        if kept is None:
            return await self._read(hashed, self._revocations)
        until, holder, expires = kept
        if time.monotonic() < until and (expires is None or expires > now_utc()):
            return True, holder
        # (a revocation here drops the kept entry: a request after it never gets this far)
        reading = self._reading.get(hashed)
        if reading is None:
            reading = self._reading[hashed] = asyncio.ensure_future(self._read(hashed, self._revocations))
            reading.add_done_callback(functools.partial(self._read_done, hashed))
        return await asyncio.shield(reading)  # a caller that gives up cancels no one's read

    def _read_done(self, hashed: str, read: asyncio.Future[tuple[bool, Holder | None]]) -> None:
        if self._reading.get(hashed) is read:
            del self._reading[hashed]
        if not read.cancelled():
            read.exception()  # seen: every caller may have given up on it

    async def _read(self, hashed: str, revocations: int) -> tuple[bool, Holder | None]:
        """The token's row, kept when it is a valid API token; a kept entry it no longer
        supports is dropped."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_FIND, {"hashed": hashed})).first()
        self._kept.pop(hashed, None)
        if row is None:
            return False, None
        expires = utc(row.expires_at)
        if row.revoked_at is not None or (expires is not None and expires <= now_utc()):
            return True, None
        holder = Holder(row.name, row.role, row.user_id, row.device_id, row.id)
        if row.user_id is None and row.device_id is None and revocations == self._revocations:
            if len(self._kept) >= KEEP_MAX:
                self._kept.clear()  # guessed tokens are never kept: this takes many real ones
            self._kept[hashed] = (time.monotonic() + KEEP_S, holder, expires)
        return True, holder

    async def revoke(self, token_id: int) -> None:
        """Revoke an active token; :class:`NotFound` for an unknown or already revoked one."""
        self._revocations += 1
        self._forget(token_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(_TOKENS).where(
                _TOKENS.c.id == token_id, _TOKENS.c.revoked_at.is_(None)).values(revoked_at=now_utc()))
        self._revocations += 1  # and again: a read between the first and the commit is not kept
        self._forget(token_id)
        if not result.rowcount:
            raise NotFound("TokenNotFound", f"no active token {token_id}")

    def _forget(self, token_id: int) -> None:
        for hashed in [h for h, (_, holder, _) in self._kept.items() if holder.token_id == token_id]:
            del self._kept[hashed]

    async def end_session(self, token: str) -> None:
        """Revoke the token of a dashboard session if a password login issued it (a user's or a
        kiosk's); a pasted API token is its owner's and stays valid, and so is a device key
        (never a session: the dashboard refuses it, but a cookie could be set by hand)."""
        async with self._engine.begin() as conn:
            await conn.execute(update(_TOKENS).where(
                _TOKENS.c.token_hash == hash_token(token), _TOKENS.c.revoked_at.is_(None),
                _TOKENS.c.role != "device",
                or_(_TOKENS.c.user_id.isnot(None), _TOKENS.c.device_id.isnot(None)))
                .values(revoked_at=now_utc()))
