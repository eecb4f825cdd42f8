"""REST commands not waited for, their callbacks, who may send them, and looking them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.command_examples import EXAMPLES
from chargebay.stack import Stack
from tests.api.commands_helpers import (
    ALLOW_LOOPBACK,
    get_command,
    url,
)
from tests.api.full_cp import (
    ADMIN,
    CallbackReceiver,
    bearer,
    eventually,
    make_token,
    online,
)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


# -- asynchronous commands and callbacks ---------------------------------------------------------
async def test_wait_zero_is_202_then_pending_then_result(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-A") as cp:
        cp.delays["Reset"] = 1.5  # the charge point takes its time to answer
        r = await client.post(url("CP-A", "Reset", "?wait=0"), json={"type": "Soft"}, headers=ADMIN)
        # answered before the charge point did (an order, not a stopwatch: no timing bound to
        # miss on a busy machine)
        assert cp.answers == {}, cp.answers
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "pending" and body["command_id"]
        pending = await get_command(client, body["command_id"])
        assert pending["status"] == "pending" and pending["response"] is None
        assert pending["payload"] == {"type": "Soft"} and pending["completed_at"] is None

        async def done() -> dict[str, Any] | None:
            command = await get_command(client, body["command_id"])
            return command if command["status"] != "pending" else None

        command = await eventually(done, timeout=5)
        assert command is not None and command["status"] == "result"
        assert command["response"] == {"status": "Accepted"}
        assert cp.payloads("Reset") == [{"type": "Soft"}]


@ALLOW_LOOPBACK
async def test_callback_url_receives_outcome(stack: Stack, client: httpx.AsyncClient) -> None:
    async with CallbackReceiver() as hook, online(stack, "CP-CB"):
        r = await client.post(url("CP-CB", "ChangeAvailability"),
                              params={"wait": 0, "callback_url": hook.url},
                              json={"connectorId": 1, "type": "Inoperative"}, headers=ADMIN)
        assert r.status_code == 202, r.text
        command_id = r.json()["command_id"]
        async with asyncio.timeout(2):
            await hook.received.wait()
    assert len(hook.requests) == 1
    got = hook.requests[0]
    assert got["method"] == "POST" and got["path"] == "/hook"
    assert got["headers"]["content-type"].startswith("application/json")
    assert got["json"]["command_id"] == command_id
    assert got["json"]["charge_point_id"] == "CP-CB"
    assert got["json"]["action"] == "ChangeAvailability"
    assert got["json"]["kind"] == "result"
    assert got["json"]["payload"] == {"status": "Accepted"}
    command = await get_command(client, command_id)
    assert command["callback_url"] == hook.url and command["status"] == "result"


@ALLOW_LOOPBACK
async def test_callback_url_receives_failure_of_synchronous_command(stack: Stack,
                                                                   client: httpx.AsyncClient) -> None:
    async with CallbackReceiver() as hook, online(stack, "CP-CB2") as cp:
        cp.errors["Reset"] = ("InternalError", "reset failed")
        r = await client.post(url("CP-CB2", "Reset"), params={"callback_url": hook.url},
                              json={"type": "Soft"}, headers=ADMIN)
        assert r.status_code == 502
        async with asyncio.timeout(2):
            await hook.received.wait()
    assert hook.requests[0]["json"]["command_id"] == r.json()["command_id"]
    assert hook.requests[0]["json"]["kind"] == "call_error"
    assert hook.requests[0]["json"]["error_code"] == "InternalError"


@ALLOW_LOOPBACK
async def test_callback_for_offline_charge_point(stack: Stack, client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/charge-points", json={"id": "CP-CB3"}, headers=ADMIN)
    async with CallbackReceiver() as hook:
        r = await client.post(url("CP-CB3", "ClearCache"), params={"wait": 0, "callback_url": hook.url},
                              json={}, headers=ADMIN)
        assert r.status_code == 202
        async with asyncio.timeout(2):
            await hook.received.wait()
    assert hook.requests[0]["json"]["kind"] == "offline"
    assert (await get_command(client, r.json()["command_id"]))["status"] == "offline"


# -- auth ----------------------------------------------------------------------------------------
async def test_no_or_unknown_token_is_401(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-AUTH") as cp:
        r = await client.post(url("CP-AUTH", "Reset"), json={"type": "Soft"})
        assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
        r = await client.post(url("CP-AUTH", "Reset"), json={"type": "Soft"}, headers=bearer("cb_nope"))
        assert r.status_code == 401
        r = await client.get("/api/v1/commands")
        assert r.status_code == 401
        await asyncio.sleep(0.05)
        assert cp.calls == []


async def test_viewer_may_not_send_but_may_read(stack: Stack, client: httpx.AsyncClient) -> None:
    viewer = await make_token(client, "viewer")
    async with online(stack, "CP-VW") as cp:
        r = await client.post(url("CP-VW", "Reset"), json={"type": "Soft"}, headers=bearer(viewer))
        assert r.status_code == 403 and r.json()["code"] == "Forbidden"
        r = await client.post(url("CP-VW", "NoSuchAction"), json={}, headers=bearer(viewer))
        assert r.status_code == 403
        await asyncio.sleep(0.05)
        assert cp.calls == []
        sent = await client.post(url("CP-VW", "ClearCache"), json={}, headers=ADMIN)
        assert sent.status_code == 200
    r = await client.get(f"/api/v1/commands/{sent.json()['command_id']}", headers=bearer(viewer))
    assert r.status_code == 200 and r.json()["status"] == "result"
    r = await client.get("/api/v1/commands", headers=bearer(viewer))
    assert r.status_code == 200 and r.json()["total"] == 1


@pytest.mark.parametrize("role", ["operator", "integrator", "admin"])
async def test_operator_integrator_admin_may_send(stack: Stack, client: httpx.AsyncClient, role: str) -> None:
    token = await make_token(client, role, name=f"{role}-tool")
    async with online(stack, "CP-R") as cp:
        r = await client.post(url("CP-R", "TriggerMessage"), json=EXAMPLES["TriggerMessage"],
                              headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.json()["response"] == {"status": "Accepted"}
        assert cp.payloads("TriggerMessage") == [EXAMPLES["TriggerMessage"]]
    command = await get_command(client, r.json()["command_id"])
    assert command["requested_by"] == f"{role}-tool"


async def test_x_api_key_header_works_for_commands(stack: Stack, client: httpx.AsyncClient) -> None:
    token = await make_token(client, "integrator")
    async with online(stack, "CP-X"):
        r = await client.post(url("CP-X", "ClearCache"), json={}, headers={"X-API-Key": token})
    assert r.status_code == 200, r.text


# -- listing and lookup --------------------------------------------------------------------------
async def test_list_commands_by_charge_point(stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "CP-L1") as one, online(stack, "CP-L2"):
        one.errors["UnlockConnector"] = ("NotSupported", "no")
        ids = []
        for cp_id, action in [("CP-L1", "Reset"), ("CP-L2", "ClearCache"), ("CP-L1", "UnlockConnector"),
                              ("CP-L1", "GetLocalListVersion")]:
            r = await client.post(url(cp_id, action), json=EXAMPLES[action], headers=ADMIN)
            assert r.status_code in (200, 502)
            ids.append((cp_id, action, r.json()["command_id"]))
    r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-L1"}, headers=ADMIN)
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 3
    assert {c["id"] for c in page["items"]} == {i for cp_id, _, i in ids if cp_id == "CP-L1"}
    assert all(c["charge_point_id"] == "CP-L1" for c in page["items"])
    # Newest first.
    assert [c["action"] for c in page["items"]] == ["GetLocalListVersion", "UnlockConnector", "Reset"]
    r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-L1", "status": "call_error"},
                         headers=ADMIN)
    assert [c["action"] for c in r.json()["items"]] == ["UnlockConnector"]
    r = await client.get("/api/v1/commands", params={"action": "ClearCache"}, headers=ADMIN)
    assert [c["charge_point_id"] for c in r.json()["items"]] == ["CP-L2"]
    r = await client.get("/api/v1/commands", headers=ADMIN)
    assert r.json()["total"] == 4


async def test_unknown_command_id_is_404(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/commands/00000000-0000-0000-0000-000000000000", headers=ADMIN)
    assert r.status_code == 404 and r.json()["code"] == "CommandNotFound"


@ALLOW_LOOPBACK
async def test_slow_callback_receiver_does_not_hold_the_synchronous_answer(stack: Stack,
                                                                           client: httpx.AsyncClient) -> None:
    """?wait=S answers when the charge point does; delivering the callback is not the caller's wait."""

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):  # hold the connection open a while, never answering
            await asyncio.wait_for(reader.read(), 2.7)
        writer.close()

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    hook = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        async with online(stack, "CP-SLOWHOOK") as cp:
            started = time.monotonic()
            try:
                async with asyncio.timeout(2.5):
                    r = await client.post(url("CP-SLOWHOOK", "ClearCache"),
                                          params={"wait": 2, "callback_url": hook}, json={}, headers=ADMIN)
            except TimeoutError:
                pytest.fail("the answer was held back by the callback receiver "
                            f"(charge point answered: {cp.answers})")
            assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}
            assert time.monotonic() - started < 2.5
    finally:
        server.close()


async def test_malformed_callback_url_never_gives_a_bare_500(stack: Stack, client: httpx.AsyncClient) -> None:
    """Either refused before sending (422, JSON error) or the command's own outcome; never a 500."""
    async with online(stack, "CP-BADHOOK") as cp:
        r = await client.post(url("CP-BADHOOK", "ClearCache"), params={"callback_url": "http://[::1"},
                              json={}, headers=ADMIN)
        assert r.status_code in (200, 422), (r.status_code, r.text)
        if r.status_code == 422:
            assert r.json()["code"] and r.json()["message"]
            await asyncio.sleep(0.05)
            assert cp.calls == []
        else:
            assert r.json()["response"] == {"status": "Accepted"}
