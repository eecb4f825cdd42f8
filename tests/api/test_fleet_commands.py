"""POST /api/v1/commands/fleet/{action}: one action to many charge points in one request, over real
HTTP to real websocket charge points (1.6 and 2.0.1): each gets a command of its own, ends its own
way and is stored as if it had been sent alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack, running
from tests.api.commands_helpers import get_command, messages
from tests.api.full_cp import ADMIN, bearer, eventually, make_token, online
from tests.conftest import make_settings
from tests.csms.test_ocpp201_connection import BOOT, station

START = {"connectorId": 1, "idTag": "FLEET"}


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as c:
        yield c


async def fleet(client: httpx.AsyncClient, action: str, ids: list[str], payload: dict[str, Any],
                query: str = "", headers: dict[str, str] = ADMIN) -> httpx.Response:
    return await client.post(f"/api/v1/commands/fleet/{action}{query}",
                             json={"charge_point_ids": ids, "payload": payload}, headers=headers)


async def test_each_charge_point_gets_its_own_command_and_ends_its_own_way(
        stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/charge-points", json={"id": "FL-OFF"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    async with online(stack, "FL-A") as a, online(stack, "FL-B") as b, online(stack, "FL-E") as e, \
            online(stack, "FL-SLOW") as slow:
        e.errors["RemoteStartTransaction"] = ("NotSupported", "no remote start here")
        slow.delays["RemoteStartTransaction"] = 3.0
        ids = ["FL-A", "FL-B", "FL-E", "FL-SLOW", "FL-OFF", "FL-NONE", "FL-A"]
        r = await fleet(client, "RemoteStartTransaction", ids, START, "?wait=1")
        assert r.status_code == 200, r.text
        body = r.json()
        by_id = {t["charge_point_id"]: t for t in body["results"]}
        # each named once, in the order given (the repeated FL-A is sent once)
        assert [t["charge_point_id"] for t in body["results"]] == ids[:-1]
        assert by_id["FL-A"]["status"] == by_id["FL-B"]["status"] == "result"
        assert by_id["FL-A"]["response"] == {"status": "Accepted"}
        assert (by_id["FL-E"]["status"], by_id["FL-E"]["error_code"]) == ("call_error", "NotSupported")
        assert by_id["FL-SLOW"]["status"] == "timeout"
        assert by_id["FL-OFF"]["status"] == "offline"
        assert (by_id["FL-NONE"]["status"], by_id["FL-NONE"]["error_code"], by_id["FL-NONE"]["command_id"]) == (
            "refused", "ChargePointNotFound", None)
        assert body["counts"] == {"result": 2, "call_error": 1, "timeout": 1, "offline": 1, "refused": 1}
        for cp in (a, b, e, slow):  # exactly one call each, with the payload as given
            assert cp.payloads("RemoteStartTransaction") == [START]

    # Stored one by one: each command is looked up by its own id, with its own outcome.
    for cp_id, status in (("FL-A", "result"), ("FL-E", "call_error"), ("FL-SLOW", "timeout"),
                          ("FL-OFF", "offline")):
        command = await get_command(client, by_id[cp_id]["command_id"])
        assert (command["charge_point_id"], command["action"], command["status"]) == (
            cp_id, "RemoteStartTransaction", status)
        assert command["payload"] == START and command["requested_by"] == "CHARGEBAY_API_TOKEN"
    assert (await get_command(client, by_id["FL-A"]["command_id"]))["response"] == {"status": "Accepted"}
    log = await messages(client, "FL-B", action="RemoteStartTransaction")
    assert [(m["direction"], m["message_type"]) for m in reversed(log)] == [("out", 2), ("in", 3)]


async def test_a_payload_one_version_refuses_is_refused_there_only(stack: Stack,
                                                                   client: httpx.AsyncClient) -> None:
    """1.6 Reset takes {"type": "Soft"}; 2.0.1's Reset does not (Immediate/OnIdle): the 2.0.1
    station is refused before anything is sent to it or stored, the 1.6 one is reset."""
    async with online(stack, "FL-16") as cp16, station(stack, "FL-201") as cp201:
        await cp201.call(BOOT)
        r = await fleet(client, "Reset", ["FL-16", "FL-201"], {"type": "Soft"})
        assert r.status_code == 200, r.text
        first, second = r.json()["results"]
        assert (first["charge_point_id"], first["status"]) == ("FL-16", "result")
        assert (second["charge_point_id"], second["status"], second["error_code"]) == (
            "FL-201", "refused", "InvalidPayload")
        assert "2.0.1" in second["error_description"]
        assert cp16.payloads("Reset") == [{"type": "Soft"}]
    stored = await client.get("/api/v1/commands", params={"charge_point_id": "FL-201"}, headers=ADMIN)
    assert stored.json()["items"] == []


async def test_wait_0_answers_202_at_once_and_the_commands_end_later(stack: Stack,
                                                                     client: httpx.AsyncClient) -> None:
    async with online(stack, "FL-Q1") as q1, online(stack, "FL-Q2") as q2:
        q1.delays["Reset"] = q2.delays["Reset"] = 0.5
        r = await fleet(client, "Reset", ["FL-Q1", "FL-Q2"], {"type": "Hard"}, "?wait=0")
        assert r.status_code == 202, r.text
        results = r.json()["results"]
        assert [t["status"] for t in results] == ["pending", "pending"]
        assert r.json()["counts"] == {"pending": 2}

        async def ended() -> bool:
            commands = [await get_command(client, t["command_id"]) for t in results]
            return all(c["status"] == "result" for c in commands)

        assert await eventually(ended, timeout=10)
        assert q1.payloads("Reset") == q2.payloads("Reset") == [{"type": "Hard"}]


async def test_an_answer_is_stored_as_it_comes_not_when_the_slowest_ends(
        stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "FL-FAST"), online(stack, "FL-SILENT") as silent:
        silent.delays["TriggerMessage"] = 30.0
        r = await fleet(client, "TriggerMessage", ["FL-FAST", "FL-SILENT"], {"requestedMessage": "Heartbeat"},
                        "?wait=0")
        assert r.status_code == 202, r.text
        fast_id, silent_id = (t["command_id"] for t in r.json()["results"])

        async def fast_stored() -> bool:
            return (await get_command(client, fast_id))["status"] == "result"

        assert await eventually(fast_stored, timeout=10)
        assert (await get_command(client, silent_id))["status"] == "pending"  # still waiting for it


async def test_one_command_failing_inside_the_central_system_loses_no_other(
        stack: Stack, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = stack.central.commands
    deliver = commands.deliver

    async def failing(command_id: str, charge_point_id: str, *args: Any) -> Any:
        if charge_point_id == "FL-BROKEN":
            raise RuntimeError("the store went away")
        return await deliver(command_id, charge_point_id, *args)

    monkeypatch.setattr(commands, "deliver", failing)
    async with online(stack, "FL-OK"), online(stack, "FL-BROKEN"):
        r = await fleet(client, "Reset", ["FL-OK", "FL-BROKEN"], {"type": "Soft"})
    assert r.status_code == 200, r.text
    ok, broken = r.json()["results"]
    assert (ok["status"], (await get_command(client, ok["command_id"]))["status"]) == ("result", "result")
    assert (broken["status"], broken["error_code"]) == ("error", "InternalError")


async def test_an_action_one_version_lacks_is_refused_for_its_stations_only(
        stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "FL-V16"), station(stack, "FL-V201") as cp201:
        await cp201.call(BOOT)
        r = await fleet(client, "RemoteStartTransaction", ["FL-V16", "FL-V201"], START)
    first, second = r.json()["results"]
    assert first["status"] == "result"
    assert (second["status"], second["error_code"]) == ("refused", "ActionNotInVersion")


async def test_refusals_of_the_request_itself(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await fleet(client, "Bogus", ["FL-X"], {})
    assert (r.status_code, r.json()["code"]) == (404, "UnknownAction")
    r = await fleet(client, "Reset", [], {"type": "Soft"})
    assert r.status_code == 422, r.text
    r = await fleet(client, "Reset", [f"CP-{i}" for i in range(10_001)], {"type": "Soft"})
    assert (r.status_code, r.json()["code"]) == (422, "TooManyChargePoints"), r.text
    r = await fleet(client, "Reset", ["FL-X"] * 10_001, {"type": "Soft"})  # one charge point, named often
    assert r.status_code == 200 and [t["status"] for t in r.json()["results"]] == ["refused"], r.text
    viewer = bearer(await make_token(client, "viewer"))
    r = await fleet(client, "Reset", ["FL-X"], {"type": "Soft"}, headers=viewer)
    assert r.status_code == 403, r.text
    r = await client.post("/api/v1/commands/fleet/Reset", json={"charge_point_ids": ["FL-X"]})
    assert r.status_code == 401, r.text


async def test_a_fleet_of_fifty_is_stored_in_full(stack: Stack, client: httpx.AsyncClient) -> None:
    """Fifty side by side: every command recorded, every outcome stored (two statements for all)."""
    async with asyncio.TaskGroup() as group:
        ids = [f"FL-{i:02d}" for i in range(50)]
        stations = [online(stack, cp_id) for cp_id in ids]
        cps = [group.create_task(s.__aenter__()) for s in stations]
    try:
        r = await fleet(client, "TriggerMessage", ids, {"requestedMessage": "Heartbeat"})
        assert r.status_code == 200, r.text
        assert r.json()["counts"] == {"result": 50}
        listed = await client.get("/api/v1/commands", params={"action": "TriggerMessage", "page_size": 100},
                                  headers=ADMIN)
        items = listed.json()["items"]
        assert sorted(c["charge_point_id"] for c in items) == ids
        assert {c["status"] for c in items} == {"result"}
        assert all(cp.result().payloads("TriggerMessage") == [{"requestedMessage": "Heartbeat"}] for cp in cps)
    finally:
        for s in stations:
            await s.__aexit__(None, None, None)


async def test_commands_sent_without_waiting_are_stored_when_the_central_system_stops(
        db_url: str, settings_overrides: dict[str, Any]) -> None:
    """Stopped while a wait=0 command (one and a fleet's) waits for a connected charge point's
    answer: its socket closes first, so the commands end offline and are stored so, not left
    pending forever."""
    settings = make_settings(db_url, **settings_overrides)
    central_system = running(settings, migrate=False)
    stack = await central_system.__aenter__()
    station_16 = online(stack, "FL-STOP")
    cp = await station_16.__aenter__()
    try:
        cp.delays["Reset"] = cp.delays["TriggerMessage"] = 60.0
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as c:
            single = await c.post("/api/v1/charge-points/FL-STOP/commands/Reset?wait=0", json={"type": "Soft"},
                                  headers=ADMIN)
            many = await fleet(c, "TriggerMessage", ["FL-STOP"], {"requestedMessage": "Heartbeat"}, "?wait=0")
        assert single.status_code == many.status_code == 202
        ids = [single.json()["command_id"], many.json()["results"][0]["command_id"]]
    finally:
        await central_system.__aexit__(None, None, None)  # stopped while the charge point is connected
        with contextlib.suppress(Exception):
            await station_16.__aexit__(None, None, None)
    async with running(settings, migrate=False) as again, \
            httpx.AsyncClient(base_url=again.http_url, timeout=10) as c:
        statuses = [(await get_command(c, command_id))["status"] for command_id in ids]
    assert statuses == ["offline", "offline"]
