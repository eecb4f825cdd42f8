"""OCPP-J framing as bytes in, events out: no sockets, every kind of malformed frame, per version."""

from __future__ import annotations

import orjson
import pytest

from ocppj.errors import V16_ERRORS, V201_ERRORS, ErrorCodes
from ocppj.frames import (
    NO_ID,
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

BOTH = pytest.mark.parametrize("errors", [V16_ERRORS, V201_ERRORS], ids=["1.6", "2.0.1"])


@BOTH
def test_a_call_becomes_a_call_event(errors: ErrorCodes) -> None:
    assert parse('[2, "7", "Heartbeat", {}]', errors) == Call("7", "Heartbeat", {})
    assert parse(b'[2,"a","Authorize",{"idTag":"X"}]', errors) == Call("a", "Authorize", {"idTag": "X"})


@BOTH
def test_a_call_payload_is_not_judged_here(errors: ErrorCodes) -> None:
    """The payload's shape is validation's business (its own codes), not the framing's."""
    assert parse('[2, "7", "Heartbeat", []]', errors) == Call("7", "Heartbeat", [])


@BOTH
def test_answers_become_result_and_error_events(errors: ErrorCodes) -> None:
    assert parse('[3, "9", {"status": "Accepted"}]', errors) == CallResult("9", {"status": "Accepted"})
    assert parse('[4, "9", "NotSupported", "no", {"a": 1}]', errors) == CallError(
        "9", "NotSupported", "no", {"a": 1})
    # details missing or not an object: empty; a code or description of another type: as text
    assert parse('[4, "9", 5, null]', errors) == CallError("9", "5", "None", {})
    assert parse('[4, "9", "X", "y", [1]]', errors) == CallError("9", "X", "y", {})


@pytest.mark.parametrize("errors, code", [(V16_ERRORS, "FormationViolation"),
                                          (V201_ERRORS, "RpcFrameworkError")], ids=["1.6", "2.0.1"])
@pytest.mark.parametrize("raw, why", [
    ("not json", "frame is not valid JSON"),
    ('{"a": 1}', "frame must be a JSON array"),
    ("[]", "frame must be a JSON array"),
    ('"text"', "frame must be a JSON array"),
    ("\ud800".encode("utf-8", "surrogatepass"), "frame is not valid JSON"),
])
def test_no_rpc_frame_is_answered_to_no_id(errors: ErrorCodes, code: str, raw: str | bytes,
                                           why: str) -> None:
    assert parse(raw, errors) == BadFrame(0, None, None, NO_ID, code, why)


@pytest.mark.parametrize("errors, code", [(V16_ERRORS, "FormationViolation"),
                                          (V201_ERRORS, "RpcFrameworkError")], ids=["1.6", "2.0.1"])
@pytest.mark.parametrize("msg, read_id, action, answer_id", [
    ([2, "1", "Heartbeat"], "1", "Heartbeat", "1"),  # no payload
    ([2, "1", "Heartbeat", {}, {}], "1", "Heartbeat", "1"),  # one element too many
    ([2, 1, "Heartbeat", {}], None, "Heartbeat", NO_ID),  # the id is no string
    ([2, "1", 5, {}], "1", None, "1"),  # the action is no string
    ([2], None, None, NO_ID),
    ([2, "x" * 37, "Heartbeat", {}], "x" * 37, "Heartbeat", NO_ID),  # an id over 36 characters
])
def test_a_malformed_call(errors: ErrorCodes, code: str, msg: list[object], read_id: str | None,
                          action: str | None, answer_id: str) -> None:
    event = parse(orjson.dumps(msg), errors)
    assert isinstance(event, BadFrame)
    assert (event.message_type, event.message_id, event.action, event.answer_id, event.code) == (
        2, read_id, action, answer_id, code)
    assert event.description == "a CALL is [2, <message id (max 36 chars)>, <action>, {payload}]"


def test_ids_of_0_and_36_characters_are_read() -> None:
    """The central system has always taken an empty id as an id (answered to "")."""
    assert parse(orjson.dumps([2, "x" * 36, "Heartbeat", {}]), V16_ERRORS) == Call("x" * 36, "Heartbeat", {})
    assert parse(orjson.dumps([2, "", "Heartbeat", {}]), V16_ERRORS) == Call("", "Heartbeat", {})


@pytest.mark.parametrize("errors, code", [(V16_ERRORS, "ProtocolError"),
                                          (V201_ERRORS, "MessageTypeNotSupported")],
                         ids=["1.6", "2.0.1"])
@pytest.mark.parametrize("msg, answer_id, shown_type", [
    ([5, "u", "Heartbeat", {}], "u", "5"),
    ([0], NO_ID, "0"),
    (["2", "u", "Heartbeat", {}], "u", "'2'"),  # a type id must be a number
    ([None, 3], NO_ID, "None"),
])
def test_an_unknown_message_type(errors: ErrorCodes, code: str, msg: list[object], answer_id: str,
                                 shown_type: str) -> None:
    event = parse(orjson.dumps(msg), errors)
    assert isinstance(event, BadFrame)
    assert (event.message_type, event.answer_id, event.code) == (0, answer_id, code)
    assert event.description == f"unknown message type id {shown_type}"


@pytest.mark.parametrize("errors, code", [(V16_ERRORS, "FormationViolation"),
                                          (V201_ERRORS, "FormatViolation")], ids=["1.6", "2.0.1"])
@pytest.mark.parametrize("msg, mtype, read_id", [
    ([3, "u"], 3, "u"),
    ([3, "u", {}, {}], 3, "u"),
    ([3, 7, {}], 3, None),
    ([4, "u", "X"], 4, "u"),
    ([4, None, "X", "y", {}], 4, None),
])
def test_a_malformed_answer_names_the_call_it_ends(errors: ErrorCodes, code: str, msg: list[object],
                                                   mtype: int, read_id: str | None) -> None:
    event = parse(orjson.dumps(msg), errors)
    assert isinstance(event, BadFrame)
    assert (event.message_type, event.message_id, event.code) == (mtype, read_id, code)


def test_frames_out_read_back_as_the_same_events() -> None:
    assert parse(call_frame("1", "Heartbeat", {}), V16_ERRORS) == Call("1", "Heartbeat", {})
    assert parse(result_frame("1", {"a": "é"}), V16_ERRORS) == CallResult("1", {"a": "é"})
    assert parse(error_frame("1", "InternalError", "boom"), V16_ERRORS) == CallError(
        "1", "InternalError", "boom", {})
    assert error_frame("-1", "X", "y", {"k": 1}) == '[4,"-1","X","y",{"k":1}]'
    assert call_frame("1", "Heartbeat", {}) == '[2,"1","Heartbeat",{}]'


def test_a_peer_value_is_shown_cut_short() -> None:
    assert shown("a") == "'a'"
    assert len(shown("x" * 500)) == 60 and shown("x" * 500).endswith("...")
