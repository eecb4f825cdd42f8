"""Helpers of the REST resource tests (charge points, id tags, transactions): an admin client,
answers checked for their status and error code, and time-tolerant polling."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ADMIN_TOKEN

BUDGET = 20.0  # hard bound on one test body
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CP_API = "/api/v1/charge-points"
TAG_API = "/api/v1/id-tags"
TX_API = "/api/v1/transactions"
BOOT = call.BootNotification(
    charge_point_vendor="Acme", charge_point_model="Wall-22", charge_point_serial_number="S-1",
    charge_box_serial_number="B-1", firmware_version="1.2.3", iccid="8931", imsi="2620",
    meter_type="DZG", meter_serial_number="M-9")
T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    """Retry ``check`` until it stops raising AssertionError (writes are group-committed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.method, str(response.request.url),
                                            response.status_code, response.text)
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, str(response.request.url),
                                            response.status_code, response.text)
    body = response.json()
    assert body["code"] == code and isinstance(body["message"], str), body
    return body  # type: ignore[no-any-return]


def fields_of(body: dict[str, Any]) -> set[str]:
    return {f["field"] for f in body["fields"]}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def refused_status(url: str, **kwargs: Any) -> int:
    """Connect and expect the websocket upgrade to be refused; return the HTTP status."""
    with pytest.raises(InvalidStatus) as info:
        async with asyncio.timeout(5):
            async with ws_connect(url, subprotocols=["ocpp1.6"], open_timeout=5,  # type: ignore[list-item]
                                  close_timeout=1, **kwargs):
                pass
    return info.value.response.status_code


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ids(page: dict[str, Any], key: str = "id") -> list[Any]:
    return [item[key] for item in page["items"]]
