"""Back-office logins (seed 000 "Admin Login", "Kiosk Login"): a password in, a bearer token out.

- ``POST /api/auth/admin-login`` ``{username, password}``: a token for a back-office user. Its API
  role comes from the permissions of the user's role: ``admin`` -> admin, ``operate`` -> operator,
  ``view`` -> viewer; a user with none of them (or no role) is refused, as is an inactive one.
- ``POST /api/auth/kiosk-login`` ``{deviceCode, password}``: a ``kiosk`` token bound to the device;
  it reaches only that device's lockers (see :mod:`api.vendor.sites`).

Bad credentials answer **401** ``InvalidCredentials``: what an integrator's client checks for a
failed login (issue #20; an OAuth-style 400 ``invalid_grant`` surprised every one of them). A
missing or invalid bearer token elsewhere is 401 too, with its own code (``Unauthorized``).

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
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import client_ip
from api.errors import ApiError, declare, too_many_attempts
from api.gate import GuardedRoute
from api.vendor.sites import sites
from common.passwords import hash_password
from common.ratelimit import FailureLimiter
from lockers.backoffice.logins import (  # re-exported: the dashboard and the user routes use them
    ADMIN_TOKEN_TTL,
    KIOSK_TOKEN_TTL,
    PERMISSIONS,
    LoginService,
    api_role,
    load_permissions,
)

__all__ = ["ADMIN_TOKEN_TTL", "KIOSK_TOKEN_TTL", "MAX_FAILURES_PER_IP", "MAX_FAILURES_PER_NAME",
           "PERMISSIONS", "AdminLogin", "KioskLogin", "admin_login", "api_role", "kiosk_login",
           "load_permissions", "router"]

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=GuardedRoute)

MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_IP = 20  # an office or a kiosk fleet behind one NAT shares it
WINDOW_SECONDS = 300.0

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Secret = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
LoginName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                             pattern=_PRINTABLE)]


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


def logins(request: Request) -> LoginService:
    return LoginService(request.app.state.central.engine, sites(request))


async def _login(request: Request, service: LoginService, kind: str, name: str, password: str,
                 lookup: Callable[[str], Awaitable[Any]],
                 grant: Callable[[Any, str], Awaitable[dict[str, Any]]]) -> Any:
    """Limit, look up (``lookup(name)``), verify, audit; ``grant(row, ip)`` issues the token once
    the password holds."""
    limits = limiter(request)
    ip = client_ip(request)
    name_key, ip_key = f"{kind}:{name}", f"ip:{ip}"
    wait = limits.retry_after({name_key: MAX_FAILURES_PER_NAME, ip_key: MAX_FAILURES_PER_IP})
    if wait is not None:
        raise too_many_attempts(wait, "failed logins")
    with limits.checking([name_key, ip_key]):  # from here on, before any await
        row = await lookup(name)
        ok = await _check(request, password, row.password_hash if row is not None else None)
    if not ok:
        limits.failed([name_key, ip_key])
        await service.failed(name, kind, ip,
                             row.id if row is not None and kind == "kiosk" else None)
        raise ApiError(401, "InvalidCredentials", "unknown name or wrong password")
    limits.forget(name_key)
    return await grant(row, ip)


class LoginResult(BaseModel):
    """What every login answers; each login's result adds who logged in."""

    token: str
    expiresAt: str


_TOO_MANY = "`TooManyAttempts`, with `Retry-After`"


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
             responses=declare({401: "`InvalidCredentials`",
                                403: "`UserInactive`; `NoPermissions`: the user's role grants none of "
                                     "admin, operate, view", 429: _TOO_MANY}, auth=False))
async def admin_login(body: AdminLogin, request: Request) -> Any:
    service = logins(request)
    return await _login(request, service, "user", body.username.lower(), body.password, service.user_named,
                        service.admin_token)


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
             responses=declare({401: "`InvalidCredentials` (also: the device has no password)",
                                429: _TOO_MANY}, auth=False))
async def kiosk_login(body: KioskLogin, request: Request) -> Any:
    service = logins(request)
    return await _login(request, service, "kiosk", body.deviceCode, body.password, service.device_coded,
                        service.kiosk_token)
