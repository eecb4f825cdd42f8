"""GET /api/v1/events: the Server-Sent Events stream, read over real HTTP while real charge points act."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack, running
from csms.timeutil import iso
from tests.api.full_cp import ADMIN, FullChargePoint, add_tag, bearer, make_token
from tests.conftest import make_settings
from tests.ocpp_client import connect, ocpp_call

EVENTS = "/api/v1/events"


class EventStream:
    """Parses ``event:``/``data:`` blocks of an open text/event-stream response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def ready(self) -> None:
        """Wait for the ``: connected`` comment: from then on the stream is subscribed."""
        async with asyncio.timeout(2):
            while True:
                line = await anext(self._lines)
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    if line[1:].strip() == "connected":
                        return

    async def next(self, timeout: float = 2.0) -> tuple[str, dict[str, Any]]:
        event: str | None = None
        data: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                line = await anext(self._lines)
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                if not line:
                    if data:
                        return event or "message", json.loads("\n".join(data))
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)

    async def until(self, kind: str, timeout: float = 2.0) -> dict[str, Any]:
        """Skip to the next event of ``kind``."""
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.next(timeout)
                if name == kind:
                    return data


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


@contextlib.asynccontextmanager
async def subscribe(client: httpx.AsyncClient, headers: dict[str, str] = ADMIN,
                    **params: str | list[str]) -> AsyncIterator[EventStream]:
    async with asyncio.timeout(5):
        async with client.stream("GET", EVENTS, params=params, headers=headers) as response:
            assert response.status_code == 200
            stream = EventStream(response)
            await stream.ready()
            yield stream


async def test_stream_headers(stack: Stack, client: httpx.AsyncClient) -> None:
    async with subscribe(client) as events:
        assert events.response.headers["content-type"].startswith("text/event-stream")
        assert events.response.headers["cache-control"] == "no-cache"


async def test_full_life_cycle_in_order(stack: Stack, client: httpx.AsyncClient) -> None:
    await add_tag(client, "TAG-SSE")
    async with subscribe(client) as events:
        async with connect(stack.ws_url, "CP-S1", cls=FullChargePoint) as cp:
            name, connected = await events.next()
            assert name == "connected"
            assert connected["type"] == "connected" and connected["charge_point_id"] == "CP-S1"
            assert connected["ts"]

            await cp.boot()
            name, boot = await events.next()
            assert name == "boot"
            assert boot["charge_point_id"] == "CP-S1" and boot["status"] == "Accepted"
            assert boot["vendor"] == "Tests" and boot["model"] == "Full"

            await cp.status(1, "Available")
            name, status = await events.next()
            assert name == "status"
            assert (status["charge_point_id"], status["connector_id"], status["status"],
                    status["error_code"]) == ("CP-S1", 1, "Available", "NoError")

            tx = await cp.start_transaction(1, "TAG-SSE")
            name, started = await events.next()
            assert name == "transaction_started"
            assert started["charge_point_id"] == "CP-S1"
            assert started["transaction_id"] == tx and started["connector_id"] == 1
            assert started["id_tag"] == "TAG-SSE" and started["id_tag_status"] == "Accepted"

            await cp.stop_transaction(tx)
            name, stopped = await events.next()
            assert name == "transaction_stopped"
            assert stopped["charge_point_id"] == "CP-S1" and stopped["transaction_id"] == tx
            assert stopped["reason"] == "Local"

            r = await client.post("/api/v1/charge-points/CP-S1/commands/Reset", json={"type": "Soft"},
                                  headers=ADMIN)
            assert r.status_code == 200
            name, result = await events.next()
            assert name == "command_result"
            assert result["charge_point_id"] == "CP-S1"
            assert result["command_id"] == r.json()["command_id"]
            assert result["action"] == "Reset" and result["outcome"] == "result"
            assert result["payload"] == {"status": "Accepted"}

        name, gone = await events.next()
        assert name == "disconnected" and gone["charge_point_id"] == "CP-S1"


async def test_failed_command_results_are_streamed(stack: Stack, client: httpx.AsyncClient) -> None:
    async with subscribe(client, types="command_result") as events:
        async with connect(stack.ws_url, "CP-S2", cls=FullChargePoint) as cp:
            await cp.boot()
            cp.errors["UnlockConnector"] = ("NotSupported", "no lock")
            r = await client.post("/api/v1/charge-points/CP-S2/commands/UnlockConnector",
                                  json={"connectorId": 1}, headers=ADMIN)
            assert r.status_code == 502
            name, data = await events.next()
            assert name == "command_result"
            assert data["outcome"] == "call_error" and data["error_code"] == "NotSupported"
            assert data["command_id"] == r.json()["command_id"]
            r = await client.post("/api/v1/charge-points/CP-S2/commands/ClearCache", params={"wait": 0},
                                  json={}, headers=ADMIN)
            assert r.status_code == 202
            data = await events.until("command_result")
            assert data["command_id"] == r.json()["command_id"] and data["outcome"] == "result"


async def test_charge_point_filter(stack: Stack, client: httpx.AsyncClient) -> None:
    async with subscribe(client, charge_point_id="CP-MINE") as events:
        async with connect(stack.ws_url, "CP-OTHER", cls=FullChargePoint) as other:
            await other.boot()
            await other.status(1, "Available")
            async with connect(stack.ws_url, "CP-MINE", cls=FullChargePoint) as mine:
                await mine.boot()
                # The other charge point's events come first on the bus, but are filtered out.
                seen = [await events.next() for _ in range(2)]
                assert [name for name, _ in seen] == ["connected", "boot"]
                assert {data["charge_point_id"] for _, data in seen} == {"CP-MINE"}
                await other.status(1, "Charging")
                await mine.status(2, "Faulted")
                name, data = await events.next()
                assert (name, data["charge_point_id"], data["connector_id"]) == ("status", "CP-MINE", 2)


async def test_several_charge_points_filter_and_the_meter_event(stack: Stack, client: httpx.AsyncClient) -> None:
    """A dashboard page follows its rows alone: charge_point_id repeated; a meter value of an
    open transaction comes as a ``meter`` event with its draw and register."""
    await add_tag(client, "TAG-SEV")
    async with subscribe(client, charge_point_id=["CP-S1", "CP-S2"], types="status,meter") as events:
        async with connect(stack.ws_url, "CP-S1", cls=FullChargePoint) as one, \
                connect(stack.ws_url, "CP-S2", cls=FullChargePoint) as two, \
                connect(stack.ws_url, "CP-S3", cls=FullChargePoint) as three:
            for cp in (one, two, three):
                await cp.boot()
            await three.status(1, "Faulted")
            await one.status(1, "Charging")
            await two.status(2, "Preparing")
            got = [await events.next() for _ in range(2)]
            assert [(d["charge_point_id"], d["status"]) for _, d in got] == [
                ("CP-S1", "Charging"), ("CP-S2", "Preparing")]
            tx = await two.start_transaction(2, "TAG-SEV")
            sampled = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
            await two.call(ocpp_call.MeterValues(connector_id=2, transaction_id=tx, meter_value=[
                {"timestamp": sampled.isoformat(), "sampledValue": [
                    {"value": "2.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"}]}]))
            name, data = await events.next()
            assert name == "meter"
            assert data | {"ts": None} == {"type": "meter", "charge_point_id": "CP-S2", "ts": None,
                                          "transaction_id": tx, "connector_id": 2, "power_w": 11000.0,
                                          "energy_wh": 2500, "timestamp": iso(sampled)}
    too_many = await client.get(EVENTS, params={"charge_point_id": [f"CP-{n}" for n in range(101)]},
                                headers=ADMIN)
    assert too_many.status_code == 422


async def test_types_filter(stack: Stack, client: httpx.AsyncClient) -> None:
    await add_tag(client, "TAG-TY")
    async with subscribe(client, types="status,transaction_started") as events:
        async with connect(stack.ws_url, "CP-TY", cls=FullChargePoint) as cp:
            await cp.boot()  # connected and boot are filtered out
            await cp.status(1, "Preparing")
            name, data = await events.next()
            assert name == "status" and data["status"] == "Preparing"
            tx = await cp.start_transaction(1, "TAG-TY")
            await cp.stop_transaction(tx)  # filtered out
            await cp.status(1, "Finishing")
            got = [await events.next() for _ in range(2)]
            assert [name for name, _ in got] == ["transaction_started", "status"]
            assert got[0][1]["transaction_id"] == tx and got[1][1]["status"] == "Finishing"


async def test_filters_combine(stack: Stack, client: httpx.AsyncClient) -> None:
    async with subscribe(client, charge_point_id="CP-C2", types="disconnected") as events:
        async with connect(stack.ws_url, "CP-C1", cls=FullChargePoint) as one:
            await one.boot()
        async with connect(stack.ws_url, "CP-C2", cls=FullChargePoint) as two:
            await two.boot()
            await two.status(1, "Available")
        name, data = await events.next()
        assert (name, data["charge_point_id"]) == ("disconnected", "CP-C2")


async def test_two_subscribers_both_get_events(stack: Stack, client: httpx.AsyncClient) -> None:
    viewer = await make_token(client, "viewer")
    async with subscribe(client) as first, subscribe(client, headers=bearer(viewer)) as second:
        async with connect(stack.ws_url, "CP-BOTH", cls=FullChargePoint) as cp:
            await cp.boot()
            for stream in (first, second):
                assert [(await stream.next())[0] for _ in range(2)] == ["connected", "boot"]


async def test_needs_a_token(stack: Stack, client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(3):
        r = await client.get(EVENTS)
        assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
        r = await client.get(EVENTS, headers=bearer("cb_not-a-token"))
        assert r.status_code == 401


@pytest.mark.parametrize("role", ["viewer", "integrator", "operator"])
async def test_every_role_may_listen(stack: Stack, client: httpx.AsyncClient, role: str) -> None:
    token = await make_token(client, role)
    async with subscribe(client, headers=bearer(token)) as events:
        async with connect(stack.ws_url, "CP-ROLE", cls=FullChargePoint):
            name, data = await events.next()
            assert name == "connected" and data["charge_point_id"] == "CP-ROLE"


async def test_shutdown_ends_open_streams(db_url: str) -> None:
    """Stopping the stack (SIGTERM, tests) must not wait forever for a listener that stays connected."""
    finished_in_time = False
    async with httpx.AsyncClient(timeout=5) as client:
        stack_cm = running(make_settings(db_url), migrate=False)
        stack = await stack_cm.__aenter__()
        shutdown: asyncio.Task[Any] | None = None
        try:
            async with client.stream("GET", f"{stack.http_url}{EVENTS}", headers=ADMIN) as response:
                events = EventStream(response)
                await events.ready()
                shutdown = asyncio.create_task(stack_cm.__aexit__(None, None, None))
                done, _ = await asyncio.wait({shutdown}, timeout=2.5)
                finished_in_time = shutdown in done
                if finished_in_time:
                    shutdown.result()
                    async with asyncio.timeout(1):  # and the server ended the stream
                        with contextlib.suppress(httpx.HTTPError):
                            async for _ in events._lines:
                                pass
        finally:
            if shutdown is None:
                await stack_cm.__aexit__(None, None, None)
            else:  # the stream is closed now, so the stack can finish stopping
                async with asyncio.timeout(5):
                    await shutdown
    assert finished_in_time, "leaving running() hung while a client stayed on /api/v1/events"
