"""What the stop/start-a-charge tests (seed 002) share: a client, an integrator key, error checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, bearer, make_token

STOP_PATHS = ["/integration/charges/stop", "/latest/integration/charges/stop"]
START_PATHS = ["/integration/charges/start", "/latest/integration/charges/start"]


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


@pytest.fixture
async def key(client: httpx.AsyncClient) -> dict[str, str]:
    """An integration API key (an ordinary token with role integrator) as a Bearer header."""
    return bearer(await make_token(client, "integrator", name="billing"))


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["code"] == code, body
    if "/integration/charges/" in r.request.url.path:
        # the vendor's table shows the error's name under "Message": a client reading either finds
        # it, and the sentence is in description
        assert body["message"] == code, body
        assert isinstance(body["description"], str) and body["description"], body
    else:
        assert isinstance(body["message"], str) and body["message"]


async def transaction(client: httpx.AsyncClient, tx: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/transactions/{tx}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def set_integration(client: httpx.AsyncClient, enabled: bool = True,
                          allowed_ips: list[str] | None = None) -> dict[str, Any]:
    r = await client.put("/api/v1/integration", json={"enabled": enabled, "allowed_ips": allowed_ips or []},
                         headers=ADMIN)
    assert r.status_code == 200, r.text
    return dict(r.json())


