"""One charge point's websocket: the OCPP-J framing, dispatch to handlers, and outbound calls.

This is the hot path. It does not use the `ocpp` library's ``ChargePoint`` routing: that layer
inspects signatures and converts key case by regex on every frame and answers malformed input
with the wrong codes for 1.6 (see shared notes). Frames are parsed with orjson, validated against
the library's schemas compiled once, and handlers work on the camelCase dicts as they arrive.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from csms.handlers import HANDLERS
from csms.metrics import CALL_ERRORS, CALL_ROUND_TRIP, MESSAGES, REJECTED_CLOSES
from csms.outcomes import Outcome
from csms.rejected import ACTION_CHARS, MESSAGE_ID_CHARS, clip
from csms.store.models import Message
from csms.validation import CSMS_ACTIONS, SchemaViolation, validate

if TYPE_CHECKING:
    from csms.central import CentralSystem

log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
RECENT_IDS = 16  # message ids remembered per connection to refuse a repeated one
TAKEOVER_CODE = 4001  # application close code: replaced by a newer connection
DESCRIPTION_CHARS = 200  # of a CALLERROR's description (the peer's strings can be 64 KiB)
GARBAGE_CODE = 1008  # policy violation: nothing but rejected frames, past the budget (csms.rejected)
_MESSAGES = Message.__table__
_ids = itertools.count(1)

_in_counters: dict[str, Any] = {}
_out_counters: dict[str, Any] = {}


def _count(action: str, direction: str) -> None:
    """Count a frame; label children are cached (``labels()`` costs more than ``inc()``)."""
    cache = _in_counters if direction == "in" else _out_counters
    child = cache.get(action)
    if child is None:
        child = cache[action] = MESSAGES.labels(action=action, direction=direction)
    child.inc()


class Connection:
    """A connected charge point. Holds only what a live socket needs (thousands of these)."""

    __slots__ = ("charge_point_id", "ws", "central", "registration_status", "_recent",
                 "_call_lock", "_pending", "_pending_action", "booted_at", "unreported",
                 "_accepted", "__weakref__")

    def __init__(self, charge_point_id: str, ws: ServerConnection, central: CentralSystem,
                 registration_status: str) -> None:
        self.charge_point_id = charge_point_id
        self.ws = ws
        self.central = central
        self.registration_status = registration_status
        self._recent: deque[str] = deque(maxlen=RECENT_IDS)
        self._call_lock: asyncio.Lock | None = None
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self._pending_action = ""
        # since its last BootNotification on this socket: when, and the connectors (a bit each)
        # that have not reported a status since (see csms.handlers.core.status_notification)
        self.booted_at: datetime | None = None
        self.unreported = 0
        self._accepted = False  # a valid call or answer came: no garbage sender (_over_budget)

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
        self.central.writer.insert(_MESSAGES, {
            "charge_point_id": self.charge_point_id, "ts": now, "direction": direction,
            "message_type": mtype, "message_id": uid, "action": action, "frame": frame,
        })

    async def _on_frame(self, raw: str) -> None:
        now = datetime.now(timezone.utc)
        central = self.central
        central.writer.touch(self.charge_point_id, now)
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self._reject(raw, now, 0, None, None, "-1", "FormationViolation",
                               "frame is not valid JSON")
            return
        if type(msg) is not list or not msg:
            await self._reject(raw, now, 0, None, None, "-1", "FormationViolation",
                               "frame must be a JSON array")
            return
        mtype = msg[0]
        uid = msg[1] if len(msg) > 1 and type(msg[1]) is str else None
        if mtype == CALL:
            await self._on_call(msg, uid, raw, now)
        elif mtype == CALLRESULT or mtype == CALLERROR:
            await self._on_answer(msg, mtype, uid, raw, now)
        else:
            await self._reject(raw, now, 0, uid, None, uid or "-1", "ProtocolError",
                               f"unknown message type id {_shown(mtype)}")

    async def _on_call(self, msg: list[Any], uid: str | None, raw: str, now: datetime) -> None:
        action = msg[2] if len(msg) > 2 and type(msg[2]) is str else None
        if uid is None or len(msg) != 4 or action is None or len(uid) > 36:
            await self._reject(raw, now, CALL, uid, action, uid if uid and len(uid) <= 36 else "-1",
                               "FormationViolation",
                               "a CALL is [2, <message id (max 36 chars)>, <action>, {payload}]")
            return
        handler = HANDLERS.get(action)
        if handler is not None or action in CSMS_ACTIONS:
            _count(action, "in")  # not every name sent: a label per name would grow without bound
        if uid in self._recent:
            await self._reject(raw, now, CALL, uid, action, uid, "ProtocolError",
                               "message id already used on this connection")
            return
        self._recent.append(uid)
        if handler is None:
            if action in CSMS_ACTIONS:
                await self._reject(raw, now, CALL, uid, action, uid, "NotSupported",
                                   f"{action} is sent by a central system, not to one")
            else:
                await self._reject(raw, now, CALL, uid, action, uid, "NotImplemented",
                                   f"unknown action {_shown(action)}")
            return
        payload = msg[3]
        try:
            validate(action, payload)
        except SchemaViolation as exc:
            await self._reject(raw, now, CALL, uid, action, uid, exc.code, exc.description)
            return
        self._accepted = True
        self._log_frame(now, "in", CALL, uid, action, raw)
        try:
            result = await handler(self, payload)
        except Exception:
            self.central.throttles.log(f"handler {action}", log, logging.ERROR,
                                       "%s: handler for %s failed", self.charge_point_id, action,
                                       exc_info=True)
            await self._send_error(uid, "InternalError", "the central system failed to handle this",
                                   action, now)
            return
        frame = orjson.dumps([CALLRESULT, uid, result]).decode()
        _count(action, "out")
        self._log_frame(datetime.now(timezone.utc), "out", CALLRESULT, uid, action, frame)
        await self._send(frame)

    async def _on_answer(self, msg: list[Any], mtype: int, uid: str | None, raw: str,
                         now: datetime) -> None:
        pending = self._pending
        action = self._pending_action if pending is not None and pending[0] == uid else None
        if action is None or pending is None:
            self.central.throttles.log("unknown answer", log, logging.WARNING,
                                       "%s: answer to unknown or expired call %s dropped",
                                       self.charge_point_id, _shown(uid))
            if not self._keep_rejected(raw, now, mtype, uid, None):
                await self._over_budget()
            return
        self._accepted = True
        self._log_frame(now, "in", mtype, uid, action, raw)
        _count(action, "in")
        future = pending[1]
        if future.done():
            return
        if mtype == CALLRESULT and len(msg) == 3:
            future.set_result(Outcome("result", payload=msg[2], message_id=uid))
        elif mtype == CALLERROR and len(msg) >= 4:
            details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
            CALL_ERRORS.labels(code=str(msg[2]), direction="in").inc()
            future.set_result(Outcome("call_error", error_code=str(msg[2]), description=str(msg[3]),
                                      details=details, message_id=uid))
        else:
            future.set_result(Outcome("call_error", error_code="FormationViolation",
                                      description="malformed answer from the charge point",
                                      message_id=uid))

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
        frame = orjson.dumps([CALLERROR, uid, code, description, {}]).decode()
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
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout):
                await self._call_lock.acquire()
        except TimeoutError:
            return Outcome("timeout", description="another call to this charge point is still waiting")
        try:
            uid = f"{self.central.node_prefix}{next(_ids)}"
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            self._pending = (uid, future)
            self._pending_action = action
            frame = orjson.dumps([CALL, uid, action, payload]).decode()
            now = datetime.now(timezone.utc)
            _count(action, "out")
            self._log_frame(now, "out", CALL, uid, action, frame)
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
                    validate(action, outcome.payload, response=True)
                except SchemaViolation as exc:
                    return Outcome("call_error", error_code=exc.code,
                                   description=f"charge point answer breaks the schema: {exc.description}",
                                   payload=outcome.payload, message_id=uid)
            return outcome
        finally:
            self._pending = None
            self._call_lock.release()

    def replace(self, reason: str) -> None:
        """A newer connection of the same charge point (here or at another node) took over:
        fail the waiting call and close this socket with :data:`TAKEOVER_CODE`."""
        self.drop(reason)
        asyncio.create_task(self.ws.close(TAKEOVER_CODE, reason))

    def drop(self, reason: str) -> None:
        """The socket is gone: fail the waiting call (if any) as offline."""
        pending = self._pending
        if pending is not None and not pending[1].done():
            pending[1].set_result(Outcome("offline", description=reason, message_id=pending[0]))


def _shown(value: Any) -> str:
    """A peer's value as an error description or a log line shows it: its repr, cut short."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
