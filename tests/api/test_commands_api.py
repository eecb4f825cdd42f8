"""POST /api/v1/charge-points/{id}/commands/{Action} over real HTTP to a real websocket charge point."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.command_examples import EXAMPLES
from chargebay.stack import Stack
from tests.api.full_cp import (
    ADMIN,
    CallbackReceiver,
    bearer,
    eventually,
    make_token,
    online,
)

# The callback receivers of these tests listen on 127.0.0.1, which only an allow-list lets the
# server reach (tests/api/test_outbound.py checks that it is refused without one).
ALLOW_LOOPBACK = pytest.mark.parametrize("settings_overrides", [{"outbound_allow": "127.0.0.1"}],
                                         ids=["loopback-allowed"])

# What FullChargePoint answers to each example payload, as the CSMS must hand it back unchanged.
EXPECTED: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetCompositeSchedule": {"status": "Accepted", "connectorId": 1, "scheduleStart": "2030-01-01T00:00:00Z",
                             "chargingSchedule": {"chargingRateUnit": "W", "duration": 3600,
                                                  "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                              "limit": 11000.0}]}},
    "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                               "value": "300"}]},
    "GetDiagnostics": {"fileName": "diag.tar.gz"},
    "GetLocalListVersion": {"listVersion": 7},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
    "CertificateSigned": {"status": "Accepted"},
    "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "Accepted", "certificateHashData": [
        {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
         "serialNumber": "01"}]},
    "GetLog": {"status": "Accepted", "filename": "log.txt"},
    "InstallCertificate": {"status": "Accepted"},
    "SignedUpdateFirmware": {"status": "Accepted"},
}


def url(cp_id: str, action: str, query: str = "") -> str:
    return f"/api/v1/charge-points/{cp_id}/commands/{action}{query}"


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


async def messages(client: httpx.AsyncClient, cp_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/charge-points/{cp_id}/messages", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def get_command(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/commands/{command_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return dict(r.json())


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
