"""Malformed OCPP-J input that closes the socket (binary, oversized frames), and random garbage.

See tests/csms/malformed.py for what every case checks.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from chargebay.stack import Stack
from tests.csms.malformed import (
    SPEC_CODES,
    STEP,
    TEST_BUDGET,
    assert_heartbeat,
    bad_and_neighbour,
    exchange,
    message_log,
    raw_client,
    stored,
)


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
