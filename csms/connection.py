"""One charge point's websocket: dispatch of its frames to handlers, and outbound calls.

This is the hot path. It does not use the `ocpp` library's ``ChargePoint`` routing: that layer
inspects signatures and converts key case by regex on every frame and answers malformed input
with the wrong codes for 1.6 (see shared notes). Framing, error spellings, message ids and schema
validation are the OCPP-J core's (:mod:`ocppj`); what is left here is what a central system does
with them: the message log, the rejected-frame budget, metrics and the handlers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.delivery import deliver
from csms.handlers import handlers_of
from csms.handlers.context import Services
from csms.metrics import CALL_ERRORS, CALL_ROUND_TRIP, MESSAGES, REJECTED_CLOSES
from csms.outcomes import Outcome
from csms.rejected import ACTION_CHARS, MESSAGE_ID_CHARS, clip
from ocppj.basic_auth import redacted, redacted_answer
from ocppj.calls import MessageIds, Outstanding, RecentIds
from ocppj.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    BadFrame,
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
from ocppj.versions import V16, Version

if TYPE_CHECKING:
    from csms.central import CentralSystem
    from csms.store.known_201 import Known

log = logging.getLogger(__name__)

TAKEOVER_CODE = 4001  # application close code: replaced by a newer connection
DESCRIPTION_CHARS = 200  # of a CALLERROR's description (the peer's strings can be 64 KiB)
VOUCH_TIMEOUT_S = 30.0  # without durable answers: the longest wait for a vouched write
# Answers a connection may have handed to the writer and not yet written. A charge point sends its
# next call once answered, so there is one at most; one that sends on without reading (or whose
# socket is paused by flow control) gets its answers the awaited way (Writer.durable, then send,
# which drains), so its task stops reading and TCP holds it back, as before answers were handed.
HANDED_MAX = 2
GARBAGE_CODE = 1008  # policy violation: nothing but rejected frames, past the budget (csms.rejected)
_ids = MessageIds()  # prefixed per central system (CentralSystem.node_prefix)

_count = MESSAGES.add  # (action, direction), see csms.metrics.FrameCounts


async def _unstored(vouched: list[asyncio.Future[Any]], central: CentralSystem) -> bool:
    """Whether a write an answer vouches for failed (or never ended): then no CALLRESULT."""
    if central.durable_answers:
        await central.writer.durable()  # their batch is over, committed or failed
    else:
        await asyncio.wait(vouched, timeout=VOUCH_TIMEOUT_S)
    return any(not f.done() or f.cancelled() or f.exception() is not None for f in vouched)


class Connection:
    """A connected charge point. Holds only what a live socket needs (thousands of these)."""

    __slots__ = ("charge_point_id", "ws", "central", "services", "registration_status", "_recent",
                 "_call_lock", "_calls", "booted_at", "unreported", "_accepted",
                 "version", "_errors", "_validate", "_csms_actions", "_handlers", "_after",
                 "open_transactions", "_vouched", "_handed", "__weakref__")

    def __init__(self, charge_point_id: str, ws: ServerConnection, central: CentralSystem,
                 registration_status: str, services: Services | None = None,
                 version: Version = V16) -> None:
        self.charge_point_id = charge_point_id
        # the OCPP version its subprotocol chose: how errors are spelled, which schemas and
        # handlers apply (held apart: read on every frame)
        self.version = version  # what the commands to it are checked and sent in
        self._errors = version.errors
        self._validate = version.validator.validate
        self._csms_actions = version.csms_actions
        self._handlers = handlers_of(version.name)
        self.ws = ws
        self.central = central
        self.services = services or Services.of(central)
        self.registration_status = registration_status
        self._recent = RecentIds()
        self._call_lock: asyncio.Lock | None = None
        self._calls: Outstanding[asyncio.Future[Outcome]] = Outstanding()
        # since its last BootNotification on this socket: when, and the connectors (a bit each)
        # that have not reported a status since (see csms.handlers.core.status_notification)
        self.booted_at: datetime | None = None
        self.unreported = 0
        self._accepted = False  # a valid call or answer came: no garbage sender (_over_budget)
        self._after: list[Callable[[], None]] | None = None  # jobs of the call being handled
        self.open_transactions: dict[str, Known] | None = None  # 2.0.1 (csms.store.known_201)
        self._vouched: list[asyncio.Future[Any]] | None = None  # writes the answer being made vouches for
        self._handed = 0  # answers handed to the writer, not written yet (see HANDED_MAX)

    def vouch(self, stored: asyncio.Future[Any]) -> None:
        """The answer to the call being handled vouches for ``stored`` (see ChargePointLink)."""
        if self._vouched is None:
            self._vouched = []
        self._vouched.append(stored)

    def after_answer(self, job: Callable[[], None]) -> None:
        """Run ``job`` once the answer to the call being handled is sent (see ChargePointLink)."""
        if self._after is None:
            self._after = []
        self._after.append(job)

    # -- inbound ---------------------------------------------------------------------------
    async def serve(self) -> None:
        """Read frames until the socket closes. One frame is handled at a time, as OCPP-J expects."""
        ws = self.ws
        try:
            async for raw in ws:
                if type(raw) is not str:
                    await ws.close(1003, "binary frames are not OCPP-J")
                    return
                await self._on_frame(raw)
        except ConnectionClosed:
            pass

    def _log_frame(self, now: datetime, direction: str, mtype: int, uid: str | None,
                   action: str | None, frame: str) -> None:
        self.central.writer.log((self.charge_point_id, now, direction, mtype, uid, action, frame))

    async def _on_frame(self, raw: str) -> None:
        now = datetime.now(UTC)
        self.central.writer.touch(self.charge_point_id, now)
        event = parse(raw, self._errors)
        kind = type(event)
        if kind is Call:
            await self._on_call(event, raw, now)  # type: ignore[arg-type]
        elif kind is CallResult or kind is CallError:
            await self._on_answer(event, raw, now)  # type: ignore[arg-type]
        else:
            assert isinstance(event, BadFrame)
            if event.message_type == CALLRESULT or event.message_type == CALLERROR:
                await self._on_answer(event, raw, now)  # it may still end the call it names
            else:
                await self._reject(raw, now, event.message_type, event.message_id, event.action,
                                   event.answer_id, event.code, event.description)

    async def _on_call(self, call: Call, raw: str, now: datetime) -> None:
        uid, action = call.message_id, call.action
        handler = self._handlers.get(action)
        if handler is not None or action in self._csms_actions:
            _count(action, "in")  # not every name sent: a label per name would grow without bound
        if self._recent.repeated(uid):
            await self._reject(raw, now, CALL, uid, action, uid, self._errors.protocol,
                               "message id already used on this connection")
            return
        if handler is None:
            if action in self._csms_actions:
                await self._reject(raw, now, CALL, uid, action, uid, self._errors.not_supported,
                                   f"{action} is sent by a central system, not to one")
            else:
                await self._reject(raw, now, CALL, uid, action, uid, self._errors.not_implemented,
                                   f"unknown action {shown(action)}")
            return
        payload = call.payload
        try:
            self._validate(action, payload)
        except SchemaViolation as exc:
            await self._reject(raw, now, CALL, uid, action, uid, exc.code, exc.description)
            return
        self._accepted = True
        kept = redacted(action, payload)  # a secret a station reports is not the log's
        self._log_frame(now, "in", CALL, uid, action, raw if kept is payload else call_frame(uid, action, kept))
        try:
            result = await handler(self.services, self, payload)
            vouched, self._vouched = self._vouched, None
            if vouched and await _unstored(vouched, self.central):
                raise RuntimeError(f"{action}: a write its answer vouches for was not stored")
        except Exception:
            self._after = None
            self._vouched = None
            self.central.throttles.log(f"handler {action}", log, logging.ERROR,
                                       "%s: handler for %s failed", self.charge_point_id, action,
                                       exc_info=True)
            await self._send_error(uid, self._errors.internal, "the central system failed to handle this",
                                   action, now)
            return
        frame = result_frame(uid, result)
        _count(action, "out")
        self._log_frame(datetime.now(UTC), "out", CALLRESULT, uid, action, frame)
        jobs, self._after = self._after, None
        if jobs is None and self.central.durable_answers and self._handed < HANDED_MAX and not self.ws.paused:
            self._handed += 1  # the writer sends it once its log rows are committed (csms.delivery)
            self.central.writer.after_commit(partial(self._deliver, frame))
            return
        await self._send(frame)
        for job in jobs or ():
            job()

    async def _on_answer(self, answer: CallResult | CallError | BadFrame, raw: str,
                         now: datetime) -> None:
        mtype = CALLRESULT if type(answer) is CallResult else (
            CALLERROR if type(answer) is CallError else answer.message_type)  # type: ignore[union-attr]
        uid = answer.message_id
        pending = self._calls.match(uid)
        if pending is None:
            self.central.throttles.log("unknown answer", log, logging.WARNING,
                                       "%s: answer to unknown or expired call %s dropped",
                                       self.charge_point_id, shown(uid))
            if not self._keep_rejected(raw, now, mtype, uid, None):
                await self._over_budget()
            return
        action = pending.action
        self._accepted = True
        if type(answer) is CallResult and (kept := redacted_answer(action, answer.payload)) is not answer.payload:
            answer = CallResult(answer.message_id, kept)  # a secret a station answers: neither logged nor passed on
            raw = result_frame(answer.message_id, kept)
        self._log_frame(now, "in", mtype, uid, action, raw)
        _count(action, "in")
        future = pending.waiter
        if future.done():
            return
        if type(answer) is CallResult:
            future.set_result(Outcome("result", payload=answer.payload, message_id=uid))
        elif type(answer) is CallError:
            CALL_ERRORS.labels(code=answer.code, direction="in").inc()
            future.set_result(Outcome("call_error", error_code=answer.code,
                                      description=answer.description, details=answer.details,
                                      message_id=uid))
        else:
            future.set_result(Outcome("call_error", error_code=self._errors.format,
                                      description="malformed answer from the charge point",
                                      message_id=uid))

    def _deliver(self, frame: str) -> None:
        self._handed -= 1
        deliver(self.ws, frame)

    async def _send(self, frame: str) -> None:
        """Send an answer once its log row (and all written before it) is committed."""
        if self.central.durable_answers:
            await self.central.writer.durable()
        try:
            await self.ws.send(frame)
        except ConnectionClosed:
            pass

    async def _send_error(self, uid: str, code: str, description: str, action: str | None,
                          now: datetime, logged: bool = True) -> None:
        CALL_ERRORS.labels(code=code, direction="out").inc()
        frame = error_frame(uid, code, description)
        if logged:
            self._log_frame(now, "out", CALLERROR, uid, action, frame)
        await self._send(frame)

    # -- rejected frames (csms.rejected says what is kept of them, and why) ---------------------
    def _keep_rejected(self, raw: str, now: datetime, mtype: int, uid: str | None,
                       action: str | None) -> bool:
        """Log a rejected frame within this charge point's budget (cut to size); whether it was."""
        rejected = self.central.rejected
        if not rejected.admit(self.charge_point_id):
            return False
        self._log_frame(now, "in", mtype, clip(uid, MESSAGE_ID_CHARS), clip(action, ACTION_CHARS),
                        rejected.stored_form(raw))
        return True

    async def _reject(self, raw: str, now: datetime, mtype: int, uid: str | None,
                      action: str | None, answer_id: str, code: str, description: str) -> None:
        """Answer a rejected frame with a CALLERROR; both are logged only within the budget."""
        kept = self._keep_rejected(raw, now, mtype, uid, action)
        if len(description) > DESCRIPTION_CHARS:  # a schema error can quote the peer's keys
            description = description[:DESCRIPTION_CHARS - 3] + "..."
        await self._send_error(answer_id, code, description, clip(action, ACTION_CHARS), now, kept)
        if not kept:
            await self._over_budget()

    async def _over_budget(self) -> None:
        """Past its budget: a connection that never sent a valid call or answer is closed (1008)."""
        if not self._accepted:
            REJECTED_CLOSES.inc()
            self.central.throttles.log("garbage close", log, logging.WARNING,
                                       "%s: nothing but rejected frames, past the budget: closed "
                                       "(%d)", self.charge_point_id, GARBAGE_CODE)
            await self.ws.close(GARBAGE_CODE, "too many rejected frames")

    # -- outbound --------------------------------------------------------------------------
    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> Outcome:
        """Send a CSMS-initiated action and wait for the answer.

        OCPP allows one outstanding call per connection, so callers queue on a lock. Never await
        this inside a handler of the same connection: the answer could not be read meanwhile.
        """
        refused = self._not_for_this_socket(action, payload)
        if refused is not None:
            return refused
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                await self._call_lock.acquire()
        except TimeoutError:
            return Outcome("timeout", description="another call to this charge point is still waiting")
        try:
            uid = self.central.node_prefix + _ids.next()
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            self._calls.begin(uid, action, future)
            frame = call_frame(uid, action, payload)
            now = datetime.now(UTC)
            _count(action, "out")
            kept = redacted(action, payload)
            self._log_frame(now, "out", CALL, uid, action, frame if kept is payload else call_frame(uid, action, kept))
            started = time.perf_counter()
            if self.central.durable_answers:
                await self.central.writer.durable()
            try:
                await self.ws.send(frame)
            except ConnectionClosed:
                return Outcome("offline", description="the charge point disconnected", message_id=uid)
            try:
                outcome = await asyncio.wait_for(future, max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                return Outcome("timeout", description=f"no answer within {timeout:g} s", message_id=uid)
            CALL_ROUND_TRIP.labels(action=action).observe(time.perf_counter() - started)
            if outcome.kind == "result":
                try:
                    self._validate(action, outcome.payload, response=True)
                except SchemaViolation as exc:
                    return Outcome("call_error", error_code=exc.code,
                                   description=f"charge point answer breaks the schema: {exc.description}",
                                   payload=outcome.payload, message_id=uid)
            return outcome
        finally:
            self._calls.end()
            self._call_lock.release()

    def _not_for_this_socket(self, action: str, payload: dict[str, Any]) -> Outcome | None:
        """A command made for another OCPP version than this socket speaks (another node checked
        it against the store before this connect's version was committed): refused here, never
        sent as something the charge point cannot read."""
        try:
            if action not in self._csms_actions:
                raise SchemaViolation("ActionNotInVersion", f"{action} is not an OCPP {self.version.name} action")
            self._validate(action, payload)
        except SchemaViolation as exc:
            return Outcome("call_error", error_code="ActionNotInVersion" if action not in self._csms_actions
                           else "InvalidPayload",
                           description=f"not sent: the charge point now speaks OCPP {self.version.name} "
                                       f"({exc.description})")
        return None

    def replace(self, reason: str) -> None:
        """A newer connection of the same charge point (here or at another node) took over:
        fail the waiting call and close this socket with :data:`TAKEOVER_CODE`."""
        self.drop(reason)
        asyncio.create_task(self.ws.close(TAKEOVER_CODE, reason))

    def drop(self, reason: str) -> None:
        """The socket is gone: fail the waiting call (if any) as offline."""
        pending = self._calls.pending
        if pending is not None and not pending.waiter.done():
            pending.waiter.set_result(Outcome("offline", description=reason,
                                              message_id=pending.message_id))
