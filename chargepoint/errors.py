"""The ways a charge point's call can fail short of an answer it can use.

``CallRefused`` is an :class:`ocpp.exceptions.OCPPError` so that code written against the `ocpp`
library's exception (the REST routes that start a locker charge) keeps catching it.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import OCPPError


class Offline(Exception):
    """No booted connection to the central system, or it dropped while a call waited."""


class CallRefused(OCPPError):  # type: ignore[misc]  # the library ships no types
    """The central system answered a call with a CALLERROR (an answer: never sent again)."""

    code = "GenericError"

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(description, details or {})
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"
