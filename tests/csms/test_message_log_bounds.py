"""What one abusive charge point can make the central system store and log is bounded (issue #13,
item 10): a real server, real websockets, the real database (SQLite, and PostgreSQL in the second
pass of make test).

Rejected frames are answered as ever; the message log keeps a charge point's first
``rejected_frames_per_minute`` of them a minute, each cut to ``rejected_frame_keep`` characters
with its size; a connection that never sent a valid call is closed with 1008 past that; a line a
peer causes per frame or per refused handshake is logged at most once per kind and interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargebay.stack import Stack
from tests.helpers import rows

STEP = 5.0
POLICY_VIOLATION = 1008  # the close code of a garbage sender (README)
BIG = 4000  # characters of each malformed frame
BUDGET, KEEP = 300, 1024  # the defaults (README): rejected frames stored a minute, characters kept


@contextlib.asynccontextmanager
async def client(stack: Stack, cp_id: str) -> AsyncIterator[ClientConnection]:
    async with connect(f"{stack.ws_url}/{cp_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       open_timeout=STEP, close_timeout=1, ping_interval=None,
                       max_queue=None) as ws:
        yield ws


async def call(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    async with asyncio.timeout(STEP):
        return orjson.loads(await ws.recv())  # type: ignore[no-any-return]


async def heartbeat(ws: ClientConnection, uid: str) -> None:
    assert (await call(ws, orjson.dumps([2, uid, "Heartbeat", {}]).decode()))[:2] == [3, uid]


def garbage(i: int) -> str:
    head = f"garbage {i} "
    return head + "x" * (BIG - len(head))


async def flood(ws: ClientConnection, frames: list[str], answered: bool = True) -> None:
    """Send every frame at once (as an attacker would), then read the CALLERRORs."""
    for frame in frames:
        await ws.send(frame)
    if answered:
        async with asyncio.timeout(60):
            for _ in frames:
                assert orjson.loads(await ws.recv())[0] == 4


async def stored(stack: Stack, cp_id: str) -> tuple[int, int]:
    """Rows and characters of frames the message log holds for ``cp_id``."""
    [row] = await rows(stack, "SELECT count(*) AS n, coalesce(sum(length(frame)), 0) AS chars "
                              "FROM messages WHERE charge_point_id = :cp", cp=cp_id)
    return int(row["n"]), int(row["chars"])


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    """Lines the central system logged at ``level`` or above."""
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("csms") and r.levelno >= level]


async def test_a_flood_of_malformed_frames_is_answered_and_its_log_bounded(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """1,000 malformed 4 KB frames from a booted charge point: all answered, the connection stays
    (it sent a valid call), the message log keeps 300 of them, each cut to 1,024 characters."""
    caplog.set_level(logging.INFO)
    budget, keep = BUDGET, KEEP
    async with client(stack, "CP-FLOOD") as ws, client(stack, "CP-CALM") as neighbour:
        await heartbeat(ws, "hb-1")
        await flood(ws, [garbage(i) for i in range(1000)])
        await heartbeat(ws, "hb-2")  # still connected, still served
        await heartbeat(neighbour, "n-1")
    count, chars = await stored(stack, "CP-FLOOD")
    # 2 heartbeats in and out, the budget's frames and their CALLERRORs
    assert count == 4 + 2 * budget, count
    assert chars < budget * (keep + 100) + 2000, chars  # was 1,000 x 4,000 = 4 MB before
    over = lines(caplog, logging.WARNING)
    assert len([m for m in over if "over its budget" in m]) <= 2, over
    assert len(over) <= 4, over


async def test_a_long_rejected_frame_is_kept_cut_to_size_with_its_length(stack: Stack) -> None:
    async with client(stack, "CP-LONG") as ws:
        frame = "é" + "x" * 9999  # 10,000 characters, 10,001 bytes
        assert (await call(ws, frame))[2] == "FormationViolation"
        action = "A" * 100  # wider than the log's action column (PostgreSQL refuses such a row)
        reply = await call(ws, orjson.dumps([2, "long-action", action, {}]).decode())
        assert reply[2] == "NotImplemented" and len(reply[3]) < 100
        await heartbeat(ws, "after")
    log = await rows(stack, "SELECT direction, action, frame FROM messages "
                            "WHERE charge_point_id = 'CP-LONG' ORDER BY id")
    assert log[0]["frame"] == frame[:KEEP] + "…[truncated: 10001 bytes]"
    assert [r["action"] for r in log if r["direction"] == "in"] == [None, "A" * 48, "Heartbeat"]
    assert len(log) == 6


@pytest.mark.parametrize("settings_overrides", [{"rejected_frames_per_minute": 20}])
async def test_nothing_but_garbage_past_the_budget_closes_the_connection_1008(stack: Stack) -> None:
    """Reconnecting does not refill the budget: it is the charge point's, for the minute."""
    async with client(stack, "CP-GARBAGE") as ws, client(stack, "CP-CALM") as neighbour:
        for i in range(20):
            assert (await call(ws, garbage(i)))[2] == "FormationViolation"
        await ws.send(garbage(20))
        async with asyncio.timeout(STEP):
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()  # the CALLERROR, then the close
        assert ws.close_code == POLICY_VIOLATION
        await heartbeat(neighbour, "n-1")
    async with client(stack, "CP-GARBAGE") as again:
        await again.send(garbage(21))
        async with asyncio.timeout(STEP):
            with pytest.raises(ConnectionClosed):
                while True:
                    await again.recv()
        assert again.close_code == POLICY_VIOLATION
    # a connection that sent a valid call is a charge point with a bug: it stays
    async with client(stack, "CP-GARBAGE") as booted:
        await heartbeat(booted, "hb")
        assert (await call(booted, garbage(22)))[2] == "FormationViolation"
        await heartbeat(booted, "hb-2")
    count, _ = await stored(stack, "CP-GARBAGE")
    assert count == 2 * 20 + 4


async def test_answers_to_no_call_are_one_warning_not_one_per_frame(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with client(stack, "CP-ANSWERS") as ws:
        await heartbeat(ws, "hb")
        await flood(ws, [orjson.dumps([3, f"u{i}", {"d": "x" * 100}]).decode() for i in range(1000)],
                    answered=False)
        await heartbeat(ws, "hb-2")  # every answer before it has been read
    said = [m for m in lines(caplog, logging.WARNING) if "answer to unknown or expired call" in m]
    assert 1 <= len(said) <= 2, said  # was 1,000
    count, _ = await stored(stack, "CP-ANSWERS")
    assert count == 4 + BUDGET


@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "reject"}])
async def test_refused_handshakes_are_one_line_per_kind_not_one_each(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for i in range(100):
        with pytest.raises(InvalidStatus):
            async with client(stack, f"UNKNOWN-{i}"):
                pass
    refused = [m for m in lines(caplog) if "handshake refused" in m]
    assert 1 <= len(refused) <= 2, refused  # was 100
    assert "unknown charge point" in refused[0]
