"""The production topology of docker-compose.yml, as local processes, and a node killed under load.

PostgreSQL and Redis, two CSMS nodes (``serve --node-id``), the stateless API node (``serve
--role api``), haproxy with the repository's deploy/haproxy.cfg in front, a locker bridge with
its board emulator, and 200 simulated charge points (the simulator's own Station code, run in
this process so that every frame each one sent and every answer it got can be compared with
what the nodes stored). REST commands and stop-a-charge go through either node and the API;
then one node is SIGKILLed, its charge points reconnect through haproxy to the other, and
nothing they were answered for is missing from the store, or stored twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from charger_sim.atg import AtgSettings, Generator
from charger_sim.station import Station
from charger_sim.template import load_template
from common.durable import DurableQueue
from csms.timeutil import parse_ts, utc
from tests.conftest import ADMIN_TOKEN, POSTGRES
from tests.helpers import free_port

pytestmark = pytest.mark.skipif(not POSTGRES, reason=(
    "runs in make test's PostgreSQL pass (CHARGEBAY_TEST_POSTGRES_URL; CI always runs it)"))

REPO = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "chargebay")
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STATIONS = 200
BAYS = 4
INTEGRATED = 6  # stations charged through start/stop-a-charge


class Topology:
    """The processes, their ports and a way to stop them all."""

    def __init__(self, tmp: Path, db_url: str, redis_url: str) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "CHARGEBAY_DATABASE_URL": db_url, "CHARGEBAY_REDIS_URL": redis_url,
                    "CHARGEBAY_API_TOKEN": ADMIN_TOKEN, "CHARGEBAY_ACCEPT_UNKNOWN_ID_TAGS": "true",
                    "CHARGEBAY_REGISTRY_TTL": "3", "CHARGEBAY_HOST": "127.0.0.1",
                    "CHARGEBAY_LOG_LEVEL": "WARNING", "CHARGEBAY_SIM_WORKERS": "1",
                    "CHARGEBAY_DATA_DIR": str(tmp / "data")}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http: dict[str, int] = {}
        self.ws: dict[str, int] = {}
        self.lb_ocpp, self.lb_http, self.lb_stats = free_port(), free_port(), free_port()

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        workdir = self.tmp / name
        workdir.mkdir()
        self.procs[name] = subprocess.Popen(
            args, cwd=workdir, env={**self.env, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=open(workdir / "stderr.log", "wb"))  # noqa: SIM115 - closed with the process

    def node(self, name: str) -> None:
        """The node as docker-compose.yml runs it, on ports of its own."""
        self.http[name], self.ws[name] = free_port(), free_port()
        command = COMPOSE["services"][name]["command"]
        assert command[:2] == ["chargebay", "serve"], command
        self.spawn(name, [CLI, *command[1:], "--http-port", str(self.http[name]),
                          "--ws-port", str(self.ws[name])])

    def start(self) -> None:
        for name in ("csms-1", "csms-2", "api"):
            self.node(name)
        self.spawn("lb", [shutil.which("haproxy") or "haproxy", "-db", "-f",
                          str(REPO / "deploy" / "haproxy.cfg")], env={
            "OCPP_BIND": f"127.0.0.1:{self.lb_ocpp}", "HTTP_BIND": f"127.0.0.1:{self.lb_http}",
            "STATS_BIND": f"127.0.0.1:{self.lb_stats}", "LB_MAXCONN": "4000",
            "CSMS_1": f"127.0.0.1:{self.ws['csms-1']}", "CSMS_2": f"127.0.0.1:{self.ws['csms-2']}",
            "API_1": f"127.0.0.1:{self.http['api']}"})
        link = self.tmp / "locker-COM2"
        self.spawn("board", [CLI, "emulate-board", "--link", str(link), "--boards", "1",
                             "--bays", str(BAYS)])
        (self.tmp / "bays.yaml").write_text(
            f"csms_url: {self.ocpp_url}\nports:\n  COM2: {{device: {link}, baudrate: 9600}}\n"
            f"lockers:\n  - {{name: LOCKER-T, port: COM2, address: 1, bays: {BAYS}}}\n")

    def start_bridge(self) -> None:
        self.spawn("bridge", [CLI, "bridge", "--config", str(self.tmp / "bays.yaml")])

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.lb_ocpp}/ocpp"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.lb_http if name == 'lb' else self.http[name]}"

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.tmp / name / "stderr.log").read_text()[-6000:]
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{log}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def topology(tmp_path: Path, db_url: str, redis_url: str) -> Iterator[Topology]:
    if shutil.which("haproxy") is None:
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail("haproxy missing in CI (scripts/services.sh installs it)")
        pytest.skip("haproxy is not installed (apt-get install haproxy; CI does)")
    topo = Topology(tmp_path, db_url, redis_url)
    try:
        topo.start()
        yield topo
    finally:
        topo.stop()


async def until(check: Callable[[], Awaitable[Any]], what: str, topo: Topology,
                timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        topo.check_alive()
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def held(client: httpx.AsyncClient, topo: Topology, node: str) -> int:
    """How many sockets a node holds (its /health on the websocket port)."""
    r = await client.get(f"http://127.0.0.1:{topo.ws[node]}/health")
    return int(r.json()["connected_charge_points"])


async def command_everyone(client: httpx.AsyncClient, topo: Topology, stations: list[Station],
                           via: list[str]) -> None:
    """TriggerMessage(Heartbeat) to every station, round-robin through the nodes in ``via``."""
    gate = asyncio.Semaphore(20)

    async def one(i: int, st: Station) -> None:
        async with gate:
            r = await client.post(
                f"{topo.url(via[i % len(via)])}/api/v1/charge-points/{st.identity}/commands/TriggerMessage",
                json={"requestedMessage": "Heartbeat"}, headers=ADMIN)
        assert r.status_code == 200, (st.identity, via[i % len(via)], r.text)
        assert r.json()["response"] == {"status": "Accepted"}, r.text

    await asyncio.gather(*(one(i, st) for i, st in enumerate(stations)))


Calls = dict[str, tuple[str, dict[str, Any]]]  # uid -> (action, payload)


def calls_of(st: Station) -> tuple[Calls, dict[str, Any]]:
    """Every call a station sent, and the answers it got (uid -> payload), from its frame log."""
    sent: Calls = {}
    answers: dict[str, Any] = {}
    for _, direction, frame in st.log:
        if direction not in ("in", "out"):
            continue
        msg = json.loads(frame)
        if direction == "out" and msg[0] == 2:
            sent[msg[1]] = (msg[2], msg[3])
        elif direction == "in" and msg[0] == 3:
            answers[msg[1]] = msg[2]
    return sent, answers


def samples_of(identity: str, payload: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(identity, payload["connectorId"], parse_ts(mv["timestamp"]), sv.get("measurand"),
             sv.get("phase")) for mv in payload["meterValue"] for sv in mv["sampledValue"]}


async def test_two_nodes_share_the_load_and_survive_a_sigkill(topology: Topology, db_url: str,
                                                              tmp_path: Path) -> None:
    topo = topology
    async with httpx.AsyncClient(timeout=15) as client:
        async def ready() -> bool:
            """Every node answers, and haproxy's health checks have marked every server UP."""
            try:
                codes = [(await client.get(f"{topo.url(n)}/health")).status_code
                         for n in ("csms-1", "csms-2", "api", "lb")]
                stats = (await client.get(f"http://127.0.0.1:{topo.lb_stats}/;csv")).text
            except httpx.HTTPError:
                return False
            servers = [row.split(",") for row in stats.splitlines() if row.startswith(
                ("csms_nodes,csms-", "api_nodes,api-"))]
            return codes == [200] * 4 and len(servers) == 3 and all(r[17] == "UP" for r in servers)
        await until(ready, "the nodes and the balancer", topo)
        topo.start_bridge()

        template = load_template("ac-wallbox", {"meter_interval": 1, "plug_in_delay": 0.1})
        queue = DurableQueue(tmp_path / "stations.db")
        stations = [Station(f"MN-{n:04d}", template, topo.ocpp_url, seed=n, queue=queue,
                            log_size=1_000_000) for n in range(STATIONS)]
        runs = [asyncio.create_task(st.run()) for st in stations]
        # the first few are charged through the integration API, the rest by their generators
        integrated, generated = stations[:INTEGRATED], stations[INTEGRATED:]
        generators = [Generator(st, AtgSettings(idle=(0.2, 1.0), plug_delay=(0.1, 0.3),
                                                duration=(2.0, 6.0), probability=1.0,
                                                id_tags=["MN-TAG"])) for st in generated]
        try:
            for g in generators:
                g.enable()

            async def all_booted() -> bool:
                return all(st.booted.is_set() for st in stations)
            await until(all_booted, "200 stations booted", topo)

            async def bays_and_stations_in() -> bool:
                return await held(client, topo, "csms-1") + await held(client, topo, "csms-2") \
                    == STATIONS + BAYS
            await until(bays_and_stations_in, "the bays and stations connected", topo)
            spread = (await held(client, topo, "csms-1"), await held(client, topo, "csms-2"))
            assert min(spread) >= (STATIONS + BAYS) // 4, spread  # leastconn spreads them

            # REST commands through either node (and the API node behind the balancer)
            await command_everyone(client, topo, stations, ["csms-1", "csms-2", "lb"])
            # the standalone bridge's bays registered themselves; a door opens through the API
            await open_a_locker(client, topo, 1)

            # stop-a-charge through either node
            r = await client.put(f"{topo.url('lb')}/api/v1/integration",
                                 json={"enabled": True, "allowed_ips": []}, headers=ADMIN)
            assert r.status_code == 200, r.text
            r = await client.post(f"{topo.url('lb')}/api/v1/tokens",
                                  json={"name": "billing", "role": "integrator"}, headers=ADMIN)
            key = {"Authorization": f"Bearer {r.json()['token']}"}

            nodes = ("csms-1", "csms-2")
            for n, st in enumerate(integrated):  # started at one node, stopped at the other
                charge = {"chargebox": st.identity, "connector": 1, "id_tag": "MN-TAG"}
                r = await client.post(f"{topo.url(nodes[n % 2])}/integration/charges/start",
                                      json=charge, headers=key)
                assert r.status_code == 200, (st.identity, r.text)
                tx = r.json()["transaction"]
                r = await client.post(f"{topo.url(nodes[(n + 1) % 2])}/integration/charges/stop",
                                      json={**charge, "transaction": tx}, headers=key)
                assert r.status_code == 200, (st.identity, r.text)

            async def stopped() -> bool:
                return all(st.connectors[1].tx is None for st in integrated)
            await until(stopped, "the stopped charges to end", topo, timeout=10)

            # SIGKILL one node under load: its charge points come back through the balancer
            victims = await held(client, topo, "csms-1")
            topo.procs.pop("csms-1").kill()

            async def all_on_csms_2() -> bool:
                return await held(client, topo, "csms-2") == STATIONS + BAYS \
                    and all(st.booted.is_set() for st in stations)
            await until(all_on_csms_2, f"{victims} charge points to move to csms-2", topo)
            await command_everyone(client, topo, stations, ["csms-2", "lb"])
            await open_a_locker(client, topo, 2)
            await asyncio.sleep(2)  # transactions and meter values keep flowing on csms-2

            for g in generators:
                g.disable()

            async def drained() -> bool:
                return all(st.outbox.backlog == 0 for st in stations)  # (a meter value may be under way)
            try:
                await until(drained, "the stations' queues to drain", topo)
            except AssertionError as exc:
                stuck = [(st.identity, st.booted.is_set(), [a for _, a, _ in st.outbox.pending][:5])
                         for st in stations if st.outbox.backlog]
                raise AssertionError(f"{exc}: {len(stuck)} still waiting, e.g. {stuck[:5]}") from None
        finally:
            for st in stations:
                st.stop()
            await asyncio.wait(runs, timeout=10)
            queue.close()

        r = await client.get(f"{topo.url('lb')}/api/v1/charge-points", params={"limit": 500},
                             headers=ADMIN)
        assert r.status_code == 200, r.text

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as db:
            await _nothing_lost_or_doubled(db, stations)
    finally:
        await engine.dispose()


async def open_a_locker(client: httpx.AsyncClient, topo: Topology, bay: int) -> None:
    """Through the balancer (any REST node) and Redis to the node holding the bay's socket, over
    OCPP to the bridge at the site and its board; the door event comes back to the audit log."""
    identity = f"LOCKER-T-{bay:02d}"

    async def registered() -> dict[str, Any] | None:
        r = await client.get(f"{topo.url('lb')}/lockers", headers=ADMIN)
        return next((x for x in r.json()["items"] if x["identity"] == identity), None)
    locker = await until(registered, f"{identity} registered by its bay", topo)
    r = await client.post(f"{topo.url('lb')}/lockers/{locker['id']}/open", headers=ADMIN)
    assert r.status_code == 200 and r.json()["door"] == "open", r.text

    async def door_event() -> bool:
        r = await client.get(f"{topo.url('lb')}/api/logs", params={"lockerId": locker["id"]},
                             headers=ADMIN)
        return any(e["action"] == "door.opened" and e["actor"] == "board" for e in r.json()["items"])
    await until(door_event, f"{identity}'s door event in the audit log", topo)


async def _nothing_lost_or_doubled(db: Any, stations: list[Station]) -> None:
    def q(sql: str) -> Any:
        return db.execute(sa.text(sql))

    calls = Counter((r[0], r[1]) for r in await q(
        "SELECT charge_point_id, message_id FROM messages WHERE charge_point_id LIKE 'MN-%' "
        "AND direction = 'in' AND message_type = 2"))
    results = Counter((r[0], r[1]) for r in await q(
        "SELECT charge_point_id, message_id FROM messages WHERE charge_point_id LIKE 'MN-%' "
        "AND direction = 'out' AND message_type = 3"))
    starts = {(r[0], r[1]): (r[0], r[2], r[3]) for r in await q(
        "SELECT charge_point_id, id, connector_id, meter_start FROM transactions "
        "WHERE charge_point_id LIKE 'MN-%'")}  # (charge point, id) -> what its start said
    transactions = Counter(starts.keys())
    stopped = {r[0] for r in await q(
        "SELECT id FROM transactions WHERE charge_point_id LIKE 'MN-%' AND stop_timestamp IS NOT NULL")}
    stored_samples = {(r[0], r[1], utc(r[2]), r[3], r[4]) for r in await q(
        "SELECT charge_point_id, connector_id, timestamp, measurand, phase FROM meter_values "
        "WHERE charge_point_id LIKE 'MN-%' AND source = 'MeterValues'")}
    doubled_samples = (await q(
        "SELECT count(*) FROM (SELECT 1 FROM meter_values WHERE charge_point_id LIKE 'MN-%' "
        "GROUP BY charge_point_id, connector_id, timestamp, measurand, phase, source "
        "HAVING count(*) > 1) AS d")).scalar_one()

    assert not [k for k, n in calls.items() if n > 1], "a call was logged twice"
    assert doubled_samples == 0, "a meter value was stored twice"
    totals = Counter[str]()
    confirmed: set[tuple[str, int]] = set()
    answered_samples: set[tuple[Any, ...]] = set()
    unanswered_samples: set[tuple[Any, ...]] = set()
    unanswered_starts: set[tuple[str, int, int]] = set()
    for st in stations:
        sent, answers = calls_of(st)
        for uid, (action, payload) in sent.items():
            if uid not in answers:
                if action == "MeterValues":
                    unanswered_samples |= samples_of(st.identity, payload)
                elif action == "StartTransaction":
                    unanswered_starts.add((st.identity, payload["connectorId"], payload["meterStart"]))
                continue
            key = (st.identity, uid)
            assert calls[key] == 1, f"{st.identity} {action} {uid} answered but not logged"
            assert results[key] == 1, f"{st.identity} {action} {uid}: its answer is not logged"
            if action == "StartTransaction":
                tx = answers[uid]["transactionId"]
                assert transactions[(st.identity, tx)] == 1, f"transaction {tx} lost"
                confirmed.add((st.identity, tx))
                totals["started"] += 1
            elif action == "StopTransaction":
                assert payload["transactionId"] in stopped, f"stop of {payload['transactionId']} lost"
                totals["stopped"] += 1
            elif action == "MeterValues":
                samples = samples_of(st.identity, payload)
                assert samples <= stored_samples, f"{st.identity} {uid}: meter values lost"
                answered_samples |= samples
                totals["meter_calls"] += 1
    # Stored beyond the answered: only what a node committed but could not answer (it was killed,
    # or the station hung up first); never anything a station did not send.
    assert stored_samples - answered_samples <= unanswered_samples
    # every transaction the store holds was confirmed to its station (none invented twice), or
    # is a start the station sent but heard no answer to (it was stopped with the call in flight)
    assert confirmed <= set(transactions)
    assert {starts[key] for key in set(transactions) - confirmed} <= unanswered_starts
    assert totals["started"] > 50 and totals["stopped"] > 20 and totals["meter_calls"] > 200, totals
