"""The simulator's runtime REST API: control by identity, errors and the durable desired state.

Real HTTP, real worker processes, the stack's own CSMS over real websockets.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx

from chargebay.stack import Stack, running
from tests.charger_sim import runtimes
from tests.charger_sim.runtimes import (
    ADMIN,
    API,
    BUDGET,
    FAST,
    at_least_boots,
    boots,
    charger_body,
    control,
    create,
    error,
    eventually,
    ok,
    provisioning,
    started,
    transactions,
    until_provisioning,
    until_status,
)
from tests.conftest import make_settings
from tests.helpers import free_port, rows

http = runtimes.http  # a fixture
settings_overrides = runtimes.settings_overrides  # a fixture


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
