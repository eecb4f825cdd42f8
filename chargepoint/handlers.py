"""The registry of what a charge point answers when the central system calls it.

A handler takes the validated camelCase payload and returns the answer payload, or a
:class:`Reply` when work must follow the answer (a reset, a triggered message): that work runs
only once the answer is on the wire, since OCPP-J reads one message at a time and a call made
from inside a handler could never be answered. An action without a handler is answered
NotImplemented.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]
After = Callable[[], Coroutine[Any, Any, None]]
Handler = Callable[[Payload], "Payload | Reply | Awaitable[Payload | Reply]"]


@dataclass(slots=True)
class Reply:
    """An answer, and the work that follows it once it has been sent."""

    payload: Payload
    then: After | None = None


class Handlers:
    """Action name -> handler; ``handlers.on("Reset")`` registers a function or method."""

    def __init__(self) -> None:
        self._table: dict[str, Handler] = {}

    def on(self, action: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._table[action] = fn
            return fn

        return register

    def add(self, action: str, fn: Handler) -> None:
        self._table[action] = fn

    def get(self, action: str) -> Handler | None:
        return self._table.get(action)

    def __contains__(self, action: object) -> bool:
        return action in self._table

    def actions(self) -> frozenset[str]:
        return frozenset(self._table)


def without_nones(value: Any) -> Any:
    """An answer as sent: keys whose value is None left out, at every depth (as the `ocpp`
    library's answers always were; OCPP's schemas do not allow null)."""
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value
