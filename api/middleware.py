"""ASGI middleware that acts before any route: who the client is, and how much it may send.

- :class:`ForwardedClient` replaces the ASGI ``client`` (and ``scheme``) from ``X-Forwarded-For``
  (``X-Forwarded-Proto``) only when the TCP peer is one of ``CHARGEBAY_TRUSTED_PROXIES``
  (:mod:`common.proxies`). uvicorn's own proxy-header handling, which trusts loopback by default,
  is switched off (``chargebay.stack``), so this is the only place that decides.
- :class:`BodyLimit` answers 413 ``PayloadTooLarge`` to a ``Content-Length`` over
  ``CHARGEBAY_MAX_BODY_BYTES`` before a byte of the body is read, and cuts off a streamed
  (chunked) body once it grows past the limit; what was read until then is all that is held.

Credentials are checked before the body is read too, but that needs the route (which endpoints
are public): :mod:`api.gate`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.proxies import TrustedProxies, parse_address
from common.settings import Settings

CLOSE = {"Connection": "close"}  # the rest of an unread body is not worth receiving


class _Middleware:
    """An ASGI middleware that reads the settings of the app's central system when it first needs
    them (an app built only to describe itself has none)."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings


class ForwardedClient(_Middleware):
    """The client address (and scheme) as trusted proxies report them."""

    @functools.cached_property
    def proxies(self) -> TrustedProxies:
        return TrustedProxies(self.settings().trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        host = peer[0] if peer else None
        # no proxy configured (the default): nothing to parse, the peer is the client
        if self.proxies and scope["type"] == "http" and self.proxies.trusts(parse_address(host or "")):
            headers = Headers(scope=scope)
            client = self.proxies.client(host, headers.getlist("x-forwarded-for"))
            if client != host:
                scope["client"] = (client, 0)  # the caller's port is not forwarded
            proto = headers.get("x-forwarded-proto", "").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body has grown past the limit. An HTTPException, so FastAPI
    passes it through its body parsing (anything else it turns into a 400) to the JSON error
    handler, which answers 413 ``PayloadTooLarge``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes", headers=CLOSE)


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"code": "PayloadTooLarge",
                         "message": f"the request body is larger than {limit} bytes"},
                        status_code=413, headers=CLOSE)


def declared_length(headers: Headers) -> int | None:
    """The request's Content-Length, None when it has none (or a malformed one: the server
    refuses those itself)."""
    value = headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return (declared_length(headers) or 0) > 0 or "transfer-encoding" in headers


class BodyLimit(_Middleware):
    """At most ``max_body_bytes`` of request body, refused before reading when declared larger."""

    @functools.cached_property
    def limit(self) -> int:
        return self.settings().max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = declared_length(headers)
        if declared is not None and declared > self.limit:
            await too_large(self.limit)(scope, receive, send)
            return
        if declared is not None and "transfer-encoding" not in headers:
            # the server reads no more than Content-Length: nothing to watch (a request that
            # also names a transfer coding is refused by httptools and framed as chunked by h11:
            # then the header is there and the body is watched below)
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            if started:
                raise
            await too_large(self.limit)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add both; the client address is settled first (outermost)."""
    def settings() -> Settings:
        return app.state.central.settings  # type: ignore[no-any-return]

    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(ForwardedClient, settings=settings)
