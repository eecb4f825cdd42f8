"""Issue #13 items 1, 2 and 14 in the simulator: a fleet's worker process SIGKILLed mid-charge
leaves nothing open at the CSMS once it runs again; a run that ends (``--duration``) or a charger
whose runtime is stopped ends its sessions; a start the CSMS refuses is no session. Real stack,
real sockets, real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from charger_sim.atg import AtgSettings, Generator
from charger_sim.fleet import Fleet, FleetOptions
from tests.charger_sim import stations
from tests.charger_sim.stations import Sims, template, until_status
from tests.helpers import add_id_tag, rows

sim = stations.sim  # a fixture

FAST_ATG = {"idle": (0.1, 0.3), "plug_delay": (0.05, 0.1), "duration": (600, 600),
            "probability": 1.0, "id_tags": ["TAG-F"]}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": True}


async def _open(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM transactions WHERE charge_point_id LIKE :p AND stop_timestamp IS NULL",
        p=f"{prefix}-%")]


async def _all(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM transactions WHERE charge_point_id LIKE :p ORDER BY id", p=f"{prefix}-%")]


async def _until(check: Any, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


def fleet(stack: Stack, tmp_path: Path, prefix: str, duration: float) -> Fleet:
    return Fleet(FleetOptions(csms=stack.ws_url, count=3, prefix=prefix, atg=True,
                              duration=duration, workers=1, state_dir=str(tmp_path / "sim"),
                              atg_settings=FAST_ATG, overrides={"meter_interval": 1}))


async def _finished(f: Fleet, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while f.alive() and loop.time() < deadline:
        await asyncio.sleep(0.1)
    assert not f.alive(), "the fleet did not end"


async def _at_least(stack: Stack, prefix: str, n: int) -> list[dict[str, Any]] | None:
    found = await _open(stack, prefix)
    return found if len(found) >= n else None


@pytest.mark.parametrize("ending", ["duration", "signal"])
async def test_a_run_that_ends_ends_its_sessions(stack: Stack, tmp_path: Path, ending: str) -> None:
    """At the end of its --duration, or on SIGTERM (Ctrl-C), a fleet ends the sessions running
    (StopTransaction Local) and gives them a few seconds to reach the CSMS."""
    f = fleet(stack, tmp_path, "DUR", duration=10 if ending == "duration" else 600)
    f.start()
    try:
        assert await _until(lambda: _at_least(stack, "DUR", 3), 10), "no sessions started"
        if ending == "signal":  # (Fleet.stop waits for the workers: not on the CSMS's loop)
            await asyncio.to_thread(f.stop)
        await _finished(f, 30)
    finally:
        f.stop()
    txs = await _all(stack, "DUR")
    assert txs and all(t["stop_timestamp"] is not None for t in txs), txs
    assert {t["stop_reason"] for t in txs} == {"Local"}
    assert {t["end_source"] for t in txs} == {"charge_point"}


async def test_a_killed_worker_strands_nothing_once_it_runs_again(stack: Stack,
                                                                  tmp_path: Path) -> None:
    """SIGKILL mid-charge: its stations ran transactions the CSMS has open. The next run of the
    same stations ends them (StopTransaction PowerLoss, as a charger that lost power does), with
    the last meter reading the stations kept, and nothing stays open."""
    f = fleet(stack, tmp_path, "KIL", duration=600)
    f.start()
    try:
        assert await _until(lambda: _at_least(stack, "KIL", 3), 10)
        await asyncio.sleep(2.5)  # meter values go out (and are kept) for the running sessions
        os.kill(f.pids()[0], signal.SIGKILL)
        await _finished(f, 10)
    finally:
        f.stop()
    stranded = await _open(stack, "KIL")
    assert len(stranded) >= 3
    again = fleet(stack, tmp_path, "KIL", duration=3)
    again.start()
    try:
        await _finished(again, 30)
    finally:
        again.stop()
    assert await _open(stack, "KIL") == []
    by_id = {t["id"]: t for t in await _all(stack, "KIL")}
    for t in stranded:
        ended = by_id[t["id"]]
        assert (ended["stop_reason"], ended["end_source"]) == ("PowerLoss", "charge_point"), ended
        readings = await rows(stack, "SELECT value FROM meter_values WHERE transaction_id = :tx "
                              "AND measurand = 'Energy.Active.Import.Register' AND source = "
                              "'MeterValues'", tx=t["id"])
        assert ended["meter_stop"] >= max([float(r["value"]) for r in readings] + [t["meter_start"]])


async def test_a_start_the_csms_refuses_is_no_session(stack: Stack, sim: Sims) -> None:
    """The tag may run one session at a time; the second connector's start is answered
    ConcurrentTx: that connector stops (DeAuthorized) and its driver leaves at once, instead of
    sitting in Finishing for the length of a session."""
    await add_id_tag(stack, "ONE", max_concurrent_tx=1)
    st = await sim.start("SIM-REF", template(meter_interval=1))
    generator = Generator(st, AtgSettings(idle=(0.1, 0.2), plug_delay=(0.1, 0.2),
                                          duration=(600, 600), probability=1.0, id_tags=["ONE"]))
    generator.enable()
    try:
        async def refused() -> list[Any]:
            return await rows(stack, "SELECT * FROM messages WHERE charge_point_id = 'SIM-REF' AND "
                              "direction = 'in' AND action = 'StopTransaction'")
        found = await _until(refused, 10)
        assert found, [e for _, k, e in st.log if k != "in"][-30:]
        stopped_connectors = {c.id for c in st.connectors.values() if c.tx is None}
        [loser] = stopped_connectors
        await until_status(stack, "SIM-REF", loser, "Available", timeout=3)
        winner = ({1, 2} - {loser}).pop()
        assert st.connectors[winner].tx is not None
    finally:
        generator.disable()


async def test_a_refused_start_without_stop_on_invalid_id_delivers_nothing(stack: Stack,
                                                                          sim: Sims) -> None:
    """StopTransactionOnInvalidId false: OCPP 1.6 keeps the transaction but stops the energy."""
    await add_id_tag(stack, "BLK", status="Blocked")
    st = await sim.start("SIM-BLK", template(meter_interval=1, plug_in_delay=None))
    st.config.keys["StopTransactionOnInvalidId"].value = "false"
    await st.plug(1)
    # offline authorization would refuse it; at the CSMS it is Blocked in the StartTransaction
    assert await st.start_transaction(st.connectors[1], "BLK") == "Blocked"
    await until_status(stack, "SIM-BLK", 1, "SuspendedEVSE")
    energy = st.connectors[1].meter.energy_wh
    await asyncio.sleep(1.5)
    await st.reassess(st.connectors[1])
    assert st.connectors[1].meter.energy_wh == energy
