"""POST /api/v1/charge-points/{id}/commands/{Action} over real HTTP to a real websocket charge point:
every action end to end, validation and the ways a command fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.command_examples import EXAMPLES
from chargebay.stack import Stack
from tests.api.commands_helpers import (
    EXPECTED,
    get_command,
    messages,
    url,
)
from tests.api.full_cp import (
    ADMIN,
    eventually,
    online,
)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


def test_expected_covers_every_action() -> None:
    assert set(EXPECTED) == set(EXAMPLES) and len(EXAMPLES) == 26


@pytest.mark.parametrize("action", sorted(EXAMPLES))
async def test_every_action_end_to_end(stack: Stack, client: httpx.AsyncClient, action: str) -> None:
    cp_id = "CP-ALL"
    async with online(stack, cp_id) as cp:
        r = await client.post(url(cp_id, action), json=EXAMPLES[action], headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"command_id", "status", "response"}
        assert body["status"] == "result"
        assert body["response"] == EXPECTED[action]

        # The charge point got exactly the payload, and answered what the API returned.
        assert cp.payloads(action) == [EXAMPLES[action]]
        uid = cp.call_ids[-1]
        assert cp.answers[uid] == [3, uid, EXPECTED[action]]

    command = await get_command(client, body["command_id"])
    assert command["id"] == body["command_id"]
    assert command["charge_point_id"] == cp_id and command["action"] == action
    assert command["status"] == "result"
    assert command["payload"] == EXAMPLES[action]
    assert command["response"] == EXPECTED[action]
    assert command["message_id"] == uid
    assert command["error_code"] is None and command["completed_at"] is not None

    log = await messages(client, cp_id, action=action)
    assert [(m["direction"], m["message_type"], m["message_id"]) for m in reversed(log)] == [
        ("out", 2, uid), ("in", 3, uid)]
    out, answer = json.loads(log[1]["frame"]), json.loads(log[0]["frame"])
    assert out == [2, uid, action, EXAMPLES[action]]
    assert answer == [3, uid, EXPECTED[action]]


@pytest.mark.parametrize("action", ["Reset", "UnlockConnector", "SendLocalList", "GetLocalListVersion"])
async def test_rejecting_answer_is_returned_as_is(stack: Stack, client: httpx.AsyncClient, action: str) -> None:
    async with online(stack, "CP-NO") as cp:
        cp.reject.add(action)
        r = await client.post(url("CP-NO", action), json=EXAMPLES[action], headers=ADMIN)
    assert r.status_code == 200, r.text
    uid = cp.call_ids[-1]
    assert r.json()["response"] == cp.answers[uid][2]
    assert r.json()["response"] in ({"status": "Rejected"}, {"status": "UnlockFailed"}, {"status": "Failed"},
                                    {"listVersion": -1})


# -- validation: nothing is sent ---------------------------------------------------------------
@pytest.mark.parametrize(("action", "payload", "violation"), [
    ("Reset", {"type": "Sideways"}, "PropertyConstraintViolation"),
    ("Reset", {}, "OccurenceConstraintViolation"),
    ("UnlockConnector", {"connectorId": "one"}, "TypeConstraintViolation"),
    ("RemoteStartTransaction", {"idTag": "X" * 21}, "PropertyConstraintViolation"),
    ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "OccurenceConstraintViolation"),
])
async def test_invalid_payload_is_422_and_not_sent(stack: Stack, client: httpx.AsyncClient, action: str,
                                                   payload: dict[str, Any], violation: str) -> None:
    async with online(stack, "CP-V") as cp:
        r = await client.post(url("CP-V", action), json=payload, headers=ADMIN)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "InvalidPayload"
        assert body["violation"] == violation
        assert isinstance(body["message"], str) and body["message"]
        await asyncio.sleep(0.1)
        assert cp.calls == []
    assert [m for m in await messages(client, "CP-V") if m["direction"] == "out" and m["message_type"] == 2] == []
    listed = await client.get("/api/v1/commands", params={"charge_point_id": "CP-V"}, headers=ADMIN)
    assert listed.json()["total"] == 0


async def test_body_that_is_not_an_object(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-B") as cp:
        r = await client.post(url("CP-B", "Reset"), json=[{"type": "Soft"}], headers=ADMIN)
        assert r.status_code == 422 and r.json()["code"] == "InvalidPayload"
        r = await client.post(url("CP-B", "Reset"), content=b"{not json", headers=ADMIN)
        assert r.status_code == 422 and r.json()["code"] in ("InvalidJson", "InvalidPayload")
        await asyncio.sleep(0.05)
        assert cp.calls == []


# -- routing errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["FlyToTheMoon", "BootNotification", "Heartbeat", "StartTransaction"])
async def test_unknown_action(stack: Stack, client: httpx.AsyncClient, action: str) -> None:
    async with online(stack, "CP-U") as cp:
        r = await client.post(url("CP-U", action), json={}, headers=ADMIN)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "UnknownAction"
        # the name is judged before the query: still a 404 with a wait out of range
        r = await client.post(url("CP-U", action), params={"wait": 999}, json={}, headers=ADMIN)
        assert (r.status_code, r.json()["code"]) == (404, "UnknownAction"), r.text
        r = await client.post(url("CP-U", action), json={})  # and the caller before the name
        assert r.status_code == 401, r.text
        await asyncio.sleep(0.05)
        assert cp.calls == []


async def test_unknown_charge_point(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.post(url("NOBODY", "Reset"), json={"type": "Soft"}, headers=ADMIN)
    assert r.status_code == 404
    assert r.json()["code"] == "ChargePointNotFound"
    listed = await client.get("/api/v1/commands", params={"charge_point_id": "NOBODY"}, headers=ADMIN)
    assert listed.json()["total"] == 0


async def test_known_but_offline_is_409(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/charge-points", json={"id": "CP-OFF"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    r = await client.post(url("CP-OFF", "Reset"), json={"type": "Soft"}, headers=ADMIN)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "ChargePointOffline"
    command = await get_command(client, body["command_id"])
    assert command["status"] == "offline" and command["payload"] == {"type": "Soft"}


async def test_offline_after_disconnect(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-GONE"):
        pass

    async def offline() -> bool:
        r = await client.get("/api/v1/charge-points/CP-GONE", headers=ADMIN)
        return r.json()["online"] is False

    assert await eventually(offline)
    r = await client.post(url("CP-GONE", "ClearCache"), json={}, headers=ADMIN)
    assert r.status_code == 409 and r.json()["code"] == "ChargePointOffline"


async def test_call_error_is_502(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-E") as cp:
        cp.errors["UnlockConnector"] = ("NotSupported", "this model has no lock")
        r = await client.post(url("CP-E", "UnlockConnector"), json={"connectorId": 1}, headers=ADMIN)
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["code"] == "CallError"
    assert body["error_code"] == "NotSupported"
    assert body["error_description"] == "this model has no lock"
    assert "NotSupported" in body["message"]
    command = await get_command(client, body["command_id"])
    assert command["status"] == "call_error"
    assert command["error_code"] == "NotSupported"
    assert command["error_description"] == "this model has no lock"
    log = await messages(client, "CP-E", action="UnlockConnector")
    assert [(m["direction"], m["message_type"]) for m in reversed(log)] == [("out", 2), ("in", 4)]


async def test_timeout_is_504(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-T") as cp:
        cp.delays["GetConfiguration"] = 3.0
        started = time.monotonic()
        r = await client.post(url("CP-T", "GetConfiguration", "?wait=0.3"), json={}, headers=ADMIN)
        elapsed = time.monotonic() - started
        assert r.status_code == 504, r.text
        assert r.json()["code"] == "Timeout"
        assert 0.25 <= elapsed < 2.5  # not waiting for the answer (3 s), even on a busy machine
        assert cp.payloads("GetConfiguration") == [{}]  # it was sent; the answer came too late
        command = await get_command(client, r.json()["command_id"])
        assert command["status"] == "timeout" and command["response"] is None
        # The connection stays usable once the charge point is done.
        r = await client.post(url("CP-T", "Reset", "?wait=5"), json={"type": "Hard"}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}


@pytest.mark.parametrize("wait", ["-1", "301", "soon"])
async def test_bad_wait_is_422(stack: Stack, client: httpx.AsyncClient, wait: str) -> None:
    async with online(stack, "CP-W") as cp:
        r = await client.post(url("CP-W", "Reset", f"?wait={wait}"), json={"type": "Soft"}, headers=ADMIN)
        assert r.status_code == 422
        await asyncio.sleep(0.05)
        assert cp.calls == []
