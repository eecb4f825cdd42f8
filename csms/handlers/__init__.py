"""Handlers of every charge-point-initiated action, per OCPP version: 1.6 (core profiles and the
security whitepaper) and 2.0.1 (:mod:`csms.handlers.v201`).

A handler takes the central system's services, the charge point's link and the validated
camelCase payload, and returns the answer payload (see :mod:`csms.handlers.context`). A
connection looks its version's table up once (:func:`handlers_of`).
"""

from __future__ import annotations

from collections.abc import Callable

from csms.handlers.context import Handler

HANDLERS: dict[str, Handler] = {}  # OCPP 1.6
HANDLERS_201: dict[str, Handler] = {}  # OCPP 2.0.1
_BY_VERSION = {"1.6": HANDLERS, "2.0.1": HANDLERS_201}


def handles(action: str, version: str = "1.6") -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of ``action`` in ``version``."""

    def register(fn: Handler) -> Handler:
        _BY_VERSION[version][action] = fn
        return fn

    return register


def handlers_of(version: str) -> dict[str, Handler]:
    """The handlers of one OCPP version, by action."""
    return _BY_VERSION[version]


from csms.handlers import core, firmware, security, transactions, v201, v201_transactions  # noqa: E402,F401
