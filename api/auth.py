"""Bearer tokens: stored as SHA-256 (they are random 256-bit secrets), each with a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import ApiError
from api.models import ApiToken
from csms.timeutil import now_utc, utc

ROLES = ("admin", "operator", "integrator", "viewer", "kiosk")
# kiosk: a token from the kiosk login, limited to the lockers of its own device
# Declares the scheme in OpenAPI (the Authorize button of /docs); checking is done below.
BEARER = HTTPBearer(auto_error=False, description="An API token: `chargebay token create` or /api/v1/tokens.")
_TOKENS = ApiToken.__table__


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "cb_" + secrets.token_urlsafe(32)


async def create_token(engine: AsyncEngine, name: str, role: str, token: str | None = None, *,
                       user_id: int | None = None, device_id: int | None = None,
                       expires_at: datetime | None = None) -> tuple[int, str]:
    """Store a token (a new random one unless given); return its id and secret."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = token or new_token()
    async with engine.begin() as conn:
        result = await conn.execute(_TOKENS.insert().values(
            name=name, role=role, token_hash=hash_token(token), created_at=now_utc(),
            user_id=user_id, device_id=device_id, expires_at=expires_at))
    return int(result.inserted_primary_key[0]), token


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
                await create_token(engine, "CHARGEBAY_API_TOKEN", "admin", configured)
            return None
        admins = (await conn.execute(select(_TOKENS.c.id).where(
            _TOKENS.c.role == "admin", _TOKENS.c.revoked_at.is_(None)))).first()
    if admins is not None:
        return None
    return (await create_token(engine, "bootstrap", "admin"))[1]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's name and role; a login's user, a kiosk's device."""

    name: str
    role: str
    user_id: int | None = None
    device_id: int | None = None


def presented_token(request: Request) -> str | None:
    """The secret from ``Authorization: Bearer`` or ``X-API-Key``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.headers.get("X-API-Key") or None


async def lookup(engine: AsyncEngine, token: str) -> Caller | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(
            _TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.user_id, _TOKENS.c.device_id,
            _TOKENS.c.expires_at).where(
            _TOKENS.c.token_hash == hash_token(token), _TOKENS.c.revoked_at.is_(None)))).first()
    if row is None or (row.expires_at is not None and utc(row.expires_at) <= now_utc()):
        return None
    return Caller(row.name, row.role, row.user_id, row.device_id)


def require(*roles: str) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """A dependency that lets in a token whose role is in ``roles`` (admin always)."""
    allowed = set(roles) | {"admin"}

    async def dependency(request: Request, _: HTTPAuthorizationCredentials | None = Depends(BEARER)
                         ) -> Caller:
        token = presented_token(request)
        if token is None:
            raise ApiError(401, "Unauthorized", "an 'Authorization: Bearer <token>' header is required")
        caller = await lookup(request.app.state.central.engine, token)
        if caller is None:
            raise ApiError(401, "Unauthorized", "unknown or revoked token")
        if caller.role not in allowed:
            raise ApiError(403, "Forbidden", f"role {caller.role!r} may not do this")
        return caller

    return dependency
