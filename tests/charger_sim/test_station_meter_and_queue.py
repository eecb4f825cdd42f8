"""The simulated station against our real CSMS: meter values and the durable offline queue."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from charger_sim.station import Station
from common.durable import DurableQueue
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    BUDGET,
    OFFLINE_OK,
    Sims,
    _at_least,
    _check,
    _n_samples,
    _n_tx,
    _stopped,
    back_online,
    calls,
    eventually,
    go_offline,
    last_message_id,
    samples,
    send,
    start_tx,
    station_frames,
    template,
    transactions,
    utc,
)
from tests.helpers import rows

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- meter values -------------------------------------------------------------------------------
async def test_meter_values_are_coherent(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-METER"
        ev = {"battery_wh": 2000, "initial_soc": [10, 10], "max_power_w": 22000,
              "taper_from_soc": 90}
        st = await sim.start(cp, template(ev=ev))
        tx_id = await start_tx(st)
        await eventually(lambda: _n_samples(stack, tx_id, "SoC", 5), timeout=10)
        await send(stack, cp, "RemoteStopTransaction", {"transactionId": tx_id})
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))

        by_ts: dict[datetime, dict[str, float]] = {}
        for r in await rows(stack, "SELECT * FROM meter_values WHERE transaction_id = :tx AND "
                                   "source = 'MeterValues' ORDER BY id", tx=tx_id):
            by_ts.setdefault(utc(r["timestamp"]), {})[r["measurand"]] = float(r["value"])
        series = sorted(by_ts.items())
        assert len(series) >= 5
        energy = [m["Energy.Active.Import.Register"] for _, m in series]
        soc = [m["SoC"] for _, m in series]
        assert energy == sorted(energy) and energy[-1] > energy[0]  # the register never decreases
        assert energy[0] >= tx["meter_start"]
        assert soc == sorted(soc) and soc[-1] > soc[0]
        for (t0, m0), (t1, m1) in zip(series, series[1:], strict=False):
            dt = (t1 - t0).total_seconds()
            expected = m1["Power.Active.Import"] * dt / 3600
            assert abs((m1["Energy.Active.Import.Register"] - m0["Energy.Active.Import.Register"])
                       - expected) <= 1.5 + 0.1 * expected
        for _, m in series:
            assert m["Power.Active.Import"] == 22000
            assert m["Current.Import"] == pytest.approx(
                m["Power.Active.Import"] / (3 * m["Voltage"]), abs=0.1)
            assert 226 <= m["Voltage"] <= 234
        # overall: meter start to the last sample follows power x time
        start = utc(tx["start_timestamp"])
        span = (series[-1][0] - start).total_seconds()
        assert energy[-1] - tx["meter_start"] == pytest.approx(22000 * span / 3600, rel=0.15, abs=2)


async def test_meter_stop_agrees_with_the_register_reading(stack: Stack, sim: Sims) -> None:
    """meterStop is the same register reading the StopTransaction's transactionData (and the
    MeterValues before it) show: the register never appears to go backwards at the stop.

    1.8 kW from an integral meterStart: ~1.5 s later the register stands at start + ~0.75 Wh, a
    fraction where truncating and rounding the same reading differ.
    """
    async with asyncio.timeout(BUDGET):
        cp = "CP-METER-STOP"
        ev = {"battery_wh": 60000, "initial_soc": [20, 20], "max_power_w": 1800,
              "taper_from_soc": 90}
        st = await sim.start(cp, template(ev=ev))
        tx_id = await start_tx(st)
        await asyncio.sleep(1.5)
        assert await st.stop_local(1) is True
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        [(_, _, stop)] = await calls(stack, cp, "StopTransaction")
        [reading] = [s for s in stop["transactionData"][0]["sampledValue"]
                     if s["measurand"] == "Energy.Active.Import.Register"]
        periodic = [float(r["value"]) for r in await samples(stack, tx_id,
                                                             "Energy.Active.Import.Register")]
        assert tx["meter_stop"] >= max(periodic, default=tx["meter_start"])
        assert stop["meterStop"] == int(reading["value"])


async def _first_meter_values(sim: Sims, identity: str, seed: int) -> tuple[int, dict[str, str]]:
    # a fresh state each time: a station that kept its meter continues from its last register
    st = await sim.start(identity, seed=seed, queue=sim.queue(f"{identity}-{len(sim.queues)}"))
    assert await st.start_local(1, "TAG-SEED") == "Accepted"

    def started() -> int:
        # A MeterValues the previous run of this identity queued as it stopped goes out first.
        found = [f[3]["meterStart"] for f in station_frames(st, "out")
                 if f[0] == 2 and f[2] == "StartTransaction"]
        assert found
        return int(found[0])

    meter_start = await eventually(started)

    def first() -> dict[str, str]:
        mv = [f[3] for f in station_frames(st, "out") if f[0] == 2 and f[2] == "MeterValues"]
        assert mv
        return {s["measurand"]: s["value"] for s in mv[0]["meterValue"][0]["sampledValue"]}

    values = await eventually(first)
    await sim.stop(st)
    return meter_start, values


async def test_same_seed_gives_the_same_first_meter_values(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        start_a, first_a = await _first_meter_values(sim, "CP-SEED", 7)
        start_b, first_b = await _first_meter_values(sim, "CP-SEED", 7)
        start_c, _ = await _first_meter_values(sim, "CP-SEED", 8)
        assert start_a == start_b and start_a != start_c
        energy_a = float(first_a.pop("Energy.Active.Import.Register"))
        energy_b = float(first_b.pop("Energy.Active.Import.Register"))
        assert abs(energy_a - energy_b) <= 1  # power x (slightly different) elapsed time
        assert first_a == first_b  # power, current, voltage and SoC


# -- the offline queue --------------------------------------------------------------------------
async def test_offline_transactions_are_queued_and_replayed_in_order(
        stack: Stack, sim: Sims, tmp_path: Path) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-OFFLINE"
        queue = sim.queue("offline")
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue, replay_rate=50)
        tx_a = await start_tx(st, 1, "TAG-A")
        await asyncio.sleep(1.1)

        await go_offline(st, 4.0)
        offline_at = datetime.now(UTC)
        assert await st.stop_local(1, "TAG-A") is True
        assert await st.start_local(2, "TAG-B") == "Accepted"
        provisional_b = st.connectors[2].tx.id  # type: ignore[union-attr]
        await asyncio.sleep(1.2)  # at least one MeterValues for B, queued
        assert await st.stop_local(2, "TAG-B") is True
        await st.unplug(1)
        assert await st.start_local(1, "TAG-C") == "Accepted"
        provisional_c = st.connectors[1].tx.id  # type: ignore[union-attr]
        assert provisional_b < 0 and provisional_c < 0 and provisional_b != provisional_c

        queued = await queue.pending(cp)
        actions = [a for _, a, _ in queued]
        assert [a for a in actions if a != "MeterValues"] == [
            "StopTransaction", "StartTransaction", "StopTransaction", "StartTransaction"]
        stop_a, start_b, stop_b, start_c = [p for _, a, p in queued if a != "MeterValues"]
        assert stop_a["transactionId"] == tx_a
        assert start_b["_provisional"] == provisional_b and stop_b["transactionId"] == provisional_b
        assert start_c["_provisional"] == provisional_c
        assert any(a == "MeterValues" and p["transactionId"] == provisional_b for _, a, p in queued)

        async def mirrored() -> None:  # memory and disk agree (a MeterValues may be mid-push)
            assert st.snapshot()["queued"] == len(await queue.pending(cp))

        await eventually(mirrored)

        mark = await last_message_id(stack, cp)
        await back_online(st, 1)
        await eventually(lambda: _queue_empty(st, queue))
        # the queued messages arrived in the order they were queued, right after the boot
        replayed = [(a, p) for _, a, p in await calls(stack, cp, after=mark)
                    if a in ("StartTransaction", "StopTransaction", "MeterValues")]
        assert [a for a, _ in replayed[:len(queued)]] == actions
        found = await transactions(stack, cp)
        assert [(t["id_tag"], t["stop_reason"]) for t in found] == [
            ("TAG-A", "Local"), ("TAG-B", "Local"), ("TAG-C", None)]
        a, b, c = found
        assert a["id"] == tx_a and a["meter_stop"] == stop_a["meterStop"]
        assert b["meter_stop"] == stop_b["meterStop"] and b["meter_stop"] >= b["meter_start"]
        assert utc(b["start_timestamp"]) >= offline_at - timedelta(seconds=1)
        assert utc(b["start_timestamp"]) < utc(b["stop_timestamp"])
        assert c["meter_stop"] is None and st.connectors[1].tx is not None
        assert st.connectors[1].tx.id == c["id"]  # the provisional id was replaced
        # meter values carry the CSMS's ids, never a provisional one; nothing was unmatched
        assert await rows(stack, "SELECT * FROM meter_values WHERE charge_point_id = :cp AND "
                                 "transaction_id < 0", cp=cp) == []
        assert await samples(stack, b["id"], "Energy.Active.Import.Register")
        assert await rows(stack, "SELECT * FROM stop_records WHERE charge_point_id = :cp", cp=cp) == []
        # and the transaction that kept running reports under its real id
        mark = await last_message_id(stack, cp)
        await eventually(lambda: _at_least(stack, cp, "MeterValues", 1, after=mark))
        mv = (await calls(stack, cp, "MeterValues", after=mark))[-1][2]
        assert mv["transactionId"] == c["id"]
        assert st.outbox.stats["replayed"] >= len(queued)


async def _queue_empty(st: Station, queue: DurableQueue) -> None:
    assert await queue.pending(st.identity) == []
    assert len(st.outbox) == 0


async def _leave_a_queued_transaction(sim: Sims, cp: str, queue: DurableQueue,
                                      id_tag: str) -> list[tuple[int, str, dict[str, Any]]]:
    """A station that is offline for good queues a whole transaction, then is switched off."""
    st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
    await go_offline(st, 600)
    assert await st.start_local(1, id_tag) == "Accepted"
    await asyncio.sleep(1.2)
    assert await st.stop_local(1, id_tag) is True
    await sim.stop(st)
    queued = await queue.pending(cp)
    assert [a for _, a, _ in queued if a != "MeterValues"] == ["StartTransaction", "StopTransaction"]
    assert any(a == "MeterValues" for _, a, _ in queued)
    return queued


async def test_queue_survives_a_station_restart(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-QRESTART"
        queue = sim.queue("restart")
        queued = await _leave_a_queued_transaction(sim, cp, queue, "TAG-R")
        assert await transactions(stack, cp) == []
        # a new Station object (the process restarted) with the same queue file
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
        await eventually(lambda: _queue_empty(st, queue))
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        stop = next(p for _, a, p in queued if a == "StopTransaction")
        start = next(p for _, a, p in queued if a == "StartTransaction")
        assert (tx["id_tag"], tx["meter_start"], tx["meter_stop"], tx["stop_reason"]) == (
            "TAG-R", start["meterStart"], stop["meterStop"], "Local")
        assert len(await samples(stack, tx["id"], "Energy.Active.Import.Register")) == sum(
            1 for _, a, _ in queued if a == "MeterValues")
        assert await rows(stack, "SELECT * FROM stop_records WHERE charge_point_id = :cp", cp=cp) == []


async def test_replay_interrupted_by_a_restart_keeps_the_real_transaction_id(
        stack: Stack, sim: Sims) -> None:
    """The StartTransaction was replayed (and removed from the queue), then the station restarted
    before its StopTransaction went out: the queued StopTransaction must close the CSMS's
    transaction, not name the provisional id the new process knows nothing about."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-QINTERRUPT"
        queue = sim.queue("interrupt")
        await _leave_a_queued_transaction(sim, cp, queue, "TAG-I")
        slow = await sim.start(cp, template(**OFFLINE_OK), queue=queue, replay_rate=0.5)
        await eventually(lambda: _check(slow.outbox.stats["replayed"] >= 1), timeout=5)
        await sim.stop(slow)
        left = await queue.pending(cp)
        assert left and left[0][1] != "StartTransaction"  # the start is through, the rest is not
        [tx] = await transactions(stack, cp)
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
        await eventually(lambda: _queue_empty(st, queue))
        await asyncio.sleep(0.2)
        unmatched = await rows(stack, "SELECT transaction_id, kind FROM stop_records WHERE "
                                      "charge_point_id = :cp", cp=cp)
        assert [dict(r) for r in unmatched] == []
        assert await rows(stack, "SELECT * FROM meter_values WHERE charge_point_id = :cp AND "
                                 "transaction_id < 0", cp=cp) == []
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert tx["stop_reason"] == "Local"


async def test_provisional_ids_do_not_collide_after_a_restart(stack: Stack, sim: Sims) -> None:
    """A new Station object that starts a transaction offline while the queue still holds the old
    one's provisional ids must not mix the two transactions up."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-QCOLLIDE"
        queue = sim.queue("collide")
        await _leave_a_queued_transaction(sim, cp, queue, "TAG-OLD")
        st = Station(cp, template(**OFFLINE_OK), stack.ws_url, queue=queue, log_size=20_000)
        st.refuse_until = time.monotonic() + 1.5  # still offline when it comes up
        sim.stations.append(st)
        sim.tasks[id(st)] = asyncio.create_task(st.run())
        await asyncio.sleep(0.1)
        assert await st.start_local(1, "TAG-NEW") == "Accepted"
        await back_online(st, 0)
        await eventually(lambda: _queue_empty(st, queue))
        found = await eventually(lambda: _n_tx(stack, cp, 2))
        old, new = found
        assert (old["id_tag"], old["stop_reason"]) == ("TAG-OLD", "Local")
        assert (new["id_tag"], new["stop_timestamp"]) == ("TAG-NEW", None)
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id == new["id"]
        tx_id = st.connectors[1].tx.id
        await st.stop_local(1, "TAG-NEW")
        [_, new] = await eventually(lambda: _stopped(stack, cp, 2))
        assert new["id"] == tx_id and new["stop_reason"] == "Local"
