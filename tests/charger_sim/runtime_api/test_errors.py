"""The runtime API's errors, and the desired state that survives a stack restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from chargebay.stack import Stack, running
from tests.charger_sim.runtime_api.conftest import (
    ADMIN,
    API,
    BUDGET,
    at_least_boots,
    boots,
    charger_body,
    create,
    error,
    eventually,
    ok,
    provisioning,
    started,
    until_provisioning,
)
from tests.conftest import make_settings
from tests.helpers import free_port, rows


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
                     charger_body(stack, "CP-V", ocpp_version="OCPP3.0"),  # no such version
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
