"""Bearer tokens: stored as SHA-256 (they are random 256-bit secrets), each with a role.

Presenting a token that matches none stored is a guess: those are counted per client address
(``CHARGEBAY_TOKEN_FAILURES_PER_IP`` within ``CHARGEBAY_AUTH_WINDOW``; an IPv6 caller by its /64,
the block one host is given), and past the limit a token from that address is answered 429
``TooManyAttempts`` without being looked up, unless it is one that was accepted within the window:
the clients already at work behind a shared address (a NAT, a proxy) go on while a neighbour
guesses. An expired or revoked token is refused (401) but not counted: it was issued, so it is a
stale client, not a guess. The check runs before the request body is read (:mod:`api.gate`).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError, too_many_attempts
from common.ratelimit import FailureLimiter, RefusalLog
from common.settings import Settings
from csms.services.tokens import ROLES, bootstrap_admin, create_token, hash_token, new_token

__all__ = ["ROLES", "UNAUTHORIZED", "Caller", "Refusal", "allowed_roles", "authenticate", "bootstrap_admin",
           "caller_in", "check_token", "client_ip", "create_token", "gated", "hash_token", "new_token",
           "presented_token", "require", "same_origin"]
log = logging.getLogger(__name__)

# Declares the scheme in OpenAPI (the Authorize button of /docs); checking is done below.
BEARER = HTTPBearer(auto_error=False, description="An API token: `chargebay token create` or /api/v1/tokens.")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's name and role; a login's user, a kiosk's device."""

    name: str
    role: str
    user_id: int | None = None
    device_id: int | None = None
    token_id: int | None = None

    @property
    def who(self) -> str:
        """For an audit: the token's name and id (names are not unique), and its user if a login's."""
        ids = [f"token {self.token_id}"] if self.token_id is not None else []
        if self.user_id is not None:
            ids.append(f"user {self.user_id}")
        name = self.name[:60]  # the rest fits the record's 100 characters
        return f"{name} ({', '.join(ids)})" if ids else name


SESSION_COOKIE = "cb_session"  # the dashboard's login: HttpOnly, SameSite=Strict, holds a token
UI_HEADER = "X-Chargebay-UI"  # what the dashboard's own script sends on every unsafe request
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_token(request: Request) -> str | None:
    """The secret from ``Authorization: Bearer``, ``X-API-Key`` or the dashboard's cookie.

    The cookie rides along with every request the browser makes, so for a change (an unsafe
    method) it counts only when the request also proves it came from our own pages: the custom
    :data:`UI_HEADER` (another origin cannot send it without a CORS preflight, which this app never
    grants) and, when the browser sends one, an ``Origin`` naming this server's host.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    key = request.headers.get("X-API-Key")
    if key:
        return key
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    if request.method not in SAFE_METHODS and not same_origin_ui(request):
        raise ApiError(403, "CsrfCheckFailed", f"a change with the session cookie needs the "
                       f"{UI_HEADER} header from a page of this host (use the dashboard, or a bearer token)")
    return cookie


def same_origin(request: Request) -> bool:
    """No ``Origin`` (non-browser clients) or one naming the host this request was sent to.

    The host, not the scheme: behind a TLS-terminating proxy the app sees http while the browser
    says https, and a page on another host is what must be kept out."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def same_origin_ui(request: Request) -> bool:
    """Sent by the dashboard's own scripts: its header, from a page of this host."""
    return request.headers.get(UI_HEADER) == "1" and same_origin(request)


# -- guesses -------------------------------------------------------------------------------------
_guesses = RefusalLog(log)
_throttled = RefusalLog(log)


def client_ip(request: Request) -> str:
    """The caller's address (behind a trusted proxy, the one it forwarded: api.middleware)."""
    return request.client.host if request.client else "unknown"


def token_limiter(request: Request) -> FailureLimiter:
    """The app's limiter of token guesses (one per app, so each stack, and each test, starts clean)."""
    return request.app.state.token_limiter  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=4096)  # parsed once per address seen lately, not per request
def address_key(ip: str) -> str:
    """The key guesses are counted under: the address, or for IPv6 its /64 (one host may use
    any of its block's 2^64 addresses, so counting each alone would count nothing)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"ip:{ip}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


class GoodTokens:
    """The tokens accepted lately (by hash, capped, for ``token_remembered_for``): past an
    address's guess limit they are still looked up, so the legitimate clients behind a shared
    address are not locked out. A token never accepted cannot be told from a guess there."""

    def __init__(self, window: float, size: int = 10_000) -> None:
        self.window, self.size = window, size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def accepted(self, token_hash: str) -> None:
        self._seen[token_hash] = time.monotonic()
        self._seen.move_to_end(token_hash)
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def recent(self, token_hash: str) -> bool:
        seen = self._seen.get(token_hash)
        return seen is not None and time.monotonic() - seen < self.window


def good_tokens(request: Request) -> GoodTokens:
    return request.app.state.good_tokens  # type: ignore[no-any-return]


def remember_tokens(state: Any, settings: Settings) -> None:
    """Give an app its token-guess limiter and its memory of good tokens (at its creation)."""
    state.token_limiter = FailureLimiter(settings.auth_window)
    state.good_tokens = GoodTokens(settings.token_remembered_for)


async def check_token(request: Request, token: str) -> Caller | None:
    """The token's caller, or None; a guess is counted, and 429 past the address's limit (but
    for a token accepted within ``token_remembered_for``)."""
    ip = client_ip(request)
    key = address_key(ip)
    limiter = token_limiter(request)
    good = good_tokens(request)
    hashed = hash_token(token)
    wait = limiter.retry_after({key: request.app.state.central.settings.token_failures_per_ip})
    if wait is not None and not good.recent(hashed):
        _throttled.refused("token from %s refused for %.0f s: too many unknown tokens", ip, wait)
        raise too_many_attempts(wait, "unknown tokens")
    issued, holder = await request.app.state.central.tokens.find(token, hashed)
    if not issued:
        limiter.failed([key])
        _guesses.refused("unknown token from %s (%s %s)", ip, request.method, request.url.path)
    if holder is None:
        return None
    good.accepted(hashed)
    return Caller(holder.name, holder.role, holder.user_id, holder.device_id, holder.token_id)


@dataclass(frozen=True, slots=True)
class Refusal:
    """How an endpoint refuses a missing or bad credential."""

    status: int
    code: str
    missing: str
    unknown: str
    named: bool = False  # ``message`` holds the code, the sentence goes in ``description`` (a
    # vendor whose error table shows the name under "Message": api.vendor.integration)

    def error(self, sentence: str) -> ApiError:
        if self.named:
            return ApiError(self.status, self.code, self.code, description=sentence)
        return ApiError(self.status, self.code, sentence)


UNAUTHORIZED = Refusal(401, "Unauthorized",
                       "a token is required: 'Authorization: Bearer <token>' or 'X-API-Key: <token>'",
                       "unknown or revoked token")
_CALLER = "chargebay.caller"  # the scope key of a request's authenticated caller
GATE = "credential_refusal"  # the attribute that marks a dependency as needing a credential
F = TypeVar("F", bound=Callable[..., Any])


def gated(refusal: Refusal) -> Callable[[F], F]:
    """Mark a dependency as one that needs a credential (refused as ``refusal``): api.gate checks
    it before the request body is read."""
    def mark(dependency: F) -> F:
        setattr(dependency, GATE, refusal)
        return dependency
    return mark


async def authenticate(request: Request, refusal: Refusal) -> Caller:
    """The request's caller (checked once per request), or ``refusal`` as an ApiError."""
    known: Caller | None = request.scope.get(_CALLER)
    if known is not None:
        return known
    token = presented_token(request)
    if token is None:
        raise refusal.error(refusal.missing)
    caller = await check_token(request, token)
    if caller is None:
        raise refusal.error(refusal.unknown)
    request.scope[_CALLER] = caller
    return caller


def allowed_roles(*roles: str) -> frozenset[str]:
    """``roles`` and admin, which may do everything."""
    return frozenset(roles) | {"admin"}


async def caller_in(request: Request, allowed: frozenset[str]) -> Caller:
    """The request's caller if its role is in ``allowed``; 401 without a good token, 403 for
    another role."""
    caller = await authenticate(request, UNAUTHORIZED)
    if caller.role not in allowed:
        raise ApiError(403, "Forbidden", f"role {caller.role!r} may not do this")
    return caller


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency that lets in a token whose role is in ``roles`` (admin always)."""
    allowed = allowed_roles(*roles)

    @gated(UNAUTHORIZED)
    async def dependency(request: Request, _: Bearer) -> Caller:
        return await caller_in(request, allowed)

    return dependency
