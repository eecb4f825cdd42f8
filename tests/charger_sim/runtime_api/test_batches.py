"""Simulated chargers by the batch (issue #21): N from a template in one request, the list with
every charger's runtime in one request (filtered by identity, status and connector status, paged),
and the generator switched without a restart.

Real HTTP, real worker processes, real websockets to the stack's own CSMS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chargebay.stack import Stack
from tests.charger_sim.runtime_api.conftest import (
    API,
    BUDGET,
    FAST,
    boots,
    control,
    create,
    error,
    eventually,
    ok,
    started,
    until_status,
)

BATCH = f"{API}/from-template"


async def listed(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    return ok(await http.get(API, params={"runtime": "true", **params}))  # type: ignore[no-any-return]


async def test_from_template_makes_all_or_none(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        made = ok(await http.post(BATCH, json={"template": "dc-fast", "prefix": "QA-", "count": 3,
                                               "atg": True, "ocpp_version": "OCPP2.0.1"}), 201)
        assert made["started"] is False
        assert [c["identity"] for c in made["items"]] == ["QA-001", "QA-002", "QA-003"]
        assert {(c["template"], c["atg"], c["ocpp_version"], c["desired_state"], c["csms_url"])
                for c in made["items"]} == {("dc-fast", True, "OCPP2.0.1", "stopped", None)}
        assert ok(await http.get(f"{API}/{made['items'][1]['id']}")) == made["items"][1]

        # QA-003 is taken: nothing of this batch is made, and the answer names what is taken
        body = error(await http.post(BATCH, json={"prefix": "QA-", "count": 3, "first": 2}), 409, "ChargerExists")
        assert "'QA-002', 'QA-003'" in body["message"]
        assert ok(await http.get(API))["total"] == 3
        wide = ok(await http.post(BATCH, json={"prefix": "B", "count": 2, "first": 9, "digits": 1}), 201)
        assert [c["identity"] for c in wide["items"]] == ["B9", "B10"]

        error(await http.post(BATCH, json={"prefix": "X-", "count": 2, "template": "nope"}), 422, "InvalidTemplate")
        error(await http.post(BATCH, json={"prefix": "X-", "count": 2, "overrides": {"connectors": 99}}),
              422, "InvalidTemplate")
        error(await http.post(BATCH, json={"prefix": "X-", "count": 2, "csms_url": "ws://10.0.0.1/ocpp"}),
              422, "AddressNotAllowed")
        for wrong in ({"prefix": "X-", "count": 0}, {"prefix": "X -", "count": 2},
                      {"prefix": "X-", "count": 10_001}, {"count": 2}):
            error(await http.post(BATCH, json=wrong), 422, "ValidationError")
        assert ok(await http.get(API))["total"] == 5


async def test_started_batch_is_listed_with_its_runtime_in_one_request(
        stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        made = ok(await http.post(BATCH, json={"prefix": "NET-", "count": 4, "start": True,
                                               "overrides": FAST}), 201)
        assert made["started"] is True and {c["desired_state"] for c in made["items"]} == {"running"}
        await create(http, stack, "IDLE-1")  # never started: no runtime

        async def all_up() -> dict[str, Any]:
            found = await listed(http, q="net-")  # any case
            assert [(c["identity"], c["status"]) for c in found["items"]] == [
                (f"NET-00{n}", "CONNECTED") for n in range(1, 5)], found
            return found
        page = await eventually(all_up, timeout=20)
        first = page["items"][0]
        assert first["runtime"]["running"] is True and first["runtime"]["atg"] is False
        assert [(c["connector_id"], c["status"], c["plugged"]) for c in first["runtime"]["connectors"]] == [
            (1, "Available", False), (2, "Available", False)]
        idle = (await listed(http, q="IDLE"))["items"][0]
        assert (idle["status"], idle["runtime"]) == ("PROVISIONED", None)
        plain = ok(await http.get(API, params={"q": "NET-00"}))  # without runtime: as before, plus nulls
        assert plain["total"] == 4 and {(c["status"], c["runtime"]) for c in plain["items"]} == {(None, None)}

        await control(http, "NET-003", "plug", connector_id=2)
        await until_status(stack, "NET-003", 2, "Preparing")
        preparing = await listed(http, connector_status="Preparing")
        assert [c["identity"] for c in preparing["items"]] == ["NET-003"] and preparing["total"] == 1
        assert preparing["items"][0]["runtime"]["connectors"][1]["plugged"] is True

        ok(await http.post(f"{API}/{made['items'][0]['id']}/stop-charger"))
        assert [c["identity"] for c in (await listed(http, status="STOPPED"))["items"]] == ["NET-001"]
        assert (await listed(http, status="STOPPED", connector_status="Available"))["total"] == 0
        second = await listed(http, status="CONNECTED", page=2, page_size=2)
        assert (second["total"], [c["identity"] for c in second["items"]]) == (3, ["NET-004"])
        assert (await listed(http, q="NOBODY"))["total"] == 0
        error(await http.get(API, params={"status": "ASLEEP"}), 422, "ValidationError")


async def test_atg_switches_without_a_restart(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        running = await started(http, stack, "GEN-1")
        resting = await create(http, stack, "GEN-2")
        answer = ok(await http.post(f"{API}/atg", json={
            "ids": [running["id"], resting["id"], "no-such-id", running["id"]], "enabled": True}))
        assert answer["results"] == [
            {"id": running["id"], "ok": True, "atg": True, "applied": True},
            {"id": resting["id"], "ok": True, "atg": True, "applied": False},
            {"id": "no-such-id", "ok": False, "code": "ChargerNotFound", "message": "no charger 'no-such-id'"}]
        assert ok(await http.get(f"{API}/{running['id']}"))["atg"] is True
        assert ok(await http.get(f"{API}/{resting['id']}"))["atg"] is True
        assert (await listed(http, q="GEN-1"))["items"][0]["runtime"]["atg"] is True
        ok(await http.post(f"{API}/atg", json={"ids": [running["id"]], "enabled": False}))
        assert (await listed(http, q="GEN-1"))["items"][0]["runtime"]["atg"] is False
        assert len(await boots(stack, "GEN-1")) == 1  # never restarted

        ok(await http.post(f"{API}/{resting['id']}/start-charger"))  # starts with what was kept

        async def generating() -> None:
            item = (await listed(http, q="GEN-2"))["items"][0]
            assert item["status"] == "CONNECTED" and item["runtime"]["atg"] is True, item
        await eventually(generating, timeout=15)
