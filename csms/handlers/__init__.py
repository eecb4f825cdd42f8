"""Handlers of every charge-point-initiated OCPP 1.6 action (core profiles and security whitepaper).

A handler takes the connection and the validated camelCase payload and returns the answer payload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csms.connection import Connection

Handler = Callable[["Connection", dict[str, Any]], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def handles(action: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of ``action``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[action] = fn
        return fn

    return register


from csms.handlers import core, firmware, security, transactions  # noqa: E402,F401
