"""Simulated chargers' durable definitions and bulk operations over the runtime API.

Chargers are created over real HTTP, their stations run in real worker processes, connect to the
stack's own CSMS over real websockets, and what they do is checked in the CSMS's SQLite file."""

from __future__ import annotations

import asyncio

import httpx

from chargebay.stack import Stack
from tests.charger_sim.runtime_api.conftest import (
    API,
    BUDGET,
    at_least_boots,
    charger_body,
    create,
    error,
    eventually,
    ok,
    runtime_event,
    until_provisioning,
)
from tests.helpers import rows


# -- definitions --------------------------------------------------------------------------------
async def test_create_get_list_update_delete(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await create(http, stack, "CP-1")
        assert charger["id"] and charger["identity"] == "CP-1"
        assert {k: charger[k] for k in ("ocpp_version", "csms_url", "template", "overrides",
                                        "desired_state", "atg")} == {
            "ocpp_version": "OCPP1.6", "csms_url": stack.ws_url, "template": "ac-wallbox",
            "overrides": {}, "desired_state": "stopped", "atg": False}
        assert charger["created_at"].endswith("Z") and charger["updated_at"].endswith("Z")
        assert ok(await http.get(f"{API}/{charger['id']}")) == charger
        assert ok(await http.get("/ocpp/templates")) == {
            "templates": ["ac-wallbox", "dc-fast", "locker-bay"]}

        await create(http, stack, "CP-3", template="dc-fast")
        await create(http, stack, "CP-2", template="locker-bay", atg=True)
        page1 = ok(await http.get(API, params={"page": 1, "page_size": 2}))
        assert (page1["total"], page1["page"], page1["page_size"]) == (3, 1, 2)
        assert [c["identity"] for c in page1["items"]] == ["CP-1", "CP-2"]
        page2 = ok(await http.get(API, params={"page": 2, "page_size": 2}))
        assert [(c["identity"], c["template"]) for c in page2["items"]] == [("CP-3", "dc-fast")]

        updated = ok(await http.put(f"{API}/{charger['id']}", json={
            "template": "dc-fast", "overrides": {"meter_interval": 5}, "atg": True}))
        assert (updated["template"], updated["overrides"], updated["atg"]) == (
            "dc-fast", {"meter_interval": 5}, True)
        assert updated["csms_url"] == stack.ws_url and updated["desired_state"] == "stopped"
        assert ok(await http.get(f"{API}/{charger['id']}")) == updated
        error(await http.put(f"{API}/{charger['id']}", json={"template": "no-such-template"}),
              422, "InvalidTemplate")
        error(await http.put(f"{API}/{charger['id']}", json={"overrides": {"connectors": 99}}),
              422, "InvalidTemplate")
        assert ok(await http.get(f"{API}/{charger['id']}"))["template"] == "dc-fast"

        ok(await http.delete(f"{API}/{charger['id']}"), 204)
        error(await http.get(f"{API}/{charger['id']}"), 404, "ChargerNotFound")
        error(await http.delete(f"{API}/{charger['id']}"), 404, "ChargerNotFound")
        assert ok(await http.get(API))["total"] == 2


# -- bulk -----------------------------------------------------------------------------------------
async def test_bulk_create_start_stop_with_a_result_per_charger(
        stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        answer = ok(await http.post(f"{API}/bulk", json={"chargers": [
            charger_body(stack, "B-1"), charger_body(stack, "B-2", template="no-such-template"),
            charger_body(stack, "B-3", template="locker-bay"), charger_body(stack, "B-1")]}))
        results = answer["results"]
        assert [(r["identity"], r["ok"]) for r in results] == [
            ("B-1", True), ("B-2", False), ("B-3", True), ("B-1", False)]
        assert results[1]["code"] == "InvalidTemplate" and results[1]["message"]
        assert results[3]["code"] == "ChargerExists"
        assert results[2]["charger"]["template"] == "locker-bay"
        b1, b3 = results[0]["charger"], results[2]["charger"]
        assert ok(await http.get(API))["total"] == 2

        started_ = ok(await http.post(f"{API}/bulk/start-charger",
                                      json={"ids": [b1["id"], "no-such-id", b3["id"]]}))["results"]
        assert [r["ok"] for r in started_] == [True, False, True]
        assert started_[0] == {"ok": True, **runtime_event(b1, "start_charger")}
        assert started_[2] == {"ok": True, **runtime_event(b3, "start_charger")}
        assert (started_[1]["id"], started_[1]["code"]) == ("no-such-id", "ChargerNotFound")
        await until_provisioning(http, b1["id"], "CONNECTED")
        await until_provisioning(http, b3["id"], "CONNECTED")
        [cp] = await rows(stack, "SELECT model FROM charge_points WHERE id = 'B-3'")
        assert cp["model"] == "SIM-LOCKER-BAY"

        restarted = ok(await http.post(f"{API}/bulk/restart-charger", json={"ids": [b1["id"]]}))
        assert restarted["results"] == [{"ok": True, **runtime_event(b1, "restart_charger")}]
        await eventually(lambda: at_least_boots(stack, "B-1", 2))

        stopped = ok(await http.post(f"{API}/bulk/stop-charger",
                                     json={"ids": [b1["id"], b3["id"], "no-such-id"]}))["results"]
        assert [r["ok"] for r in stopped] == [True, True, False]
        assert stopped[0] == {"ok": True, **runtime_event(b1, "stop_charger")}
        await until_provisioning(http, b1["id"], "STOPPED")
        await until_provisioning(http, b3["id"], "STOPPED")
        error(await http.post(f"{API}/bulk/start-charger", json={"ids": []}), 422, "ValidationError")
        error(await http.post(f"{API}/bulk/explode-charger", json={"ids": [b1["id"]]}),
              422, "ValidationError")


