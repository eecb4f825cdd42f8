"""Sending CSMS-initiated OCPP actions to charge points, wherever they are connected, each in the
version its charge point speaks (the one it pinned or negotiated last: 1.6 or 2.0.1).

Every command is stored when it is sent and again when it ends, so an integrator can look up a
command by id long after the HTTP request that started it, and nothing sent goes unrecorded.
:meth:`CommandService.run` is a REST command from end to end (check, record, send, outcome,
callback); :meth:`CommandService.send` is the same for the central system's own callers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from csms.callbacks import Callbacks
from csms.events import EventBus
from csms.outcomes import Outcome
from csms.routing import Router
from csms.services.command_effects import CommandEffects
from csms.services.errors import Conflict, Invalid, NotFound, ServiceError
from csms.store.models import Command, table
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.basic_auth import redacted
from ocppj.validation import SchemaViolation
from ocppj.versions import SERVED, V16, Version

log = logging.getLogger(__name__)
_COMMANDS = table(Command)
# how a command ended, a prepared UPDATE (the key's name must not be a column's: SQLAlchemy reserves those)
# a charge point id -> what is known of it, or None; fresh=True: read now, not from a cache
Lookup = Callable[..., Awaitable[object | None]]


def _pending(command_id: str, charge_point_id: str, action: str, payload: dict[str, Any],
             requested_by: str | None, callback_url: str | None, now: datetime) -> dict[str, Any]:
    """A command's row as recorded before it goes out (parameters of one prepared INSERT: building
    an ``insert().values(...)`` per command was ~3 % of a REST command's CPU)."""
    return {"id": command_id, "charge_point_id": charge_point_id, "action": action,
            "payload": orjson.dumps(redacted(action, payload)).decode(), "status": "pending",
            "requested_by": requested_by, "callback_url": callback_url, "created_at": now}


class UnknownAction(ValueError):
    """Not an action a central system can send, in any version served."""


def version_of(known: object | None) -> Version:
    """The version a charge point speaks: the one it connected with last (its socket speaks it
    until it reconnects, even when an operator pinned another meanwhile), else the one pinned
    (1.6 for one that never connected)."""
    name = getattr(known, "ocpp_version", None) or getattr(known, "ocpp_version_pinned", None)
    return next((v for v in SERVED if v.name == name), V16)


@dataclass(frozen=True, slots=True)
class Sent:
    """A command on its way: what is sent to whom, in which version."""

    command_id: str
    charge_point_id: str
    action: str
    payload: dict[str, Any]
    version: Version


@dataclass(frozen=True, slots=True)
class CommandRun:
    """A command that was sent: its id, and how it ended (None: not waited for)."""

    command_id: str
    outcome: Outcome | None


class CommandService:
    """Validates a command against the 1.6 schema, routes it, stores it; returns an :class:`Outcome`."""

    def __init__(self, router: Router, writer: Writer, events: EventBus, default_timeout: float,
                 callbacks: Callbacks, lookup: Lookup, effects: CommandEffects) -> None:
        self._router = router
        self._writer = writer
        self._events = events
        self.default_timeout = default_timeout
        self._callbacks = callbacks
        self._lookup = lookup
        self._effects = effects
        self._background: set[asyncio.Task[Any]] = set()  # commands not waited for, callbacks

    def check(self, action: str, payload: dict[str, Any], version: Version = V16,
              charge_point_id: str = "") -> None:
        """Raise :class:`UnknownAction`, :class:`Conflict` ``ActionNotInVersion`` (an action the
        charge point's version does not have), :class:`SchemaViolation` or :class:`Invalid` (a
        value the central system could not follow, :meth:`CommandEffects.check`) before anything
        is sent."""
        if not any(action in v.csms_actions for v in SERVED):
            raise UnknownAction(f"{action!r} is not a CSMS-initiated OCPP action")
        if action not in version.csms_actions:
            raise Conflict("ActionNotInVersion", f"{action} is not an OCPP {version.name} action, and "
                           f"{charge_point_id or 'the charge point'} speaks OCPP {version.name}")
        version.validator.validate(action, payload)
        self._effects.check(action, payload, version)

    async def known(self, charge_point_id: str) -> object | None:
        """What the central system knows of a charge point (cached), or None: not in the store."""
        return await self._lookup(charge_point_id)

    async def prepare(self, charge_point_id: str, action: str, payload: dict[str, Any],
                      requested_by: str | None, version: Version) -> dict[str, Any]:
        """The payload as it goes out, after what the action needs first (:meth:`CommandEffects.prepare`)."""
        return await self._effects.prepare(charge_point_id, action, payload, requested_by, version)

    def check_request(self, action: str, payload: dict[str, Any], version: Version,
                      charge_point_id: str = "") -> None:
        """:meth:`check`, as a REST request is refused: a schema violation is :class:`Invalid`
        ``InvalidPayload`` naming the version whose schema the payload breaks."""
        try:
            self.check(action, payload, version, charge_point_id)
        except SchemaViolation as exc:
            raise Invalid("InvalidPayload", f"{action} payload breaks the OCPP {version.name} schema: "
                          f"{exc.description}", violation=exc.code) from None

    def _check_unknown(self, action: str, payload: dict[str, Any], charge_point_id: str) -> None:
        """:meth:`check_request` for a charge point not in the store: it speaks no version yet, so
        a payload valid in any version that has the action passes (the answer is then 404, not
        a refusal for not being 1.6's); one valid in none is refused as the first version says."""
        refusals: list[ServiceError] = []
        for version in [v for v in SERVED if action in v.csms_actions] or [V16]:
            try:
                self.check_request(action, payload, version, charge_point_id)
                return
            except ServiceError as exc:
                refusals.append(exc)
        raise refusals[0]

    async def version(self, charge_point_id: str) -> Version:
        """The OCPP version a command to ``charge_point_id`` goes out in: its socket's when it is
        connected here; else what the store says now (it may have reconnected at another node in
        another version: no cache of ours can know), see :func:`version_of`."""
        conn = self._router.local(charge_point_id)
        if conn is not None:
            return conn.version
        return version_of(await self._lookup(charge_point_id, fresh=True))

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    async def record(self, command_id: str, charge_point_id: str, action: str,
                     payload: dict[str, Any], requested_by: str | None = None,
                     callback_url: str | None = None) -> None:
        """Store a command as pending (committed before it goes out)."""
        row = _pending(command_id, charge_point_id, action, payload, requested_by, callback_url, now_utc())
        await self._writer.save(_COMMANDS, [row])  # with the batch's other rows, not an operation

    async def send(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None, command_id: str | None = None,
                   requested_by: str | None = None, callback_url: str | None = None) -> Outcome:
        """Check, store, send and wait (``timeout`` s, default CALL_TIMEOUT); store the outcome.

        A ``command_id`` that was already :meth:`record`-ed is not stored again.
        """
        version = await self.version(charge_point_id)
        self.check(action, payload, version, charge_point_id)
        payload = await self._effects.prepare(charge_point_id, action, payload, requested_by, version)
        if command_id is None:
            command_id = self.new_id()
            await self.record(command_id, charge_point_id, action, payload, requested_by,
                              callback_url)
        return await self.deliver(command_id, charge_point_id, action, payload, timeout, version)

    async def run(self, charge_point_id: str, action: str, payload: dict[str, Any], *, wait: float,
                  requested_by: str, callback_url: str | None = None) -> CommandRun:
        """A REST command, in one call: check it (the payload against the schema once, the
        callback URL, that the charge point is known), record it, send it and record how it
        ended; the outcome goes to ``callback_url`` too, without holding up the answer.

        ``wait`` seconds to wait for the answer; 0: sent in the background (with the default
        timeout) and answered at once with the command's id. Refuses, before anything is stored
        or sent, with :class:`Invalid` ``InvalidPayload`` (against the schema of the version the
        charge point speaks), :class:`Conflict` ``ActionNotInVersion``, :class:`OutboundRefused`
        (the callback URL) or :class:`NotFound` ``ChargePointNotFound``.
        """
        known = await self._lookup(charge_point_id)  # cached: a charge point that just booted counts
        if known is None:
            self._check_unknown(action, payload, charge_point_id)
            if callback_url:
                await self._callbacks.check(callback_url)
            raise NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
        version = await self.version(charge_point_id)
        self.check_request(action, payload, version, charge_point_id)
        if callback_url:
            await self._callbacks.check(callback_url)
        payload = await self._effects.prepare(charge_point_id, action, payload, requested_by, version)
        command_id = self.new_id()
        await self.record(command_id, charge_point_id, action, payload, requested_by, callback_url)

        async def execute(timeout: float) -> Outcome:
            outcome = await self.deliver(command_id, charge_point_id, action, payload, timeout, version)
            if callback_url:
                self.in_background(self._callbacks.deliver(callback_url, command_id, charge_point_id,
                                                            action, outcome))
            return outcome

        if wait == 0:
            self.in_background(execute(self.default_timeout))
            return CommandRun(command_id, None)
        return CommandRun(command_id, await execute(wait))

    async def drain(self, timeout: float) -> None:
        """Let what was sent without waiting (``wait=0`` commands, fleet commands, callbacks) end
        before the store closes: at shutdown the sockets close first, so a local command ends
        ``offline`` at once and is stored as such instead of staying ``pending`` forever. What is
        still running after ``timeout`` s (a call routed to another node) is cancelled."""
        if not self._background:
            return
        _, left = await asyncio.wait(set(self._background), timeout=timeout)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
            log.warning("%d command(s) sent without waiting were still running at shutdown; "
                        "they stay pending", len(left))

    def in_background(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` on its own, holding a reference until it ends (the loop keeps none)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def deliver(self, command_id: str, charge_point_id: str, action: str, payload: dict[str, Any],
                      timeout: float | None, version: Version = V16) -> Outcome:
        """Send a recorded command, wait up to ``timeout`` s, store and publish its outcome, and
        apply what it means to the central system (:meth:`CommandEffects.settle`)."""
        outcome = await self._router.send(charge_point_id, action, payload,
                                          self.default_timeout if timeout is None else timeout)
        row = {"id": command_id, "status": outcome.kind, "message_id": outcome.message_id,
               "completed_at": now_utc(), "error_code": outcome.error_code,
               "error_description": outcome.description,
               "response": None if outcome.payload is None else orjson.dumps(outcome.payload).decode()}
        stored: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._writer.update(_COMMANDS, "id", row, stored)  # one executemany with the batch's others
        await stored
        await self._effects.settle(charge_point_id, action, payload, outcome, version)
        self._events.publish("command_result", charge_point_id, command_id=command_id,
                             action=action, outcome=outcome.kind, payload=outcome.payload,
                             error_code=outcome.error_code)
        return outcome

    async def record_many(self, sent: Sequence[Sent], requested_by: str | None) -> None:
        """Store commands as pending in one statement (committed before any goes out): a fleet
        command's 1,000 rows are one writer operation, not 1,000."""
        now = now_utc()
        rows = [_pending(s.command_id, s.charge_point_id, s.action, s.payload, requested_by, None, now)
                for s in sent]
        await self._writer.save(_COMMANDS, rows)
