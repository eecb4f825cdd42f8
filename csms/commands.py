"""Sending CSMS-initiated OCPP 1.6 actions to charge points, wherever they are connected."""

from __future__ import annotations

from typing import Any

from csms.outcomes import Outcome
from csms.routing import Router
from csms.validation import CSMS_ACTIONS, SchemaViolation, validate


class UnknownAction(ValueError):
    """Not an action a 1.6 central system can send."""


class CommandService:
    """Validates a command against the 1.6 schema, then routes it; returns an :class:`Outcome`."""

    def __init__(self, router: Router, default_timeout: float) -> None:
        self._router = router
        self._default_timeout = default_timeout

    @staticmethod
    def check(action: str, payload: dict[str, Any]) -> None:
        """Raise :class:`UnknownAction` or :class:`SchemaViolation` before anything is sent."""
        if action not in CSMS_ACTIONS:
            raise UnknownAction(f"{action!r} is not a CSMS-initiated OCPP 1.6 action")
        validate(action, payload)

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None) -> Outcome:
        self.check(action, payload)
        return await self._router.send(charge_point_id, action, payload,
                                       self._default_timeout if timeout is None else timeout)


__all__ = ["CommandService", "Outcome", "SchemaViolation", "UnknownAction"]
