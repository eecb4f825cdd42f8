"""A simulated charger's csms_url reaches only allowed addresses (issue #13, item 7): a real stack,
its real worker process, and a real TCP service on 127.0.0.1 that must not be reached.

The server opens that websocket itself, so a loopback, private or metadata address other than the
stack's own CSMS is refused when a definition is created or changed, and again each time its
station connects (a definition stored before the check existed); the stack's own URL needs no
setting, and CHARGEBAY_OUTBOUND_ALLOW admits what it names.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from charger_sim.models import SimCharger
from csms.timeutil import now_utc
from tests.charger_sim.runtime_api.conftest import (
    ADMIN,
    API,
    BUDGET,
    charger_body,
    error,
    eventually,
    ok,
    started,
)


class Listener:
    """A real TCP service on 127.0.0.1 that counts the connections it gets (and drops them)."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accept(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """No allow-list unless a test names one (indirect parametrisation)."""
    return {"sim_workers": 1, "sim_state_dir": str(tmp_path / "sim"), "accept_unknown_id_tags": True,
            **getattr(request, "param", {})}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=30) as client:
        yield client


def not_allowed(response: httpx.Response, code: str = "AddressNotAllowed") -> str:
    body = error(response, 422, code)
    assert body["field"] == "csms_url", body
    return str(body["message"])


async def charger_logs(http: httpx.AsyncClient, charger_id: str) -> list[dict[str, Any]]:
    return ok(await http.get(f"{API}/{charger_id}/logs", params={"page_size": 100}))["items"]  # type: ignore[no-any-return]


async def test_another_loopback_or_private_csms_url_is_refused_at_create(stack: Stack,
                                                                        http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET), Listener() as other:
        for url in (f"ws://127.0.0.1:{other.port}/ocpp", f"ws://localhost:{other.port}/ocpp",
                    f"ws://2130706433:{other.port}/ocpp", f"wss://[::ffff:127.0.0.1]:{other.port}/ocpp"):
            message = not_allowed(await http.post(API, json=charger_body(stack, "CP-LOOP", csms_url=url)))
            assert "loopback" in message and "CHARGEBAY_OUTBOUND_ALLOW" in message
        for url, why in (("ws://10.1.2.3/ocpp", "private"), ("ws://192.168.0.10:9000/ocpp", "private"),
                         ("ws://169.254.169.254/", "cloud metadata"), ("ws://[fd00:ec2::254]/", "cloud metadata"),
                         ("ws://100.100.100.200/", "cloud metadata"), ("ws://[fe80::1]/ocpp", "link-local")):
            assert why in not_allowed(await http.post(API, json=charger_body(stack, "CP-PRIV", csms_url=url)))
        not_allowed(await http.post(API, json=charger_body(stack, "CP-HTTP", csms_url="http://8.8.8.8/ocpp")),
                    "InvalidUrl")
        bulk = ok(await http.post(f"{API}/bulk", json={"chargers": [
            charger_body(stack, "CP-BULK-OWN"),
            charger_body(stack, "CP-BULK-LOOP", csms_url=f"ws://127.0.0.1:{other.port}/ocpp")]}))
        assert [(r["identity"], r["ok"], r.get("code")) for r in bulk["results"]] == [
            ("CP-BULK-OWN", True, None), ("CP-BULK-LOOP", False, "AddressNotAllowed")]
        listed = ok(await http.get(API))
        assert [c["identity"] for c in listed["items"]] == ["CP-BULK-OWN"]
        # the stack's own CSMS needs no setting, named or by default
        await started(http, stack, "CP-OWN")
        await started(http, stack, "CP-DEFAULT", csms_url=None)
        assert other.connections == 0


async def test_changing_csms_url_to_another_loopback_service_is_refused(stack: Stack,
                                                                       http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET), Listener() as other:
        charger = await started(http, stack, "CP-MOVE")
        for url in (f"ws://127.0.0.1:{other.port}/ocpp", "ws://10.0.0.7/ocpp", "ws://169.254.169.254/"):
            not_allowed(await http.put(f"{API}/{charger['id']}", json={"csms_url": url}))
        kept = ok(await http.get(f"{API}/{charger['id']}"))
        assert kept["csms_url"] == stack.ws_url and kept["desired_state"] == "running"
        moved = ok(await http.put(f"{API}/{charger['id']}", json={"csms_url": stack.ws_url + "/"}))
        assert moved["csms_url"] == stack.ws_url + "/"
        await asyncio.sleep(0.5)
        assert other.connections == 0


async def test_a_stored_definition_is_checked_again_when_its_station_connects(
        stack: Stack, http: httpx.AsyncClient) -> None:
    """A definition written before the check existed (straight into the table) still cannot make
    its station connect to another loopback service: the worker refuses it at every attempt."""
    async with asyncio.timeout(BUDGET), Listener() as other:
        charger_id, now = str(uuid.uuid4()), now_utc()
        async with stack.central.engine.begin() as conn:
            await conn.execute(SimCharger.__table__.insert().values(
                id=charger_id, identity="CP-OLD", ocpp_version="OCPP1.6",
                csms_url=f"ws://127.0.0.1:{other.port}/ocpp", template="ac-wallbox",
                overrides=json.dumps({}), desired_state="stopped", atg=False,
                created_at=now, updated_at=now))
        ok(await http.post(f"{API}/{charger_id}/start-charger"))

        async def refused() -> list[dict[str, Any]]:
            found = [e for e in await charger_logs(http, charger_id) if "connect_refused" in e["text"]]
            assert found
            return found

        [event, *_] = await eventually(refused)
        assert "loopback" in event["text"] and "CHARGEBAY_OUTBOUND_ALLOW" in event["text"]
        assert other.connections == 0


@pytest.mark.parametrize("settings_overrides", [{"outbound_allow": "127.0.0.1/32"}], indirect=True)
async def test_an_allow_listed_csms_url_is_connected_to_and_nothing_else(
        stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET), Listener() as other:
        not_allowed(await http.post(API, json=charger_body(stack, "CP-NOT", csms_url="ws://10.0.0.7/ocpp")))
        charger = ok(await http.post(API, json=charger_body(
            stack, "CP-ALLOWED", csms_url=f"ws://127.0.0.1:{other.port}/ocpp")), 201)
        ok(await http.post(f"{API}/{charger['id']}/start-charger"))

        async def reached() -> None:
            assert other.connections >= 1

        await eventually(reached)
