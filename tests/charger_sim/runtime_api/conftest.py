"""What the simulator's runtime API tests share: a client of the stack, answer checks, and
readers of what the stack's CSMS recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.helpers import rows

BUDGET = 45.0  # hard bound on one test body (seconds); worker processes start in ~1 s
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
API = "/ocpp/chargers"
FAST = {"meter_interval": 1, "plug_in_delay": 0.2}


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"sim_workers": 1, "sim_state_dir": str(tmp_path / "sim"), "accept_unknown_id_tags": True}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=30) as client:
        yield client


# -- helpers ------------------------------------------------------------------------------------
def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return None if status == 204 else response.json()


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return body  # type: ignore[no-any-return]


async def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(interval)


def charger_body(stack: Stack, identity: str, **extra: Any) -> dict[str, Any]:
    return {"identity": identity, "ocpp_version": "OCPP1.6", "csms_url": stack.ws_url,
            "template": "ac-wallbox", **extra}


async def create(http: httpx.AsyncClient, stack: Stack, identity: str, **extra: Any) -> dict[str, Any]:
    return ok(await http.post(API, json=charger_body(stack, identity, **extra)), 201)  # type: ignore[no-any-return]


async def provisioning(http: httpx.AsyncClient, charger_id: str) -> dict[str, Any]:
    return ok(await http.get(f"{API}/{charger_id}/provisioning"))  # type: ignore[no-any-return]


async def until_provisioning(http: httpx.AsyncClient, charger_id: str, status: str,
                             timeout: float = 15.0) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        found = await provisioning(http, charger_id)
        assert found["status"] == status, found
        return found
    return await eventually(check, timeout)  # type: ignore[no-any-return]


def runtime_event(charger: dict[str, Any], event: str) -> dict[str, Any]:
    """The vendor doc's answer (seed 001), its values: the service named by the charger's id,
    ``ACTIVE`` even when stopped (``desired_count`` 0 says so)."""
    active = event != "stop_charger"
    return {"id": charger["id"], "event_type": event, "ocpp_version": "OCPP1.6", "payload": {
        "provider": "local", "runtime_kind": "process", "service_name": charger["id"],
        "desired_count": 1 if active else 0, "status": "ACTIVE"}}


async def boots(stack: Stack, cp: str) -> list[Any]:
    return await rows(stack, "SELECT frame FROM messages WHERE charge_point_id = :cp AND "
                             "direction = 'in' AND message_type = 2 AND action = 'BootNotification'",
                      cp=cp)


async def at_least_boots(stack: Stack, cp: str, n: int) -> None:
    assert len(await boots(stack, cp)) >= n


async def connector(stack: Stack, cp: str, connector_id: int) -> dict[str, Any] | None:
    found = await rows(stack, "SELECT * FROM connectors WHERE charge_point_id = :cp AND "
                              "connector_id = :c", cp=cp, c=connector_id)
    return dict(found[0]) if found else None


async def until_status(stack: Stack, cp: str, connector_id: int, status: str,
                       error_code: str = "NoError") -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        row = await connector(stack, cp, connector_id)
        assert row is not None and (row["status"], row["error_code"]) == (status, error_code), row
        return row
    return await eventually(check)  # type: ignore[no-any-return]


async def transactions(stack: Stack, cp: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM transactions WHERE charge_point_id = :cp ORDER BY id", cp=cp)]


async def control(http: httpx.AsyncClient, identity: str, action: str, **args: Any) -> dict[str, Any]:
    return ok(await http.post(f"/ocpp/sim/{identity}/{action}", json=args))  # type: ignore[no-any-return]


async def started(http: httpx.AsyncClient, stack: Stack, identity: str, **extra: Any) -> dict[str, Any]:
    """Create a charger, start it and wait until its station is booted at the CSMS."""
    charger = await create(http, stack, identity, **extra)
    ok(await http.post(f"{API}/{charger['id']}/start-charger"))
    await until_provisioning(http, charger["id"], "CONNECTED")
    return charger


