"""The id tag resource, and its changes applied to Authorize.

Charge points talk OCPP over real websockets (the `ocpp` library); the API is called over real
HTTP; everything lands in a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.resources import (
    ADMIN,
    BOOT,
    BUDGET,
    TAG_API,
    error,
    fields_of,
    ids,
    iso_z,
    ok,
)
from tests.ocpp_client import connect


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as client:
        yield client


# -- id tags ----------------------------------------------------------------------------------
async def test_id_tag_crud(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        body = {"id_tag": "TAG-1", "status": "Accepted", "expiry_date": None, "parent_id_tag": None}
        created = ok(await http.post(TAG_API, json=body), 201)
        assert {k: created[k] for k in body} == body
        assert created["max_concurrent_tx"] is None and created["created_at"].endswith("Z")
        assert ok(await http.get(f"{TAG_API}/TAG-1")) == created
        error(await http.post(TAG_API, json=body), 409, "IdTagExists")
        error(await http.post(TAG_API, json={"id_tag": "TAG-1", "status": "Blocked"}), 409, "IdTagExists")
        assert ok(await http.get(f"{TAG_API}/TAG-1"))["status"] == "Accepted"

        minimal = ok(await http.post(TAG_API, json={"id_tag": "TAG-2"}), 201)
        assert (minimal["id_tag"], minimal["status"], minimal["expiry_date"], minimal["parent_id_tag"],
                minimal["max_concurrent_tx"]) == ("TAG-2", "Accepted", None, None, None)

        full = ok(await http.post(TAG_API, json={
            "id_tag": "TAG-3", "status": "Blocked", "expiry_date": "2030-01-01T00:00:00+02:00",
            "parent_id_tag": "FLEET", "max_concurrent_tx": 3}), 201)
        assert (full["status"], full["expiry_date"], full["parent_id_tag"], full["max_concurrent_tx"]) == (
            "Blocked", "2029-12-31T22:00:00Z", "FLEET", 3)

        patched = ok(await http.patch(f"{TAG_API}/TAG-3", json={"status": "Accepted", "parent_id_tag": None}))
        assert (patched["status"], patched["parent_id_tag"], patched["expiry_date"], patched["max_concurrent_tx"]) == (
            "Accepted", None, "2029-12-31T22:00:00Z", 3)
        patched = ok(await http.patch(f"{TAG_API}/TAG-3", json={"expiry_date": None}))
        assert patched["expiry_date"] is None and patched["status"] == "Accepted"
        assert ok(await http.patch(f"{TAG_API}/TAG-3", json={})) == patched

        r = await http.delete(f"{TAG_API}/TAG-2")
        assert r.status_code == 204 and r.content == b""
        error(await http.get(f"{TAG_API}/TAG-2"), 404, "IdTagNotFound")
        error(await http.delete(f"{TAG_API}/TAG-2"), 404, "IdTagNotFound")
        error(await http.patch(f"{TAG_API}/TAG-2", json={"status": "Blocked"}), 404, "IdTagNotFound")
        error(await http.patch(f"{TAG_API}/TAG-2", json={}), 404, "IdTagNotFound")
        error(await http.get(f"{TAG_API}/NEVER"), 404, "IdTagNotFound")
        assert ids(ok(await http.get(TAG_API)), "id_tag") == ["TAG-1", "TAG-3"]


@pytest.mark.parametrize("body, fields", [
    ({"id_tag": "T" * 21}, {"body.id_tag"}),
    ({"id_tag": ""}, {"body.id_tag"}),
    ({"status": "Accepted"}, {"body.id_tag"}),
    ({"id_tag": "T", "status": "Fine"}, {"body.status"}),
    ({"id_tag": "T", "expiry_date": "soon"}, {"body.expiry_date"}),
    ({"id_tag": "T", "parent_id_tag": "P" * 21}, {"body.parent_id_tag"}),
    ({"id_tag": "T", "max_concurrent_tx": 0}, {"body.max_concurrent_tx"}),
])
async def test_id_tag_validation(stack: Stack, http: httpx.AsyncClient, body: dict[str, Any],
                                 fields: set[str]) -> None:
    async with asyncio.timeout(BUDGET):
        assert fields_of(error(await http.post(TAG_API, json=body), 422, "ValidationError")) == fields
        assert ok(await http.get(TAG_API))["total"] == 0


async def test_id_tag_changes_drive_authorize(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        ok(await http.post(TAG_API, json={"id_tag": "CARD"}), 201)
        async with connect(stack.ws_url, "CP-AUTH") as cp:
            await cp.call(BOOT)

            async def authorize() -> dict[str, Any]:
                return (await cp.call(call.Authorize(id_tag="CARD"))).id_tag_info  # type: ignore[no-any-return]

            assert (await authorize())["status"] == "Accepted"
            ok(await http.patch(f"{TAG_API}/CARD", json={"status": "Blocked"}))
            assert (await authorize())["status"] == "Blocked"
            ok(await http.patch(f"{TAG_API}/CARD", json={"status": "Accepted"}))
            assert (await authorize())["status"] == "Accepted"

            past = datetime.now(UTC) - timedelta(days=1)
            data = ok(await http.patch(f"{TAG_API}/CARD", json={"expiry_date": iso_z(past)}))
            assert data["status"] == "Accepted"  # the stored status; the expiry decides at Authorize
            info = await authorize()
            assert info["status"] == "Expired" and info["expiry_date"].endswith("Z")

            future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
            ok(await http.patch(f"{TAG_API}/CARD", json={"expiry_date": iso_z(future),
                                                          "parent_id_tag": "FLEET"}))
            info = await authorize()
            assert info["status"] == "Accepted" and info["parent_id_tag"] == "FLEET"
            assert info["expiry_date"] == iso_z(future)

            ok(await http.patch(f"{TAG_API}/CARD", json={"status": "Invalid"}))
            assert (await authorize())["status"] == "Invalid"
            assert (await http.delete(f"{TAG_API}/CARD")).status_code == 204
            assert (await authorize())["status"] == "Invalid"

            ok(await http.post(TAG_API, json={"id_tag": "CARD", "status": "Blocked"}), 201)
            assert (await authorize())["status"] == "Blocked"


async def test_id_tag_filters_and_pages(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        for tag, status, parent in [("C-3", "Accepted", "FLEET-A"), ("A-1", "Blocked", None),
                                    ("B-2", "Accepted", None), ("D-4", "Expired", "fleet-b"),
                                    ("E-5", "Blocked", "FLEET-A")]:
            ok(await http.post(TAG_API, json={"id_tag": tag, "status": status, "parent_id_tag": parent}), 201)

        async def listed(**params: Any) -> list[str]:
            return ids(ok(await http.get(TAG_API, params=params)), "id_tag")

        assert await listed() == ["A-1", "B-2", "C-3", "D-4", "E-5"]
        assert await listed(status="Blocked") == ["A-1", "E-5"]
        assert await listed(status="Invalid") == []
        assert await listed(q="b-2") == ["B-2"]
        assert await listed(q="fleet") == ["C-3", "D-4", "E-5"]   # parent, case-insensitive
        assert await listed(q="fleet-a", status="Blocked") == ["E-5"]
        page = ok(await http.get(TAG_API, params={"page": 2, "page_size": 2}))
        assert (ids(page, "id_tag"), page["total"], page["page"], page["page_size"]) == (["C-3", "D-4"], 5, 2, 2)
        page = ok(await http.get(TAG_API, params={"q": "fleet", "page": 2, "page_size": 2}))
        assert (ids(page, "id_tag"), page["total"]) == (["E-5"], 3)
        error(await http.get(TAG_API, params={"status": "Fine"}), 422, "ValidationError")
