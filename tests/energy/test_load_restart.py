"""A central system SIGKILLed mid-session (issue #19): the stations keep what they were given
(the failsafe of a charging station is its share, an idle one's what the others leave), a
session started during the outage stays within the limit, and after a restart on the same
database the allocator resumes from the store and shares anew."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


async def test_through_an_outage_and_back_never_over_the_limit(csms: Csms, tmp_path: Path) -> None:
    """Two members of 32 A on 40 A. Idle, each failsafe is 20 A; the first to charge gets 32 A
    and the other's failsafe falls to 8 A first. The central system dies: the first keeps its
    32 A past its lease (its failsafe is its share), the second starts offline at 8 A: 40 A,
    never more. After the restart both sessions share: 20 A each."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.http_port}", timeout=10) as client:
        r = await client.post("/api/v1/load-groups", headers=ADMIN, json={
            "name": "site", "limit": 40, "members": [{"charge_point_id": f"S-{i}", "rating": 32} for i in range(2)]})
        assert r.status_code == 201, r.text
    tpl = template(connectors=1, max_power_w=32 * W_PER_A,
                   ev={"battery_wh": 400000, "initial_soc": [10, 20], "max_power_w": 32 * W_PER_A,
                       "taper_from_soc": 95})
    tpl = tpl.model_copy(update={"configuration": {"AllowOfflineTxForUnknownId": "true"}})
    queues = [DurableQueue(tmp_path / f"queue-{i}.db") for i in range(2)]
    stations = [Station(f"S-{i}", tpl, f"ws://127.0.0.1:{csms.ws_port}/ocpp", queue=queues[i], log_size=5000)
                for i in range(2)]  # a driver may start offline
    for st in stations:
        original_sleep = st.client.sleep

        async def short_backoff(seconds: float, original_sleep=original_sleep) -> None:  # type: ignore[no-untyped-def]
            await original_sleep(min(seconds, 0.5))  # reconnect soon after the restart

        st.client.sleep = short_backoff  # type: ignore[method-assign]
    tasks = [asyncio.create_task(st.run()) for st in stations]
    first, second = stations

    def total() -> float:
        return sum(st.connectors[1].meter.power_w for st in stations)

    async def within_limit_until(check: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            assert total() <= 40 * W_PER_A + 1, (total(), [st.profiles.installed() for st in stations])
            try:
                check()
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)

    try:
        async with asyncio.timeout(90):
            for st in stations:
                await asyncio.wait_for(st.booted.wait(), 10)
                await eventually(lambda st=st: _holds(st, {"TxDefaultProfile": 20.0}), 5)
            assert await first.start_local(1, "TAG-1") == "Accepted"
            await within_limit_until(lambda: (_holds(first, {"TxDefaultProfile": 32.0, "TxProfile": 32.0}),
                                              _holds(second, {"TxDefaultProfile": 8.0})), 5)
            _power(first, 32 * W_PER_A)
            csms.kill()
            with contextlib.closing(sqlite3.connect(tmp_path / "chargebay.db")) as db:  # kept for the restart
                held = dict(db.execute("SELECT charge_point_id, limit_w FROM load_failsafes").fetchall())
            assert held == {"S-0": pytest.approx(32 * W_PER_A), "S-1": pytest.approx(8 * W_PER_A)}
            assert await second.start_local(1, "TAG-2") == "Accepted"  # offline: at its failsafe
            await within_limit_until(lambda: _power(second, 8 * W_PER_A), 5)
            killed = time.monotonic()
            while time.monotonic() - killed < LEASE + 2:  # through the lease and past it
                await within_limit_until(lambda: _power(first, 32 * W_PER_A), 0)
                await asyncio.sleep(0.5)
            csms.start()
            await within_limit_until(lambda: (_power(first, 20 * W_PER_A), _power(second, 20 * W_PER_A)), 20)
            assert first.connectors[1].tx is not None and second.connectors[1].tx is not None
    finally:
        for st in stations:
            st.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        for queue in queues:
            queue.close()
