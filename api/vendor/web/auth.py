"""Back-office logins (seed 000 "Admin Login", "Kiosk Login"): a password in, a bearer token out.

- ``POST /api/auth/admin-login`` ``{username, password}``: a token for a back-office user. Its API
  role comes from the permissions of the user's role: ``admin`` -> admin, ``operate`` -> operator,
  ``view`` -> viewer; a user with none of them (or no role) is refused, as is an inactive one.
- ``POST /api/auth/kiosk-login`` ``{deviceCode, password}``: a ``kiosk`` token bound to the device;
  it reaches only that device's lockers (see :mod:`api.vendor.sites`).

Bad credentials answer **400** ``InvalidCredentials`` (as an OAuth token endpoint answers
``invalid_grant``): 401 stays reserved for "your bearer token is missing or not valid".

Failed attempts are rate-limited in this process (per node; a cluster behind a balancer multiplies
the budget by its nodes) with the shared :class:`common.ratelimit.FailureLimiter`:
:data:`MAX_FAILURES_PER_NAME` per username (or device code) and :data:`MAX_FAILURES_PER_IP` per
client address within :data:`WINDOW_SECONDS`, then 429 ``TooManyAttempts`` with ``Retry-After``
until the oldest failure leaves the window. An attempt counts while its password is checked, so a
parallel burst is bounded too. The client address is the TCP peer, or behind a trusted proxy the
one it forwarded (``CHARGEBAY_TRUSTED_PROXIES``). A success clears its name's failures, not the
address's: one valid account must not launder guesses at others from the same address. The scrypt
check waits for one of the process's password-check slots (``CHARGEBAY_PASSWORD_CHECKS``).
"""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import client_ip, create_token
from api.errors import ApiError, too_many_attempts
from api.gate import GuardedRoute
from common.passwords import hash_password
from common.ratelimit import FailureLimiter
from csms.timeutil import iso, now_utc
from lockers.audit import audit
from lockers.models import Device, Role, User, table

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=GuardedRoute)

USERS = table(User)
ROLES = table(Role)
DEVICES = table(Device)

MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_IP = 20  # an office or a kiosk fleet behind one NAT shares it
WINDOW_SECONDS = 300.0
ADMIN_TOKEN_TTL = timedelta(hours=8)  # a working day
KIOSK_TOKEN_TTL = timedelta(hours=24)  # the kiosk app logs in again once a day

# The fixed set of role permissions, strongest first, and the API role each one grants.
PERMISSIONS = ("admin", "operate", "view")
API_ROLE = {"admin": "admin", "operate": "operator", "view": "viewer"}

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Secret = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
LoginName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=_PRINTABLE)]


def api_role(permissions: list[str]) -> str | None:
    """The strongest API role the permissions grant (None: they grant no access)."""
    for permission in PERMISSIONS:
        if permission in permissions:
            return API_ROLE[permission]
    return None


def load_permissions(raw: str | None) -> list[str]:
    """A role's stored permission list; anything unreadable grants nothing."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [p for p in value if p in PERMISSIONS] if isinstance(value, list) else []


# -- the limiter -------------------------------------------------------------------------------
def limiter(request: Request) -> FailureLimiter:
    """The app's limiter (one per app, so each stack, and each test, starts clean)."""
    found: FailureLimiter | None = getattr(request.app.state, "login_limiter", None)
    if found is None:
        found = request.app.state.login_limiter = FailureLimiter(WINDOW_SECONDS)
    return found


@functools.cache
def _decoy_hash() -> str:
    """A hash to check unknown names against, so they take as long as known ones."""
    return hash_password("decoy password, never valid")


async def _check(request: Request, password: str, stored: str | None) -> bool:
    """Verify; an unknown name is checked against a decoy so it costs the same."""
    passwords = request.app.state.central.passwords
    if stored is None:
        await passwords.verify(password, await asyncio.to_thread(_decoy_hash))
        return False
    return bool(await passwords.verify(password, stored))


async def _login(request: Request, kind: str, name: str, password: str,
                 lookup: Any, grant: Any) -> Any:
    """Limit, look up, verify, audit; ``grant(row)`` issues the token once the password holds."""
    engine: AsyncEngine = request.app.state.central.engine
    limits = limiter(request)
    ip = client_ip(request)
    name_key, ip_key = f"{kind}:{name}", f"ip:{ip}"
    wait = limits.retry_after({name_key: MAX_FAILURES_PER_NAME, ip_key: MAX_FAILURES_PER_IP})
    if wait is not None:
        raise too_many_attempts(wait, "failed logins")
    with limits.checking([name_key, ip_key]):  # from here on, before any await
        async with engine.connect() as conn:
            row = (await conn.execute(lookup)).first()
        ok = await _check(request, password, row.password_hash if row is not None else None)
    if not ok:
        limits.failed([name_key, ip_key])
        async with engine.begin() as conn:
            await audit(conn, name, "auth.login_failed", kind=kind, ip=ip,
                        device_id=row.id if row is not None and kind == "kiosk" else None)
        raise ApiError(400, "InvalidCredentials", "unknown name or wrong password")
    limits.forget(name_key)
    return await grant(engine, row, ip)


async def _issue(engine: AsyncEngine, name: str, role: str, ttl: timedelta, action: str, *,
                 user_id: int | None = None, device_id: int | None = None,
                 **details: Any) -> dict[str, Any]:
    """A login's token (named ``name``, for ``ttl``), audited as ``action``: the answer's
    ``{token, expiresAt}``."""
    expires = now_utc() + ttl
    _, token = await create_token(engine, name, role, user_id=user_id, device_id=device_id,
                                  expires_at=expires)
    async with engine.begin() as conn:
        await audit(conn, name, action, device_id=device_id, **details)
    return {"token": token, "expiresAt": iso(expires)}


class LoginResult(BaseModel):
    """What every login answers; each login's result adds who logged in."""

    token: str
    expiresAt: str


_TOO_MANY: dict[int | str, dict[str, Any]] = {429: {"description": "`TooManyAttempts`, with `Retry-After`"}}


# -- admin login -------------------------------------------------------------------------------
class AdminLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"username": "alice", "password": "correct horse battery"}]})

    username: LoginName = Field(description="Case-insensitive.")
    password: Secret


class LoginUser(BaseModel):
    id: int
    username: str
    name: str
    role: str | None
    permissions: list[str]
    apiRole: str


class AdminLoginResult(LoginResult):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    user: LoginUser


@router.post("/admin-login", summary="Back-office login: username and password to a bearer token",
             response_model=AdminLoginResult,
             responses={400: {"description": "`InvalidCredentials`"},
                        403: {"description": "`UserInactive`; `NoPermissions`: the user's role grants "
                                             "none of admin, operate, view"}, **_TOO_MANY})
async def admin_login(body: AdminLogin, request: Request) -> Any:
    username = body.username.lower()
    query = (select(USERS.c.id, USERS.c.username, USERS.c.name, USERS.c.active,
                    USERS.c.password_hash, ROLES.c.name.label("role"), ROLES.c.permissions)
             .select_from(USERS.outerjoin(ROLES, ROLES.c.id == USERS.c.role_id))
             .where(USERS.c.username == username))

    async def grant(engine: AsyncEngine, user: Any, ip: str) -> dict[str, Any]:
        if not user.active:
            raise ApiError(403, "UserInactive", f"user {user.username!r} is not active")
        permissions = load_permissions(user.permissions)
        role = api_role(permissions)
        if role is None:
            raise ApiError(403, "NoPermissions", f"user {user.username!r} has no role granting "
                                                 "admin, operate or view")
        issued = await _issue(engine, user.username, role, ADMIN_TOKEN_TTL, "auth.admin_login",
                              user_id=user.id, ip=ip, apiRole=role)
        return {**issued, "user": {"id": user.id, "username": user.username, "name": user.name,
                                   "role": user.role, "permissions": permissions, "apiRole": role}}

    return await _login(request, "user", username, body.password, query, grant)


# -- kiosk login -------------------------------------------------------------------------------
class KioskLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"deviceCode": "KIOSK-1", "password": "kiosk secret 1"}]})

    deviceCode: LoginName
    password: Secret


class LoginDevice(BaseModel):
    id: int
    code: str
    name: str


class KioskLoginResult(LoginResult):
    token: str = Field(description="A `kiosk` token: it reaches only this device's lockers.")
    device: LoginDevice


@router.post("/kiosk-login", summary="Kiosk login: device code and password to a kiosk token",
             response_model=KioskLoginResult,
             responses={400: {"description": "`InvalidCredentials` (also: the device has no password)"},
                        **_TOO_MANY})
async def kiosk_login(body: KioskLogin, request: Request) -> Any:
    query = select(DEVICES.c.id, DEVICES.c.code, DEVICES.c.name, DEVICES.c.password_hash).where(
        DEVICES.c.code == body.deviceCode)

    async def grant(engine: AsyncEngine, device: Any, ip: str) -> dict[str, Any]:
        issued = await _issue(engine, f"kiosk:{device.code}", "kiosk", KIOSK_TOKEN_TTL,
                              "auth.kiosk_login", device_id=device.id, ip=ip)
        return {**issued, "device": {"id": device.id, "code": device.code, "name": device.name}}

    return await _login(request, "kiosk", body.deviceCode, body.password, query, grant)
