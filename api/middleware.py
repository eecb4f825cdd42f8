"""ASGI middleware that acts before any route: who the client is.

:class:`ForwardedClient` replaces the ASGI ``client`` (and ``scheme``) from ``X-Forwarded-For``
(``X-Forwarded-Proto``) only when the TCP peer is one of ``CHARGEBAY_TRUSTED_PROXIES``
(:mod:`common.proxies`). uvicorn's own proxy-header handling, which trusts loopback by default,
is switched off (``chargebay.stack``), so this is the only place that decides.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from common.proxies import TrustedProxies, parse_address
from common.settings import Settings


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
        if scope["type"] == "http" and self.proxies.trusts(parse_address(host or "")):
            headers = Headers(scope=scope)
            client = self.proxies.client(host, headers.getlist("x-forwarded-for"))
            if client != host:
                scope["client"] = (client, 0)  # the caller's port is not forwarded
            proto = headers.get("x-forwarded-proto", "").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    def settings() -> Settings:
        return app.state.central.settings  # type: ignore[no-any-return]

    app.add_middleware(ForwardedClient, settings=settings)
