"""One websocket to the central system, charge-point side: frames in and out over the OCPP-J core.

The reader answers the central system's calls from the :class:`~chargepoint.handlers.Handlers`
registry (schema-checked first, as the central system checks ours) and hands answers to the one
call of ours that is outstanding. :meth:`Link.lost` wakes that call with
:class:`~chargepoint.errors.Offline` when the socket goes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chargepoint.errors import CallRefused, Offline
from chargepoint.handlers import Handlers, Reply, without_nones
from ocppj.calls import MessageIds, Outstanding
from ocppj.frames import (
    CALLERROR,
    CALLRESULT,
    Call,
    CallError,
    CallResult,
    call_frame,
    error_frame,
    parse,
    result_frame,
    shown,
)
from ocppj.validation import SchemaViolation
from ocppj.versions import Version

log = logging.getLogger(__name__)

_ids = MessageIds()  # one counter per process: ids stay unique across a fleet's reconnects
FrameLog = Callable[[str, str], None]  # (direction "in"/"out", frame)
Gate = Callable[[], Awaitable[bool]]  # before answering a call: False drops it (a fault knob)
Spawn = Callable[[Coroutine[Any, Any, Any]], Any]
# How a charge point answered a call breaking its schema while this side ran on the `ocpp`
# library: the wire stays as it was (tests/locker_bridge pin FormatViolation for a bad enum).
LIBRARY_CODES = {"type": "TypeConstraintViolation", "additionalProperties": "FormatViolation",
                 "required": "ProtocolError", "maxLength": "TypeConstraintViolation"}
LIBRARY_DEFAULT = "FormatViolation"


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Link:
    """The connection's frames; lives as long as its socket."""

    def __init__(self, ws: ClientConnection, version: Version, handlers: Handlers, spawn: Spawn,
                 identity: str, frame_log: FrameLog | None = None, gate: Gate | None = None) -> None:
        self.ws = ws
        self.version = version
        self.handlers = handlers
        self.spawn = spawn
        self.identity = identity
        self.frame_log = frame_log
        self.gate = gate
        self._lock = asyncio.Lock()
        self._calls: Outstanding[asyncio.Future[Any]] = Outstanding()
        self._gone = False

    # -- out ------------------------------------------------------------------------------------
    async def send(self, frame: str) -> None:
        if self.frame_log is not None:
            self.frame_log("out", frame)
        await self.ws.send(frame)

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a call and return the answer payload; one at a time (callers queue).

        Raises :class:`Offline` when the socket goes meanwhile, TimeoutError past ``timeout`` and
        :class:`CallRefused` for a CALLERROR.
        """
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._gone:
                raise Offline(self.identity)
            uid = _ids.next()
            future: asyncio.Future[Any] = loop.create_future()
            self._calls.begin(uid, action, future)
            try:
                try:
                    await self.send(call_frame(uid, action, payload))
                except ConnectionClosed:
                    raise Offline(self.identity) from None
                # a timer on the future itself: asyncio.wait_for costs a fleet's worker ~3 %
                expiry = loop.call_later(timeout, _expire, future)
                try:
                    answer = await future
                finally:
                    expiry.cancel()
            finally:
                self._calls.end()
                if future.done() and not future.cancelled():
                    # the socket went while the frame was still going out (or the caller was
                    # cancelled): lost() gave the future an Offline nobody awaits; it is taken
                    # here so asyncio does not log "Future exception was never retrieved"
                    future.exception()
        if isinstance(answer, CallError):
            raise CallRefused(answer.code, answer.description, answer.details)
        return answer  # type: ignore[no-any-return]

    def lost(self) -> None:
        """The socket is gone: a waiting call ends as :class:`Offline`."""
        self._gone = True
        pending = self._calls.pending
        if pending is not None and not pending.waiter.done():
            pending.waiter.set_exception(Offline(self.identity))

    async def close(self, reason: str) -> None:
        await self.ws.close(1000, reason)

    # -- in -------------------------------------------------------------------------------------
    async def read(self) -> None:
        """Handle frames until the socket closes (one at a time, as OCPP-J expects)."""
        try:
            async for raw in self.ws:
                text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                if self.frame_log is not None:
                    self.frame_log("in", text)
                await self._on_frame(text)
        except ConnectionClosed:
            pass
        finally:
            self.lost()

    async def _on_frame(self, raw: str) -> None:
        event = parse(raw, self.version.errors)
        if isinstance(event, Call):
            await self._on_call(event)
        elif isinstance(event, CallResult):
            self._answered(event.message_id, event.payload)
        elif isinstance(event, CallError):
            self._answered(event.message_id, event)
        elif event.message_type in (CALLRESULT, CALLERROR):
            self._answered(event.message_id, CallError(event.answer_id, event.code,
                                                       "malformed answer from the central system"))
        else:
            await self._answer_error(event.answer_id, event.code, event.description)

    def _answered(self, message_id: str | None, answer: Any) -> None:
        pending = self._calls.match(message_id)
        if pending is None:
            log.debug("%s: answer to no call of ours dropped (%s)", self.identity, shown(message_id))
        elif not pending.waiter.done():
            pending.waiter.set_result(answer)

    async def _on_call(self, call: Call) -> None:
        if self.gate is not None and not await self.gate():
            return
        errors = self.version.errors
        handler = self.handlers.get(call.action)
        if handler is None:
            await self._answer_error(call.message_id, errors.not_implemented,
                                     f"no handler for {shown(call.action)}")
            return
        try:
            self.version.validator.validate(call.action, call.payload)
        except SchemaViolation as exc:
            code = LIBRARY_CODES.get(exc.rule or "", LIBRARY_DEFAULT)
            await self._answer_error(call.message_id, code, exc.description)
            return
        except OSError:  # no schema for it: an action this version does not have
            await self._answer_error(call.message_id, errors.not_implemented,
                                     f"unknown action {shown(call.action)}")
            return
        try:
            answer = handler(call.payload)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception:
            log.exception("%s: handler for %s failed", self.identity, call.action)
            await self._answer_error(call.message_id, errors.internal,
                                     f"the charge point failed to handle {call.action}")
            return
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        try:
            await self.send(result_frame(call.message_id, without_nones(reply.payload)))
        except ConnectionClosed:
            return
        if reply.then is not None:
            self.spawn(reply.then())

    async def _answer_error(self, message_id: str, code: str, description: str) -> None:
        try:
            await self.send(error_frame(message_id, code, description))
        except ConnectionClosed:
            pass
