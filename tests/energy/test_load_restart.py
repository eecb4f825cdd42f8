"""A central system SIGKILLed mid-session (issue #19): the station's share lapses with its lease
and it falls back to its failsafe limit; after a restart on the same database the allocator
resumes from the store and the share is back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from charger_sim.station import Station
from common.durable import DurableQueue
from tests.charger_sim.stations import eventually, template
from tests.conftest import ADMIN_TOKEN
from tests.helpers import free_port

CLI = str(Path(sys.executable).parent / "chargebay")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LEASE = 10.0  # the least CHARGEBAY_LOAD_LEASE allows
W_PER_A = 3 * 230


class Csms:
    """``chargebay serve`` on fixed ports and data directory, so a restart is the same system."""

    def __init__(self, data: Path) -> None:
        self.data, self.ws_port, self.http_port = data, free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CHARGEBAY_DATA_DIR": str(self.data), "CHARGEBAY_API_TOKEN": ADMIN_TOKEN,
               "CHARGEBAY_ACCEPT_UNKNOWN_ID_TAGS": "true", "CHARGEBAY_LOAD_LEASE": str(LEASE),
               "CHARGEBAY_LOAD_PERIOD": "0.2", "CHARGEBAY_LOG_LEVEL": "INFO"}
        with (self.data / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen([CLI, "serve", "--ws-port", str(self.ws_port), "--http-port",
                                          str(self.http_port)], cwd=self.data, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data / "serve.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.http_port}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("serve did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[Csms]:
    served = Csms(tmp_path)
    served.start()
    yield served
    served.kill()


def _holds(st: Station, limits: dict[str, float]) -> None:
    """The station holds a profile of each purpose at the limit given (amps)."""
    held = {p["chargingProfilePurpose"]: p["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            for _, p in st.profiles.installed()}
    assert held == limits, held


def _power(st: Station, wanted: float) -> None:
    assert st.connectors[1].meter.power_w == pytest.approx(wanted, abs=0.1 * W_PER_A), (  # limits: 0.1 A
        st.connectors[1].meter.power_w, st.profiles.installed(), time.time())


async def test_failsafe_while_away_then_resume(csms: Csms, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.http_port}", timeout=10) as client:
        r = await client.post("/api/v1/load-groups", headers=ADMIN, json={
            "name": "site", "limit": 64, "members": [{"charge_point_id": f"K-{i}", "rating": 32} for i in range(3)]})
        assert r.status_code == 201, r.text
    tpl = template(connectors=1, max_power_w=32 * W_PER_A,
                   ev={"battery_wh": 400000, "initial_soc": [10, 20], "max_power_w": 32 * W_PER_A,
                       "taper_from_soc": 95})
    queue = DurableQueue(tmp_path / "queue.db")
    st = Station("K-0", tpl, f"ws://127.0.0.1:{csms.ws_port}/ocpp", queue=queue, log_size=5000)
    original_sleep = st.client.sleep

    async def short_backoff(seconds: float) -> None:  # reconnect soon after the restart
        await original_sleep(min(seconds, 0.5))

    st.client.sleep = short_backoff  # type: ignore[method-assign]
    task = asyncio.create_task(st.run())
    try:
        async with asyncio.timeout(60):
            await asyncio.wait_for(st.booted.wait(), 10)
            assert await st.start_local(1, "TAG-1") == "Accepted"
            # alone in the group: its full 32 A (the failsafe is 64 A / 3 = 21.3 A)
            await eventually(lambda: _holds(st, {"TxDefaultProfile": 21.3, "TxProfile": 32.0}), 5)
            _power(st, 32 * W_PER_A)
            csms.kill()
            killed = time.monotonic()
            await eventually(lambda: _power(st, 64 / 3 * W_PER_A), LEASE + 5)  # the lease lapsed
            assert time.monotonic() - killed >= LEASE - 2  # not before: the share held meanwhile
            csms.start()
            await eventually(lambda: _power(st, 32 * W_PER_A), 15)  # resumed from the store
            assert st.connectors[1].tx is not None
    finally:
        st.stop()
        await asyncio.wait_for(task, 10)
        queue.close()




async def test_a_strict_group_stays_within_its_limit_through_an_outage(csms: Csms, tmp_path: Path) -> None:
    """Two members of 32 A on 40 A with strict_failsafe: each failsafe is 20 A, so the one charging
    gets 20 A (the idle one's 20 A stay in reserve). The central system dies; the idle one starts
    at its failsafe: together 40 A, never more, from the moment of the start on."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.http_port}", timeout=10) as client:
        r = await client.post("/api/v1/load-groups", headers=ADMIN, json={
            "name": "strict", "limit": 40, "strict_failsafe": True,
            "members": [{"charge_point_id": f"S-{i}", "rating": 32} for i in range(2)]})
        assert r.status_code == 201, r.text
    tpl = template(connectors=1, max_power_w=32 * W_PER_A,
                   ev={"battery_wh": 400000, "initial_soc": [10, 20], "max_power_w": 32 * W_PER_A,
                       "taper_from_soc": 95})
    queues = [DurableQueue(tmp_path / f"queue-{i}.db") for i in range(2)]
    offline_ok = tpl.model_copy(update={"configuration": {"AllowOfflineTxForUnknownId": "true"}})
    stations = [Station(f"S-{i}", offline_ok, f"ws://127.0.0.1:{csms.ws_port}/ocpp", queue=queues[i],
                        log_size=5000) for i in range(2)]  # a driver may start offline
    tasks = [asyncio.create_task(st.run()) for st in stations]
    try:
        async with asyncio.timeout(60):
            for st in stations:
                await asyncio.wait_for(st.booted.wait(), 10)
                await eventually(lambda st=st: _holds(st, {"TxDefaultProfile": 20.0}), 5)
            first, second = stations
            assert await first.start_local(1, "TAG-1") == "Accepted"
            await eventually(lambda: _holds(first, {"TxDefaultProfile": 20.0, "TxProfile": 20.0}), 5)
            csms.kill()
            assert await second.start_local(1, "TAG-2") == "Accepted"  # offline: at its failsafe
            await eventually(lambda: _power(second, 20 * W_PER_A), 5)
            for _ in range(int(LEASE) + 2):  # through the lease and past it
                total = sum(st.connectors[1].meter.power_w for st in stations)
                assert total <= 40 * W_PER_A + 1, total
                await asyncio.sleep(1)
    finally:
        for st in stations:
            st.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for queue in queues:
            queue.close()
