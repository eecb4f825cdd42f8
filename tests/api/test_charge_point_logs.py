"""A charge point's status history and OCPP message log over REST.

Charge points talk OCPP over real websockets (the `ocpp` library); the API is called over real
HTTP; everything lands in a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.resources import (
    ADMIN,
    BOOT,
    BUDGET,
    CP_API,
    error,
    eventually,
    iso_z,
    ok,
)
from tests.ocpp_client import connect


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as client:
        yield client


async def test_status_history_newest_first(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        async with connect(stack.ws_url, "CP-H") as cp:
            await cp.call(BOOT)
            for status in ("Available", "Preparing", "Charging"):
                await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
            await cp.call(call.StatusNotification(connector_id=2, error_code="OtherError", status="Faulted",
                                                  info="door", timestamp="2026-03-01T10:00:00Z"))
        url = f"{CP_API}/CP-H/status-history"

        async def complete() -> dict[str, Any]:
            page = ok(await http.get(url))
            assert page["total"] == 4
            return page  # type: ignore[no-any-return]

        page = await eventually(complete)
        assert [(h["connector_id"], h["status"]) for h in page["items"]] == [
            (2, "Faulted"), (1, "Charging"), (1, "Preparing"), (1, "Available")]
        first = page["items"][0]
        assert (first["error_code"], first["info"], first["timestamp"]) == (
            "OtherError", "door", "2026-03-01T10:00:00Z")
        assert first["received_at"].endswith("Z") and first["charge_point_id"] == "CP-H"
        received = [h["received_at"] for h in page["items"]]
        assert received == sorted(received, reverse=True)

        one = ok(await http.get(url, params={"connector_id": 1}))
        assert ([h["status"] for h in one["items"]], one["total"]) == (["Charging", "Preparing", "Available"], 3)
        assert ok(await http.get(url, params={"connector_id": 7}))["total"] == 0
        p2 = ok(await http.get(url, params={"connector_id": 1, "page": 2, "page_size": 2}))
        assert ([h["status"] for h in p2["items"]], p2["total"], p2["page"]) == (["Available"], 3, 2)
        error(await http.get(f"{CP_API}/NOPE/status-history"), 404, "ChargePointNotFound")
        error(await http.get(url, params={"connector_id": "one"}), 422, "ValidationError")


async def test_message_log_filters_and_pages(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        async with connect(stack.ws_url, "CP-M") as cp:
            await cp.call(BOOT)
            await asyncio.sleep(0.01)
            between = datetime.now(UTC)
            await asyncio.sleep(0.01)
            await cp.call(call.Heartbeat())
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        async with connect(stack.ws_url, "CP-OTHER") as other:
            await other.call(call.Heartbeat())
        url = f"{CP_API}/CP-M/messages"

        log = ok(await http.get(url))
        assert log["total"] == 6
        assert [(m["action"], m["direction"], m["message_type"]) for m in log["items"]] == [
            ("StatusNotification", "out", 3), ("StatusNotification", "in", 2),
            ("Heartbeat", "out", 3), ("Heartbeat", "in", 2),
            ("BootNotification", "out", 3), ("BootNotification", "in", 2)]
        assert [m["id"] for m in log["items"]] == sorted((m["id"] for m in log["items"]), reverse=True)
        hb_in = log["items"][3]
        assert hb_in["frame"].startswith("[2,") and '"Heartbeat"' in hb_in["frame"]
        assert hb_in["message_id"] == log["items"][2]["message_id"]  # call and its result
        assert hb_in["ts"].endswith("Z") and hb_in["charge_point_id"] == "CP-M"

        hb = ok(await http.get(url, params={"action": "Heartbeat"}))
        assert [(m["action"], m["direction"]) for m in hb["items"]] == [("Heartbeat", "out"), ("Heartbeat", "in")]
        assert all(m["charge_point_id"] == "CP-M" for m in hb["items"])
        incoming = ok(await http.get(url, params={"direction": "in"}))
        assert incoming["total"] == 3 and {m["message_type"] for m in incoming["items"]} == {2}
        out = ok(await http.get(url, params={"direction": "out", "action": "BootNotification"}))
        assert out["total"] == 1 and '"Accepted"' in out["items"][0]["frame"]

        after = ok(await http.get(url, params={"since": iso_z(between)}))
        assert [m["action"] for m in after["items"]] == ["StatusNotification"] * 2 + ["Heartbeat"] * 2
        before = ok(await http.get(url, params={"until": iso_z(between)}))
        assert [m["action"] for m in before["items"]] == ["BootNotification"] * 2
        # Offsets other than Z are understood.
        plus2 = between.astimezone(timezone(timedelta(hours=2))).isoformat()
        assert ok(await http.get(url, params={"until": plus2}))["total"] == 2
        window = ok(await http.get(url, params={"since": iso_z(between - timedelta(hours=1)),
                                                "until": iso_z(between), "direction": "in"}))
        assert [(m["action"], m["direction"]) for m in window["items"]] == [("BootNotification", "in")]
        assert ok(await http.get(url, params={"since": iso_z(between + timedelta(hours=1))}))["total"] == 0

        p = ok(await http.get(url, params={"page": 2, "page_size": 4}))
        assert (p["total"], p["page"], p["page_size"], len(p["items"])) == (6, 2, 4, 2)
        assert [m["id"] for m in p["items"]] == [m["id"] for m in log["items"][4:]]

        error(await http.get(url, params={"direction": "sideways"}), 422, "ValidationError")
        error(await http.get(url, params={"since": "yesterday"}), 422, "ValidationError")
