"""The simulator's runtime REST API with the real worker-process provider.

Chargers are created over real HTTP, their stations run in real worker processes, connect to the
stack's own CSMS over real websockets, and what they do is checked in the CSMS's SQLite file.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack, running
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import free_port, rows

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
    active = event != "stop_charger"
    return {"id": charger["id"], "event_type": event, "ocpp_version": "OCPP1.6", "payload": {
        "provider": "local", "runtime_kind": "process", "service_name": charger["identity"],
        "desired_count": 1 if active else 0, "status": "ACTIVE" if active else "INACTIVE"}}


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


# -- control by identity ----------------------------------------------------------------------------
async def test_control_actions_reach_the_csms(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CTL"
        await started(http, stack, cp, overrides=FAST)
        answer = await control(http, cp, "plug", connector_id=1)
        assert answer["result"] is None and answer["station"]["connectors"][0]["plugged"] is True
        await until_status(stack, cp, 1, "Preparing")

        answer = await control(http, cp, "start-transaction", connector_id=1, id_tag="TAG-CTL")
        assert answer["result"] == {"status": "Accepted"}
        tx_id = answer["station"]["connectors"][0]["transaction_id"]
        [tx] = await transactions(stack, cp)
        assert (tx["id"], tx["id_tag"], tx["connector_id"]) == (tx_id, "TAG-CTL", 1)
        await until_status(stack, cp, 1, "Charging")
        await asyncio.sleep(1.2)

        answer = await control(http, cp, "stop-transaction", connector_id=1)
        assert answer["result"] == {"stopped": True}
        assert (await control(http, cp, "stop-transaction", connector_id=1))["result"] == {"stopped": False}
        [tx] = await transactions(stack, cp)
        assert tx["stop_reason"] == "Local" and tx["meter_stop"] >= tx["meter_start"]

        await control(http, cp, "fault-connector", connector_id=2, error_code="GroundFailure",
                      info="leak")
        row = await until_status(stack, cp, 2, "Faulted", "GroundFailure")
        assert row["info"] == "leak"
        await control(http, cp, "clear-fault", connector_id=2)
        await until_status(stack, cp, 2, "Available")

        answer = await control(http, cp, "start-transaction", connector_id=2, id_tag="TAG-PL")
        assert answer["result"] == {"status": "Accepted"}
        answer = await control(http, cp, "power-loss", outage_seconds=1)
        assert answer["station"]["connected"] is False and answer["station"]["queued"] >= 1

        async def power_lost() -> None:
            found = await transactions(stack, cp)
            assert [(t["id_tag"], t["stop_reason"]) for t in found] == [
                ("TAG-CTL", "Local"), ("TAG-PL", "PowerLoss")]
        await eventually(power_lost)
        assert len(await boots(stack, cp)) == 2  # reported after the reboot
        await until_provisioning(http, (await _by_identity(http, cp))["id"], "CONNECTED")

        await control(http, cp, "atg", enabled=True)
        assert (await _runtime(http, cp))["atg"] is True
        await control(http, cp, "atg", enabled=False)
        assert (await _runtime(http, cp))["atg"] is False

        error(await http.post(f"/ocpp/sim/{cp}/self-destruct", json={}), 404, "UnknownAction")
        error(await http.post("/ocpp/sim/NOBODY/plug", json={}), 409, "ChargerNotRunning")
        error(await http.post(f"/ocpp/sim/{cp}/plug", json={"connector_id": 9}), 409, "ActionFailed")


async def _by_identity(http: httpx.AsyncClient, identity: str) -> dict[str, Any]:
    items = ok(await http.get(API, params={"page_size": 1000}))["items"]
    return next(c for c in items if c["identity"] == identity)  # type: ignore[no-any-return]


async def _runtime(http: httpx.AsyncClient, identity: str) -> dict[str, Any]:
    return (await provisioning(http, (await _by_identity(http, identity))["id"]))["runtime"]  # type: ignore[no-any-return]


def _atg_first_start(identity: str) -> float | None:
    """When the ATG's first driver of an ac-wallbox station named ``identity`` starts charging.

    Mirrors how the station's seeded RNG is drawn: one meter reading per connector, then each
    connector's driver draws its idle time, the first to wake draws whether it charges at all,
    the car's initial SoC and the plug-in delay (AtgSettings defaults).
    """
    rng = random.Random(identity)
    rng.randint(0, 50_000), rng.randint(0, 50_000)
    idle = min(rng.uniform(5, 60), rng.uniform(5, 60))
    if rng.random() >= 0.8:
        return None
    rng.uniform(20, 60)
    return idle + rng.uniform(1, 5)


async def test_atg_control_drives_transactions(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        # pick a station whose first simulated driver comes soon (the defaults draw 5-60 s idle)
        cp, due = min(((f"ATG-{n}", _atg_first_start(f"ATG-{n}")) for n in range(3000)),
                      key=lambda pair: pair[1] if pair[1] is not None else 1e9)
        assert due is not None and due < 8
        await started(http, stack, cp)
        await control(http, cp, "atg", enabled=True)

        async def charging() -> dict[str, Any]:
            found = await transactions(stack, cp)
            assert len(found) == 1
            return found[0]
        tx = await eventually(charging, timeout=due + 8)
        assert tx["id_tag"] in ("SIM-TAG-1", "SIM-TAG-2", "SIM-TAG-3") and tx["stop_timestamp"] is None
        await control(http, cp, "atg", enabled=False)
        assert (await _runtime(http, cp))["atg"] is False


# -- errors ---------------------------------------------------------------------------------------
async def test_errors(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        charger = await create(http, stack, "CP-ERR")
        cid = charger["id"]
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as anonymous:
            error(await anonymous.get(API), 401, "Unauthorized")
            error(await anonymous.post(API, json=charger_body(stack, "CP-X")), 401, "Unauthorized")
            error(await anonymous.post(f"{API}/{cid}/start-charger"), 401, "Unauthorized")
            error(await anonymous.get(API, headers={"Authorization": "Bearer wrong"}),
                  401, "Unauthorized")

        viewer = ok(await http.post("/api/v1/tokens", json={"name": "qa-viewer", "role": "viewer"}), 201)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30, headers={
                "Authorization": f"Bearer {viewer['token']}"}) as view:
            assert ok(await view.get(API))["total"] == 1
            assert ok(await view.get(f"{API}/{cid}"))["identity"] == "CP-ERR"
            assert ok(await view.get(f"{API}/{cid}/provisioning"))["status"] == "PROVISIONED"
            assert ok(await view.get(f"{API}/{cid}/logs"))["items"] == []
            error(await view.post(API, json=charger_body(stack, "CP-X")), 403, "Forbidden")
            error(await view.put(f"{API}/{cid}", json={"atg": True}), 403, "Forbidden")
            error(await view.delete(f"{API}/{cid}"), 403, "Forbidden")
            for op in ("start-charger", "stop-charger", "restart-charger"):
                error(await view.post(f"{API}/{cid}/{op}"), 403, "Forbidden")
            error(await view.post(f"{API}/bulk", json={"chargers": [charger_body(stack, "CP-X")]}),
                  403, "Forbidden")
            error(await view.post(f"{API}/bulk/start-charger", json={"ids": [cid]}), 403, "Forbidden")
            error(await view.post("/ocpp/sim/CP-ERR/plug", json={}), 403, "Forbidden")
        operator = ok(await http.post("/api/v1/tokens", json={"name": "qa-op", "role": "operator"}), 201)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30, headers={
                "Authorization": f"Bearer {operator['token']}"}) as op_client:
            ok(await op_client.post(API, json=charger_body(stack, "CP-OP")), 201)
        assert ok(await http.get(API))["total"] == 2  # nothing else was created

        for method, path in (("GET", f"{API}/nope"), ("PUT", f"{API}/nope"), ("DELETE", f"{API}/nope"),
                             ("GET", f"{API}/nope/provisioning"), ("GET", f"{API}/nope/logs"),
                             ("POST", f"{API}/nope/start-charger"), ("POST", f"{API}/nope/stop-charger"),
                             ("POST", f"{API}/nope/restart-charger")):
            body = {} if method == "PUT" else None
            error(await http.request(method, path, json=body), 404, "ChargerNotFound")

        error(await http.post(API, json=charger_body(stack, "CP-ERR")), 409, "ChargerExists")
        bad = error(await http.post(API, json=charger_body(stack, "CP-T", template="warp-drive")),
                    422, "InvalidTemplate")
        assert "warp-drive" in bad["message"]
        error(await http.post(API, json=charger_body(stack, "CP-T", overrides={"phases": 7})),
              422, "InvalidTemplate")
        for body in ({"template": "ac-wallbox"},  # no identity
                     charger_body(stack, "CP-V", ocpp_version="OCPP2.0.1"),
                     charger_body(stack, "has space"),
                     charger_body(stack, "x" * 49),
                     charger_body(stack, "CP-V", atg="sometimes")):
            found = error(await http.post(API, json=body), 422, "ValidationError")
            assert found["fields"]
        error(await http.post(API, content=b"not json", headers={"Content-Type": "application/json"}),
              422, "ValidationError")
        assert ok(await http.get(API))["total"] == 2


# -- durable desired state ------------------------------------------------------------------------
async def test_desired_state_survives_a_stack_restart(db_url: str, tmp_path: Path) -> None:
    async with asyncio.timeout(BUDGET + 30):
        port = free_port()  # the chargers' csms_url names it: the next stack listens there too

        def settings() -> Any:
            return make_settings(db_url, ws_port=port, sim_workers=1, accept_unknown_id_tags=True,
                                 sim_state_dir=str(tmp_path / "sim"))

        async with running(settings(), migrate=False) as first:
            async with httpx.AsyncClient(base_url=first.http_url, headers=ADMIN, timeout=30) as http:
                running_one = await started(http, first, "KEEP-RUNNING")
                stopped_one = await started(http, first, "KEEP-STOPPED")
                ok(await http.post(f"{API}/{stopped_one['id']}/stop-charger"))
                await until_provisioning(http, stopped_one["id"], "STOPPED")
                never_started = await create(http, first, "NEVER-STARTED")
        # the stack (and its worker processes) are gone; a new one starts on the same database
        async with running(settings(), migrate=False) as second:
            async with httpx.AsyncClient(base_url=second.http_url, headers=ADMIN, timeout=30) as http:
                state = await until_provisioning(http, running_one["id"], "CONNECTED")
                assert state["desired_state"] == "running" and state["runtime"]["running"] is True
                await eventually(lambda: at_least_boots(second, "KEEP-RUNNING", 2))
                for charger in (stopped_one, never_started):
                    state = await provisioning(http, charger["id"])
                    assert (state["status"], state["desired_state"], state["runtime"]) == (
                        "PROVISIONED", "stopped", None)
                assert len(await boots(second, "KEEP-STOPPED")) == 1  # from the first stack only
                [row] = await rows(second, "SELECT online FROM charge_points WHERE id = 'KEEP-STOPPED'")
                assert not row["online"]
