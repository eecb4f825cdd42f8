"""Helpers of the malformed-frame tests (tests/csms/test_malformed_*.py).

Every case talks raw websockets (no `ocpp` library in between, it would refuse to send garbage)
and checks three things beside the answer itself: the bad frame and the CALLERROR are in the
message log, the offending connection still works afterwards (unless the frame closes it), and a
neighbour charge point connected at the same time never notices anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

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
