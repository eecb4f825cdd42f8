"""Malformed OCPP-J input: never a crash, always the CALLERROR OCPP-J 1.6 (section 4.2.3) names.

Framing, schema breaches and message ids; see tests/csms/malformed.py for what every case checks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from chargebay.stack import Stack
from tests.csms.malformed import (
    STATUS_OK,
    TEST_BUDGET,
    assert_call_error,
    assert_heartbeat,
    bad_and_neighbour,
    check_bad_case,
    exchange,
    message_log,
    raw_client,
)


# -- framing (OCPP-J 1.6 section 4) --------------------------------------------------------
@pytest.mark.parametrize("frame", ["hello", "", "   ", "[2, \"abc\", \"Heartbeat\", {}",
                                   "{\"a\": }", "[2,'abc','Heartbeat',{}]", "\x00\x01\x02"],
                         ids=["word", "empty", "blank", "truncated", "broken-object",
                              "single-quotes", "control-chars"])
async def test_frame_that_is_not_json_is_formation_violation(stack: Stack, frame: str) -> None:
    await check_bad_case(stack, frame, "-1", "FormationViolation")


@pytest.mark.parametrize("frame", ["{}", "42", "\"a string\"", "null", "true", "[]",
                                   "{\"2\": \"abc\"}"],
                         ids=["object", "number", "string", "null", "bool", "empty-array",
                              "object-with-fields"])
async def test_json_that_is_not_a_nonempty_array_is_formation_violation(stack: Stack,
                                                                        frame: str) -> None:
    await check_bad_case(stack, frame, "-1", "FormationViolation")


@pytest.mark.parametrize("frame", ["[7, \"abc\", \"Heartbeat\", {}]", "[0, \"abc\"]",
                                   "[5, \"abc\", {}]", "[-2, \"abc\", \"Heartbeat\", {}]",
                                   "[\"CALL\", \"abc\", \"Heartbeat\", {}]"],
                         ids=["7", "0", "5", "negative", "string-type"])
async def test_unknown_message_type_id_is_protocol_error(stack: Stack, frame: str) -> None:
    await check_bad_case(stack, frame, "abc", "ProtocolError")


async def test_unknown_message_type_id_without_readable_id_answers_minus_one(stack: Stack) -> None:
    await check_bad_case(stack, "[7, 12345]", "-1", "ProtocolError")


@pytest.mark.parametrize(("frame", "uid"), [
    ("[2, \"abc\", \"Heartbeat\"]", "abc"),
    ("[2, \"abc\", \"Heartbeat\", {}, {}]", "abc"),
    ("[2, \"abc\"]", "abc"),
    ("[2]", "-1"),
    ("[2, 42, \"Heartbeat\", {}]", "-1"),
    ("[2, null, \"Heartbeat\", {}]", "-1"),
    ("[2, \"abc\", 17, {}]", "abc"),
    ("[2, \"" + "i" * 37 + "\", \"Heartbeat\", {}]", "-1"),
], ids=["3-elements", "5-elements", "2-elements", "1-element", "numeric-id", "null-id",
        "numeric-action", "id-over-36-chars"])
async def test_malformed_call_is_formation_violation(stack: Stack, frame: str, uid: str) -> None:
    await check_bad_case(stack, frame, uid, "FormationViolation")


@pytest.mark.parametrize("payload", ["[]", "\"x\"", "null", "7"])
async def test_call_payload_that_is_not_an_object_is_formation_violation(stack: Stack,
                                                                         payload: str) -> None:
    await check_bad_case(stack, f"[2, \"abc\", \"Heartbeat\", {payload}]", "abc",
                         "FormationViolation")


async def test_unknown_action_is_not_implemented(stack: Stack) -> None:
    msg = await check_bad_case(stack, "[2, \"abc\", \"MakeCoffee\", {}]", "abc", "NotImplemented")
    assert "MakeCoffee" in msg[3]


@pytest.mark.parametrize("action", ["Reset", "RemoteStartTransaction", "GetConfiguration"])
async def test_known_action_the_central_system_does_not_take_is_not_supported(
        stack: Stack, action: str) -> None:
    """OCPP-J 1.6 4.2.3: NotImplemented is for an action the receiver does not know;
    NotSupported for one it recognises but does not support. These are 1.6 actions that only
    the central system sends, so a charge point sending them gets NotSupported."""
    await check_bad_case(stack, f"[2, \"abc\", \"{action}\", {{}}]", "abc", "NotSupported")


# -- schema breaches, in the 1.6 spellings --------------------------------------------------
SCHEMA_CASES = [
    ("StatusNotification", {**STATUS_OK, "connectorId": "x"}, "TypeConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "connectorId": True}, "TypeConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "info": 5}, "TypeConstraintViolation"),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError"},
     "OccurenceConstraintViolation"),
    ("BootNotification", {"chargePointVendor": "Acme"}, "OccurenceConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "status": "Sleeping"}, "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "info": "i" * 51}, "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "timestamp": "yesterday"},
     "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "timestamp": "2024-02-30T10:00:00Z"},
     "PropertyConstraintViolation"),
    # ISO 8601 spellings that are not RFC 3339 date-times (the schema's "format").
    ("StatusNotification", {**STATUS_OK, "timestamp": "2024-W01-1T10:00:00Z"},
     "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "timestamp": "2024-05-01T10:00:00,5Z"},
     "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "timestamp": "2024-05-01T10:00:00+01:00:30"},
     "PropertyConstraintViolation"),
    ("BootNotification", {"chargePointVendor": "v" * 21, "chargePointModel": "m"},
     "PropertyConstraintViolation"),
    ("StatusNotification", {**STATUS_OK, "colour": "red"}, "FormationViolation"),
    ("Heartbeat", {"extra": 1}, "FormationViolation"),
]


@pytest.mark.parametrize(("action", "payload", "code"), SCHEMA_CASES, ids=[
    "wrong-type-connectorId", "bool-for-integer", "wrong-type-info", "missing-status",
    "missing-model", "enum-not-allowed", "info-over-50", "not-a-date-time", "impossible-date",
    "iso-week-date", "comma-fraction", "offset-with-seconds", "vendor-over-20", "additional-property",
    "additional-property-heartbeat"])
async def test_schema_breach_gets_the_1_6_error_code(stack: Stack, action: str,
                                                     payload: dict[str, Any], code: str) -> None:
    frame = orjson.dumps([2, "abc", action, payload]).decode()
    await check_bad_case(stack, frame, "abc", code)
    rows = await message_log(stack, "CP-X")
    assert [r.action for r in rows if r.message_id == "abc"] == [action, action]
    # Nothing of the rejected payload reached the state tables.
    async with stack.central.engine.connect() as conn:
        count = (await conn.execute(text(
            "SELECT count(*) FROM status_history WHERE charge_point_id = 'CP-X'"))).scalar_one()
    assert count == 0


@pytest.mark.parametrize("timestamp", [
    "2016-12-31T23:59:60Z",       # a real leap second; RFC 3339 5.6/5.7 allow second 60
    "2024-05-01t10:00:00z",       # RFC 3339 5.6: "T" and "Z" may be lower case
], ids=["leap-second", "lower-case-t-z"])
async def test_rfc3339_timestamp_is_accepted(stack: Stack, timestamp: str) -> None:
    """The 1.6 schemas' "date-time" is RFC 3339: these are valid StatusNotifications (neither a
    PropertyConstraintViolation nor an InternalError), and the status is stored."""
    frame = orjson.dumps([2, "ts", "StatusNotification", {**STATUS_OK, "timestamp": timestamp}])
    async with asyncio.timeout(TEST_BUDGET), bad_and_neighbour(stack) as (cp, neighbour):
        reply = orjson.loads(await exchange(cp, frame.decode()))
        assert reply == [3, "ts", {}], reply
        await assert_heartbeat(neighbour, "n-after")
    await stack.central.writer.flush()
    async with stack.central.engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT status, timestamp FROM status_history WHERE charge_point_id = 'CP-X'"))).all()
    assert [row.status for row in stored] == ["Available"] and stored[0].timestamp is not None


@pytest.mark.parametrize("timestamp", [
    "0000-01-01T00:00:00Z",       # matches the schema's date-time, before datetime.min
    "9999-12-31T23:59:59-23:59",  # matches the schema's date-time, after datetime.max in UTC
], ids=["year-zero", "past-year-9999-in-utc"])
async def test_out_of_range_timestamp_is_property_constraint_violation(stack: Stack,
                                                                       timestamp: str) -> None:
    """A date-time the central system cannot represent is a bad value of that property
    (PropertyConstraintViolation), not a failure of the central system (InternalError)."""
    frame = orjson.dumps([2, "abc", "StatusNotification",
                          {**STATUS_OK, "timestamp": timestamp}]).decode()
    await check_bad_case(stack, frame, "abc", "PropertyConstraintViolation")


# -- message ids -----------------------------------------------------------------------------
async def test_repeated_message_id_on_same_connection_is_protocol_error(stack: Stack) -> None:
    frame = "[2, \"dup-1\", \"Heartbeat\", {}]"
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            first = orjson.loads(await exchange(bad, frame))
            assert first[:2] == [3, "dup-1"]
            reply = await exchange(bad, frame)
            assert_call_error(reply, "dup-1", "ProtocolError")
            await assert_heartbeat(bad, "dup-2")
            await assert_heartbeat(neighbour, "n-after")
            # The neighbour's ids are its own: the same id is fine there.
            assert orjson.loads(await exchange(neighbour, frame))[:2] == [3, "dup-1"]
        rows = await message_log(stack, "CP-X")
        assert [r.frame for r in rows if r.direction == "in" and r.message_id == "dup-1"] == [
            frame, frame]
        assert [r.frame for r in rows if r.direction == "out" and r.message_type == 4] == [reply]

        # A new connection of the same charge point starts with a clean slate.
        async with raw_client(stack, "CP-X") as again:
            assert orjson.loads(await exchange(again, frame))[:2] == [3, "dup-1"]


async def test_repeated_id_of_a_rejected_call_is_still_a_repeat(stack: Stack) -> None:
    """The id is used once the CALL is read, whatever the answer was."""
    async with asyncio.timeout(TEST_BUDGET), bad_and_neighbour(stack) as (bad, neighbour):
        assert_call_error(await exchange(bad, "[2, \"r1\", \"MakeCoffee\", {}]"), "r1",
                          "NotImplemented")
        assert_call_error(await exchange(bad, "[2, \"r1\", \"Heartbeat\", {}]"), "r1",
                          "ProtocolError")
        await assert_heartbeat(bad, "r2")
        await assert_heartbeat(neighbour, "n-after")
