"""Sending CSMS-initiated OCPP 1.6 actions to charge points, wherever they are connected.

Every command is stored when it is sent and again when it ends, so an integrator can look up a
command by id long after the HTTP request that started it, and nothing sent goes unrecorded.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import update

from csms.events import EventBus
from csms.outcomes import Outcome
from csms.routing import Router
from csms.store.models import Command
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.versions import V16

_COMMANDS = Command.__table__


class UnknownAction(ValueError):
    """Not an action a 1.6 central system can send."""


class CommandService:
    """Validates a command against the 1.6 schema, routes it, stores it; returns an :class:`Outcome`."""

    def __init__(self, router: Router, writer: Writer, events: EventBus,
                 default_timeout: float) -> None:
        self._router = router
        self._writer = writer
        self._events = events
        self.default_timeout = default_timeout

    @staticmethod
    def check(action: str, payload: dict[str, Any]) -> None:
        """Raise :class:`UnknownAction` or :class:`SchemaViolation` before anything is sent."""
        if action not in V16.csms_actions:
            raise UnknownAction(f"{action!r} is not a CSMS-initiated OCPP 1.6 action")
        V16.validator.validate(action, payload)

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    async def record(self, command_id: str, charge_point_id: str, action: str,
                     payload: dict[str, Any], requested_by: str | None = None,
                     callback_url: str | None = None) -> None:
        """Store a command as pending (committed before it goes out)."""
        stmt = _COMMANDS.insert().values(
            id=command_id, charge_point_id=charge_point_id, action=action,
            payload=orjson.dumps(payload).decode(), status="pending", requested_by=requested_by,
            callback_url=callback_url, created_at=now_utc())
        await self._writer.run(lambda c: c.execute(stmt))

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None, command_id: str | None = None,
                   requested_by: str | None = None, callback_url: str | None = None) -> Outcome:
        """Check, store, send and wait (``timeout`` s, default CALL_TIMEOUT); store the outcome.

        A ``command_id`` that was already :meth:`record`-ed is not stored again.
        """
        self.check(action, payload)
        if command_id is None:
            command_id = self.new_id()
            await self.record(command_id, charge_point_id, action, payload, requested_by,
                              callback_url)
        outcome = await self._router.send(charge_point_id, action, payload,
                                          self.default_timeout if timeout is None else timeout)
        stmt = update(_COMMANDS).where(_COMMANDS.c.id == command_id).values(
            status=outcome.kind,
            response=None if outcome.payload is None else orjson.dumps(outcome.payload).decode(),
            error_code=outcome.error_code, error_description=outcome.description,
            message_id=outcome.message_id, completed_at=now_utc())
        await self._writer.run(lambda c: c.execute(stmt))
        self._events.publish("command_result", charge_point_id, command_id=command_id,
                             action=action, outcome=outcome.kind, payload=outcome.payload,
                             error_code=outcome.error_code)
        return outcome
