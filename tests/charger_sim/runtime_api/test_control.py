"""Driving a running station by its identity, and the ATG's transactions."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from chargebay.stack import Stack
from tests.charger_sim.runtime_api.conftest import (
    API,
    BUDGET,
    FAST,
    boots,
    control,
    error,
    eventually,
    ok,
    provisioning,
    started,
    transactions,
    until_provisioning,
    until_status,
)


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


