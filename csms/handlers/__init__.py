"""Handlers of every charge-point-initiated OCPP 1.6 action (core profiles and security whitepaper).

A handler takes the central system's services, the charge point's link and the validated
camelCase payload, and returns the answer payload (see :mod:`csms.handlers.context`).
"""

from __future__ import annotations

from collections.abc import Callable

from csms.handlers.context import Handler

HANDLERS: dict[str, Handler] = {}


def handles(action: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of ``action``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[action] = fn
        return fn

    return register


from csms.handlers import core, firmware, security, transactions  # noqa: E402,F401
