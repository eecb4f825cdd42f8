"""Malformed OCPP-J input: never a crash, always the CALLERROR OCPP-J 1.6 (section 4.2.3) names.

Every case talks raw websockets (no `ocpp` library in between, it would refuse to send garbage)
and checks three things beside the answer itself: the bad frame and the CALLERROR are in the
message log, the offending connection still works afterwards (unless the frame closes it), and a
neighbour charge point connected at the same time never notices anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chargebay.stack import Stack
from csms.store.models import Message

MESSAGES = Message.__table__
# The CALLERROR codes OCPP-J 1.6 defines (note the spec's "FormationViolation" and its
# "OccurenceConstraintViolation" spelling; the `ocpp` library says "FormatViolation").
SPEC_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
}
STATUS_OK = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
STEP = 2.0  # seconds any single exchange may take
TEST_BUDGET = 8.0  # hard bound on a whole test body; each runs well under 3 s


# -- helpers -------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def raw_client(stack: Stack, cp_id: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(f"{stack.ws_url}/{cp_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       open_timeout=STEP, close_timeout=1, ping_interval=None, **kwargs) as ws:
        yield ws


@contextlib.asynccontextmanager
async def bad_and_neighbour(stack: Stack, bad_id: str = "CP-X",
                            neighbour_id: str = "CP-NEIGHBOUR"
                            ) -> AsyncIterator[tuple[ClientConnection, ClientConnection]]:
    """Two charge points connected at the same time: one misbehaves, the other must not notice."""
    async with raw_client(stack, bad_id) as bad, raw_client(stack, neighbour_id) as neighbour:
        await assert_heartbeat(neighbour, "n-before")
        yield bad, neighbour


async def exchange(ws: ClientConnection, frame: str) -> str:
    """Send one text frame and return the text of the answer."""
    await ws.send(frame)
    async with asyncio.timeout(STEP):
        reply = await ws.recv()
    assert isinstance(reply, str), f"answer must be a text frame, got {reply!r}"
    return reply


async def assert_heartbeat(ws: ClientConnection, uid: str) -> None:
    reply = orjson.loads(await exchange(ws, orjson.dumps([2, uid, "Heartbeat", {}]).decode()))
    assert reply[:2] == [3, uid], reply
    assert reply[2]["currentTime"].endswith("Z")


def assert_call_error(reply: str, uid: str, code: str) -> list[Any]:
    msg = orjson.loads(reply)
    assert "FormatViolation" not in reply, "the 1.6 spelling is FormationViolation"
    assert type(msg) is list and msg and msg[0] == 4, f"expected a CALLERROR {code}, got {msg}"
    assert len(msg) == 5 and msg[1] == uid and msg[2] == code, msg
    assert type(msg[3]) is str and type(msg[4]) is dict, msg
    return msg


async def message_log(stack: Stack, cp_id: str) -> list[Any]:
    await stack.central.writer.flush()
    async with stack.central.engine.connect() as conn:
        result = await conn.execute(
            select(MESSAGES.c.direction, MESSAGES.c.message_type, MESSAGES.c.message_id,
                   MESSAGES.c.action, MESSAGES.c.frame)
            .where(MESSAGES.c.charge_point_id == cp_id).order_by(MESSAGES.c.id))
        return list(result.all())


def stored(text: str) -> str:
    """A frame as the log keeps it: PostgreSQL text cannot hold U+0000, stored as U+FFFD."""
    return text.replace("\x00", "\ufffd")


async def assert_logged(stack: Stack, cp_id: str, bad_frame: str, reply: str) -> None:
    """The bad frame (as received) and the CALLERROR (as sent) are both in the message log."""
    rows = await message_log(stack, cp_id)
    assert ("in", stored(bad_frame)) in [(r.direction, stored(r.frame)) for r in rows], rows
    msg = orjson.loads(reply)
    assert ("out", 4, stored(msg[1]), stored(reply)) in [
        (r.direction, r.message_type, r.message_id and stored(r.message_id), stored(r.frame))
        for r in rows], rows


async def check_bad_case(stack: Stack, frame: str, uid: str, code: str) -> list[Any]:
    """The whole contract for one bad frame: answer, log, same connection ok, neighbour ok."""
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            reply = await exchange(bad, frame)
            msg = assert_call_error(reply, uid, code)
            await assert_heartbeat(bad, "bad-after")
            await assert_heartbeat(neighbour, "n-after")
        await assert_logged(stack, "CP-X", frame, reply)
    return msg


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
    "iso-week-date", "comma-fraction", "offset-with-seconds", "vendor-over-20", "additional-property", "additional-property-heartbeat"])
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


# -- frames that close the socket ----------------------------------------------------------
async def assert_closed_with(ws: ClientConnection, code: int) -> None:
    async with asyncio.timeout(STEP):
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    assert ws.close_code == code, (ws.close_code, ws.close_reason)


async def assert_gone_and_back(stack: Stack, cp_id: str) -> None:
    """The server forgot the closed socket and the charge point can simply reconnect."""
    async with asyncio.timeout(STEP):
        while stack.central.router.local(cp_id) is not None:
            await asyncio.sleep(0.01)
    async with raw_client(stack, cp_id) as again:
        await assert_heartbeat(again, "back")


async def test_binary_frame_closes_with_1003(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            await bad.send(orjson.dumps([2, "bin", "Heartbeat", {}]))  # bytes: a binary frame
            await assert_closed_with(bad, 1003)
            await assert_heartbeat(neighbour, "n-after")
        await assert_gone_and_back(stack, "CP-X")


def sized_frame(size: int) -> str:
    """A well-formed DataTransfer CALL of exactly ``size`` bytes (UTF-8)."""
    head, tail = "[2,\"big\",\"DataTransfer\",{\"vendorId\":\"v\",\"data\":\"", "\"}]"
    frame = head + "d" * (size - len(head) - len(tail)) + tail
    assert len(frame.encode()) == size
    return frame


async def test_frame_at_the_default_limit_is_answered_and_one_byte_more_closes_1009(
        stack: Stack) -> None:
    limit = stack.central.settings.max_frame_bytes
    assert limit == 64 * 1024
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            reply = orjson.loads(await exchange(bad, sized_frame(limit)))
            assert reply == [3, "big", {"status": "UnknownVendorId"}], reply[:2]
            await bad.send(sized_frame(limit + 1))
            await assert_closed_with(bad, 1009)
            await assert_heartbeat(neighbour, "n-after")
        await assert_gone_and_back(stack, "CP-X")


@pytest.mark.parametrize("settings_overrides", [{"max_frame_bytes": 1024}])
async def test_lowered_frame_limit_closes_1009(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            assert orjson.loads(await exchange(bad, sized_frame(1024)))[:2] == [3, "big"]
            await bad.send(sized_frame(1025))
            await assert_closed_with(bad, 1009)
            await assert_heartbeat(neighbour, "n-after")
        await assert_gone_and_back(stack, "CP-X")


# -- fuzz -------------------------------------------------------------------------------------
def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "float", "str", "null", "bool"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-10**12, 10**12)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "str":
        return "".join(rng.choice("abcXYZ019 _-\"\\\u00e9\u2603") for _ in range(rng.randint(0, 12)))
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{rng.randint(0, 99)}": _random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


ACTIONS = ["Heartbeat", "BootNotification", "StatusNotification", "StartTransaction",
           "StopTransaction", "MeterValues", "Authorize", "DataTransfer", "Reset", "Nope", "",
           "heartbeat"]


def garbage_frames(seed: int, count: int) -> list[str]:
    """Seeded garbage that must each get a CALLERROR (no CALLRESULT/CALLERROR shapes, which the
    spec says are never answered, and no payload that could be valid)."""
    rng = random.Random(seed)
    frames: list[str] = []
    serial = itertools.count(1)
    while len(frames) < count:
        kind = rng.randrange(5)
        if kind == 0:  # random bytes read as text
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 80)))
            frame = raw.decode("latin-1") if rng.random() < 0.5 else raw.decode("utf-8", "replace")
        elif kind == 1:  # valid JSON that is not an array
            value = _random_json(rng)
            while isinstance(value, list):
                value = _random_json(rng)
            frame = orjson.dumps(value).decode()
        elif kind == 2:  # an array with a message type id that is not 2, 3 or 4
            mtype = rng.choice([0, 1, 5, 6, 7, 99, -1, "2", "x", None, [], {}, 2.5])
            frame = orjson.dumps([mtype] + [_random_json(rng) for _ in range(rng.randint(0, 4))])
            frame = frame.decode()
        elif kind == 3:  # a CALL of the wrong shape
            shape = [2, f"g{next(serial)}", rng.choice(ACTIONS), {}, {}][:rng.choice([1, 2, 3, 5])]
            frame = orjson.dumps(shape).decode()
        else:  # a well-formed CALL whose payload breaks every schema (unknown keys)
            payload = {f"zz{rng.randint(0, 99)}": _random_json(rng)
                       for _ in range(rng.randint(1, 3))}
            frame = orjson.dumps([2, f"g{next(serial)}", rng.choice(ACTIONS), payload]).decode()
        try:
            parsed = orjson.loads(frame)
        except orjson.JSONDecodeError:
            parsed = None
        if type(parsed) is list and parsed and parsed[0] in (3, 4) and type(parsed[0]) is int:
            continue  # an answer-shaped frame gets no answer by design
        frames.append(frame)
    return frames


async def test_200_random_garbage_frames_all_get_a_call_error(stack: Stack) -> None:
    frames = garbage_frames(seed=16, count=200)
    codes: dict[str, int] = {}
    async with asyncio.timeout(TEST_BUDGET):
        async with bad_and_neighbour(stack) as (bad, neighbour):
            replies = []
            for i, frame in enumerate(frames):
                reply = await exchange(bad, frame)
                msg = orjson.loads(reply)
                assert type(msg) is list and len(msg) == 5 and msg[0] == 4, (i, frame, msg)
                assert msg[2] in SPEC_CODES and msg[2] != "InternalError", (i, frame, msg)
                codes[msg[2]] = codes.get(msg[2], 0) + 1
                replies.append(reply)
                if i % 50 == 49:
                    await assert_heartbeat(neighbour, f"n-{i}")
            await assert_heartbeat(bad, "bad-after")
            await assert_heartbeat(neighbour, "n-after")
            assert stack.central.router.local_count() == 2
        # A good spread of the codes was exercised, none misspelt.
        assert {"FormationViolation", "ProtocolError", "NotImplemented"} <= codes.keys(), codes
        assert "FormatViolation" not in codes
        rows = await message_log(stack, "CP-X")
        logged_in = [stored(r.frame) for r in rows if r.direction == "in"]
        logged_errors = [stored(r.frame) for r in rows if r.direction == "out" and r.message_type == 4]
        assert logged_in[:200] == [stored(f) for f in frames]
        assert logged_errors == [stored(r) for r in replies]
        async with httpx.AsyncClient(base_url=stack.http_url) as http:
            health = await http.get("/health")
        assert health.status_code == 200, health.text
