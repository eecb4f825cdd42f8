"""OCPP-J frames without sockets: a text frame in, one event out; events out as text frames.

An OCPP-J message is a JSON array: ``[2, id, action, payload]`` (a CALL), ``[3, id, payload]`` (a
CALLRESULT) or ``[4, id, code, description, details]`` (a CALLERROR). :func:`parse` turns a frame
into :class:`Call`, :class:`CallResult` or :class:`CallError`, or into :class:`BadFrame` saying how
the version answers it; it never raises and never does I/O, so every malformed input can be
tested as bytes in, events out. Payloads are not looked at here (see :mod:`ocppj.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ocppj.errors import ErrorCodes

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID = 36  # characters (OCPP-J: a message id is at most 36 characters)
NO_ID = "-1"  # what a CALLERROR answers to when the frame's message id could not be read
SHOWN_CHARS = 60  # of a peer's value quoted in a description


@dataclass(slots=True)
class Call:
    """A request: the peer wants ``action`` done with ``payload``."""

    message_id: str
    action: str
    payload: Any


@dataclass(slots=True)
class CallResult:
    """The answer to one of our calls."""

    message_id: str
    payload: Any


@dataclass(slots=True)
class CallError:
    """A refusal of one of our calls (or the peer's answer to a frame it could not read)."""

    message_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BadFrame:
    """A frame that is no valid OCPP-J message, and how to answer it.

    ``message_type`` is what the frame said it was (0 when it said nothing readable),
    ``message_id`` and ``action`` what could be read of it (for the log), ``answer_id`` the id a
    CALLERROR to it carries. A malformed answer (type 3 or 4) is not answered: it ends the call
    it names, if any.
    """

    message_type: int
    message_id: str | None
    action: str | None
    answer_id: str
    code: str
    description: str


Event = Call | CallResult | CallError | BadFrame


def shown(value: Any) -> str:
    """A peer's value as a description or a log line shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def parse(raw: str | bytes, errors: ErrorCodes) -> Event:
    """The event one text frame carries, or a :class:`BadFrame` spelled with ``errors``."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return BadFrame(0, None, None, NO_ID, errors.rpc_framework, "frame is not valid JSON")
    if type(msg) is not list or not msg:
        return BadFrame(0, None, None, NO_ID, errors.rpc_framework, "frame must be a JSON array")
    mtype = msg[0]
    uid = msg[1] if len(msg) > 1 and type(msg[1]) is str else None
    if mtype == CALL:
        action = msg[2] if len(msg) > 2 and type(msg[2]) is str else None
        if uid is None or len(msg) != 4 or action is None or len(uid) > MAX_MESSAGE_ID:
            return BadFrame(CALL, uid, action, uid if uid and len(uid) <= MAX_MESSAGE_ID else NO_ID,
                            errors.rpc_framework,
                            "a CALL is [2, <message id (max 36 chars)>, <action>, {payload}]")
        return Call(uid, action, msg[3])
    if mtype == CALLRESULT or mtype == CALLERROR:
        if uid is not None:
            if mtype == CALLRESULT and len(msg) == 3:
                return CallResult(uid, msg[2])
            if mtype == CALLERROR and len(msg) >= 4:
                details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
                return CallError(uid, str(msg[2]), str(msg[3]), details)
        return BadFrame(mtype, uid, None, uid or NO_ID, errors.format,
                        f"malformed {'CALLRESULT' if mtype == CALLRESULT else 'CALLERROR'}")
    return BadFrame(0, uid, None, uid or NO_ID, errors.message_type,
                    f"unknown message type id {shown(mtype)}")


def call_frame(message_id: str, action: str, payload: Any) -> str:
    return orjson.dumps([CALL, message_id, action, payload]).decode()


def result_frame(message_id: str, payload: Any) -> str:
    return orjson.dumps([CALLRESULT, message_id, payload]).decode()


def error_frame(message_id: str, code: str, description: str,
                details: dict[str, Any] | None = None) -> str:
    return orjson.dumps([CALLERROR, message_id, code, description,
                         {} if details is None else details]).decode()
