"""Inputs beyond the database's or the calendar's range are a client's error (422), never a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.resources import (
    ADMIN,
    BUDGET,
    CP_API,
    TAG_API,
    ok,
)


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as client:
        yield client


# -- inputs out of the database's or the calendar's range -------------------------------------
HUGE = 10**20  # beyond SQLite's (and PostgreSQL's) 64-bit integers
OUT_OF_RANGE = [
    pytest.param("GET", "/api/v1/charge-points", {"params": {"page": HUGE}}, id="charge-points-page"),
    pytest.param("GET", "/api/v1/charge-points", {"params": {"page": 2**62}}, id="charge-points-offset"),
    pytest.param("GET", "/api/v1/id-tags", {"params": {"page": HUGE}}, id="id-tags-page"),
    pytest.param("GET", "/api/v1/transactions", {"params": {"page": HUGE}}, id="transactions-page"),
    pytest.param("GET", "/api/v1/tokens", {"params": {"page": HUGE}}, id="tokens-page"),
    pytest.param("GET", "/api/v1/commands", {"params": {"page": HUGE}}, id="commands-page"),
    pytest.param("GET", "/api/v1/charge-points/CP-X/messages", {"params": {"page": HUGE}}, id="messages-page"),
    pytest.param("GET", "/api/v1/charge-points/CP-X/status-history", {"params": {"connector_id": HUGE}},
                 id="status-history-connector"),
    pytest.param("GET", f"/api/v1/transactions/{HUGE}", {}, id="transaction-id"),
    pytest.param("DELETE", f"/api/v1/tokens/{HUGE}", {}, id="token-id"),
    pytest.param("GET", "/api/v1/transactions", {"params": {"since": "0001-01-01T00:00:00+05:00"}},
                 id="transactions-since"),
    pytest.param("GET", "/api/v1/transactions", {"params": {"until": "9999-12-31T23:59:59-05:00"}},
                 id="transactions-until"),
    pytest.param("GET", "/api/v1/transactions/export.csv", {"params": {"since": "0001-01-01T00:00:00+05:00"}},
                 id="export-since"),
    pytest.param("GET", "/api/v1/charge-points/CP-X/messages", {"params": {"since": "0001-01-01T00:00:00+05:00"}},
                 id="messages-since"),
    pytest.param("GET", "/api/v1/charge-points/CP-X/messages", {"params": {"until": "9999-12-31T23:59:59-05:00"}},
                 id="messages-until"),
    pytest.param("POST", "/api/v1/id-tags", {"json": {"id_tag": "NEW", "expiry_date": "0001-01-01T00:00:00+05:00"}},
                 id="id-tag-create-expiry"),
    pytest.param("PATCH", "/api/v1/id-tags/TAG-X", {"json": {"expiry_date": "9999-12-31T23:59:59-05:00"}},
                 id="id-tag-patch-expiry"),
    pytest.param("POST", "/api/v1/id-tags", {"json": {"id_tag": "NEW", "max_concurrent_tx": HUGE}},
                 id="id-tag-create-max-tx"),
    pytest.param("PATCH", "/api/v1/id-tags/TAG-X", {"json": {"max_concurrent_tx": HUGE}}, id="id-tag-patch-max-tx"),
    pytest.param("POST", "/integration/charges/stop",
                 {"json": {"chargebox": "CP-X", "connector": HUGE, "id_tag": "TAG-X"}},
                 id="integration-stop-connector"),
]


@pytest.mark.parametrize("method, path, kwargs", OUT_OF_RANGE)
async def test_out_of_range_input_is_a_client_error_not_a_crash(
        stack: Stack, http: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any]) -> None:
    """Too large integers and dates whose UTC value leaves the calendar are answered 2xx/4xx."""
    async with asyncio.timeout(BUDGET):
        ok(await http.post(CP_API, json={"id": "CP-X"}), 201)
        ok(await http.post(TAG_API, json={"id_tag": "TAG-X"}), 201)
        r = await http.request(method, path, **kwargs)
        assert r.status_code < 500, (r.status_code, r.text[:200])
        if r.status_code >= 400:
            body = r.json()
            assert isinstance(body["code"], str) and isinstance(body["message"], str), body
        # Nothing half-written: the id tag is as it was.
        tag = ok(await http.get(f"{TAG_API}/TAG-X"))
        if r.status_code >= 400:
            assert (tag["expiry_date"], tag["max_concurrent_tx"]) == (None, None)
