"""Running simulated chargers: start, stop, restart, provisioning, and their logs.

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
    boots,
    control,
    create,
    error,
    eventually,
    ok,
    provisioning,
    runtime_event,
    started,
    until_provisioning,
    until_status,
)
from tests.helpers import rows


# -- runtimes -----------------------------------------------------------------------------------
async def test_start_stop_restart_and_provisioning(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await create(http, stack, "CP-1")
        cid = charger["id"]
        state = await provisioning(http, cid)
        assert (state["id"], state["identity"], state["status"], state["desired_state"],
                state["runtime"]) == (cid, "CP-1", "PROVISIONED", "stopped", None)

        assert ok(await http.post(f"{API}/{cid}/start-charger")) == runtime_event(charger, "start_charger")
        assert ok(await http.get(f"{API}/{cid}"))["desired_state"] == "running"
        state = await until_provisioning(http, cid, "CONNECTED")
        runtime = state["runtime"]
        assert (runtime["identity"], runtime["template"], runtime["running"], runtime["booted"],
                runtime["registration"]) == ("CP-1", "ac-wallbox", True, True, "Accepted")
        assert runtime["url"] == f"{stack.ws_url}/CP-1"
        assert [c["connector_id"] for c in runtime["connectors"]] == [1, 2]
        [cp] = await rows(stack, "SELECT * FROM charge_points WHERE id = 'CP-1'")
        assert (cp["vendor"], cp["model"], cp["firmware_version"], cp["online"]) == (
            "Chargebay", "SIM-AC22", "2.4.1", True)
        # starting a running charger again is harmless: still one runtime, one connection
        assert ok(await http.post(f"{API}/{cid}/start-charger"))["event_type"] == "start_charger"
        await asyncio.sleep(0.3)
        assert len(await boots(stack, "CP-1")) == 1

        assert ok(await http.post(f"{API}/{cid}/stop-charger")) == runtime_event(charger, "stop_charger")
        state = await until_provisioning(http, cid, "STOPPED")
        assert state["desired_state"] == "stopped" and state["runtime"]["running"] is False

        async def offline() -> None:
            [row] = await rows(stack, "SELECT online FROM charge_points WHERE id = 'CP-1'")
            assert not row["online"]
        await eventually(offline)

        assert ok(await http.post(f"{API}/{cid}/restart-charger")) == runtime_event(
            charger, "restart_charger")
        await until_provisioning(http, cid, "CONNECTED")
        await eventually(lambda: at_least_boots(stack, "CP-1", 2))
        assert ok(await http.post(f"{API}/{cid}/restart-charger")) == runtime_event(
            charger, "restart_charger")
        await eventually(lambda: at_least_boots(stack, "CP-1", 3))
        await until_provisioning(http, cid, "CONNECTED")


async def test_update_of_a_running_charger_restarts_it_with_the_new_definition(
        stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await started(http, stack, "CP-UPD")
        updated = ok(await http.put(f"{API}/{charger['id']}", json={"template": "dc-fast"}))
        assert updated["template"] == "dc-fast" and updated["desired_state"] == "running"
        await eventually(lambda: at_least_boots(stack, "CP-UPD", 2))
        state = await until_provisioning(http, charger["id"], "CONNECTED")
        assert state["runtime"]["template"] == "dc-fast"
        assert [c["connector_id"] for c in state["runtime"]["connectors"]] == [1]
        [cp] = await rows(stack, "SELECT model FROM charge_points WHERE id = 'CP-UPD'")
        assert cp["model"] == "SIM-DC150"


async def test_delete_stops_the_runtime(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await started(http, stack, "CP-DEL")
        ok(await http.delete(f"{API}/{charger['id']}"), 204)

        async def offline() -> None:
            [row] = await rows(stack, "SELECT online FROM charge_points WHERE id = 'CP-DEL'")
            assert not row["online"]
        await eventually(offline)
        error(await http.post("/ocpp/sim/CP-DEL/plug", json={}), 409, "ChargerNotRunning")
        error(await http.get(f"{API}/{charger['id']}/provisioning"), 404, "ChargerNotFound")


async def test_logs_are_paginated_frames_and_events(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await started(http, stack, "CP-LOGS")
        url = f"{API}/{charger['id']}/logs"
        await until_status(stack, "CP-LOGS", 2, "Available")  # the boot traffic is over
        await asyncio.sleep(0.3)
        everything = ok(await http.get(url, params={"page_size": 1000}))
        assert everything["total"] == len(everything["items"]) >= 10
        items = everything["items"]
        assert {tuple(sorted(i)) for i in items} == {("kind", "text", "ts")}
        assert {i["kind"] for i in items} == {"in", "out", "event"}
        assert [i["ts"] for i in items] == sorted((i["ts"] for i in items), reverse=True)  # newest first
        texts = [i["text"] for i in items]
        assert any(i["kind"] == "out" and '"BootNotification"' in i["text"] for i in items)
        assert any(i["kind"] == "in" and '"status":"Accepted"' in i["text"] for i in items)
        assert "runtime_started" in texts and "booted" in texts and "connected" in texts

        page1 = ok(await http.get(url, params={"page": 1, "page_size": 4}))
        page2 = ok(await http.get(url, params={"page": 2, "page_size": 4}))
        assert (page1["page"], page1["page_size"], len(page1["items"])) == (1, 4, 4)
        assert page1["total"] == everything["total"]
        assert page1["items"] + page2["items"] == items[:8]
        assert ok(await http.get(url, params={"page": 1000, "page_size": 50}))["items"] == []
        # a control action shows up at the top
        await control(http, "CP-LOGS", "plug", connector_id=2)
        newest = ok(await http.get(url, params={"page_size": 5}))["items"]
        assert any(i["kind"] == "event" and i["text"].startswith("plugged") for i in newest)
        error(await http.get(f"{API}/no-such-id/logs"), 404, "ChargerNotFound")




async def test_a_201_charger_over_the_runtime_api(stack: Stack, http: httpx.AsyncClient) -> None:
    """``"ocpp_version": "OCPP2.0.1"``: the charger's station speaks 2.0.1 to the CSMS (a 2.0.1
    boot, its EVSEs), and its driver's actions work as for 1.6: a plug and a card start a session
    that the CSMS keeps as a 2.0.1 transaction."""
    async with asyncio.timeout(BUDGET):
        charger = await started(http, stack, "CP-201R", ocpp_version="OCPP2.0.1")
        assert charger["ocpp_version"] == "OCPP2.0.1"
        [cp] = await rows(stack, "SELECT ocpp_version, model FROM charge_points WHERE id = 'CP-201R'")
        assert (cp["ocpp_version"], cp["model"]) == ("2.0.1", "SIM-AC22")
        await control(http, "CP-201R", "start-transaction", connector_id=1, id_tag="TAG-R")

        async def running() -> list[dict[str, object]]:
            found = await rows(stack, "SELECT station_transaction_id, id_tag FROM transactions "
                                      "WHERE charge_point_id = 'CP-201R'")
            assert found, "no transaction yet"
            return found
        [tx] = await eventually(running)
        assert tx["id_tag"] == "TAG-R" and tx["station_transaction_id"]
