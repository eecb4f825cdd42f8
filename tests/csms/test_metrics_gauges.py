"""The fleet gauges of /metrics (issue #21) against raw charge points over real websockets:
connector statuses of online charge points by OCPP version, charge points offline, sessions open,
power now and energy today per site (a top-level load group; none: in no group), on both ports,
and the same at every node of a cluster (they are read from the shared store)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chargebay.stack import Stack
from csms.energy.config import GroupSpec
from csms.energy.state import Layout
from csms.exposition import midnight, sites_of
from tests.api.auth_helpers import ADMIN
from tests.api.resources import eventually
from tests.csms.raw_station import RawStation, at, raw_station
from tests.csms.test_cluster import two_nodes

BUDGET = 60.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": True, "load_period": 0.05}


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=20) as client:
        answer = await client.get(f"{url}/metrics")
    assert answer.status_code == 200, answer.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def meter(energy_wh: float, power_w: float | None = None, version: str = "1.6") -> list[dict[str, Any]]:
    """One meterValue: the energy register and, if given, the draw; 1.6 values are text."""
    shown = str if version == "1.6" else (lambda v: v)
    sampled = [{"value": shown(energy_wh), "measurand": "Energy.Active.Import.Register"}]
    if power_w is not None:
        sampled.append({"value": shown(power_w), "measurand": "Power.Active.Import"})
    return [{"timestamp": at(), "sampledValue": sampled}]


async def start16(cp: RawStation, connector: int, meter_start: int, timestamp: str | None = None) -> int:
    answer = await cp.call("StartTransaction", {"connectorId": connector, "idTag": cp.cp_id,
                                                "meterStart": meter_start, "timestamp": timestamp or at()})
    return int(answer["transactionId"])


async def status16(cp: RawStation, connector: int, status: str) -> None:
    await cp.call("StatusNotification", {"connectorId": connector, "status": status, "errorCode": "NoError",
                                         "timestamp": at()})


async def groups(stack: Stack) -> None:
    """Site "depot" (its day in Berlin) with a feeder: CP-M-A whole in the feeder, connector 1 of
    CP-M-B (2.0.1) in the depot itself; the other charge points are in no group."""
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        depot = await client.post("/api/v1/load-groups", json={
            "name": "depot", "limit": 100_000, "unit": "W", "timezone": "Europe/Berlin", "members": [
                {"kind": "connector", "charge_point_id": "CP-M-B", "connector_id": 1, "rating": 22_000}]})
        assert depot.status_code == 201, depot.text
        feeder = await client.post("/api/v1/load-groups", json={
            "name": "feeder", "limit": 50_000, "unit": "W", "parent_id": depot.json()["id"],
            "members": [{"charge_point_id": "CP-M-A", "rating": 22_000}]})
        assert feeder.status_code == 201, feeder.text


async def test_the_gauges_follow_statuses_sessions_and_meter_values(stack: Stack) -> None:
    await groups(stack)
    async with asyncio.timeout(BUDGET), raw_station(stack.ws_url, "CP-M-A") as a, \
            raw_station(stack.ws_url, "CP-M-B", "2.0.1") as b, raw_station(stack.ws_url, "CP-M-C") as c:
        async with raw_station(stack.ws_url, "CP-M-GONE"):
            pass  # known, offline
        await status16(a, 1, "Charging")
        await status16(a, 2, "Available")
        tx_a = await start16(a, 1, 1000)
        await a.call("MeterValues", {"connectorId": 1, "transactionId": tx_a, "meterValue": meter(3500, 7000)})
        await b.call("StatusNotification", {"timestamp": at(), "connectorStatus": "Occupied", "evseId": 1,
                                            "connectorId": 1})
        await b.call("TransactionEvent", {
            "eventType": "Started", "timestamp": at(), "triggerReason": "CablePluggedIn", "seqNo": 0,
            "transactionInfo": {"transactionId": "RAW-B"}, "evse": {"id": 1, "connectorId": 1},
            "meterValue": meter(500, 11_000, "2.0.1")})
        await b.call("TransactionEvent", {
            "eventType": "Updated", "timestamp": at(), "triggerReason": "MeterValuePeriodic", "seqNo": 1,
            "transactionInfo": {"transactionId": "RAW-B"}, "meterValue": meter(2500, 11_000, "2.0.1")})
        await status16(c, 1, "Faulted")
        await status16(c, 2, "Available")  # every connector reports at boot (a session is counted by its connector)
        tx_c = await start16(c, 2, 0)  # a session of today already over: 4 kWh, in no group
        await c.call("StopTransaction", {"transactionId": tx_c, "meterStop": 4000, "timestamp": at()})

        async def all_in() -> None:
            for url in (stack.http_url, f"http://127.0.0.1:{stack.ws_port}"):  # both ports say the same
                got = await scrape(url)
                assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Charging") == 1
                assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Available") == 2
                assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Faulted") == 1
                assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Preparing") == 0
                assert value(got, "chargebay_connectors", ocpp_version="2.0.1", status="Occupied") == 1
                assert value(got, "chargebay_connectors", ocpp_version="2.0.1", status="Available") == 0
                assert value(got, "chargebay_charge_points_offline") == 1
                assert value(got, "chargebay_sessions_open") == 2
                assert value(got, "chargebay_site_power_watts", site="depot") == 18_000  # the feeder's too
                assert value(got, "chargebay_site_power_watts", site="none") == 0
                assert value(got, "chargebay_site_energy_today_wh", site="depot") == 2500 + 2000
                assert value(got, "chargebay_site_energy_today_wh", site="none") == 4000
                assert value(got, "chargebay_site_power_watts", site="feeder") is None  # a feeder is no site
        await eventually(all_in, 30.0)  # touches every 2 s, gauges read at most once a second

        await a.call("StopTransaction", {"transactionId": tx_a, "meterStop": 3600, "timestamp": at()})
        await status16(a, 1, "Finishing")

        async def a_stopped() -> None:
            got = await scrape(stack.http_url)
            assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Charging") == 0
            assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Finishing") == 1
            assert value(got, "chargebay_sessions_open") == 1
            assert value(got, "chargebay_site_power_watts", site="depot") == 11_000
            assert value(got, "chargebay_site_energy_today_wh", site="depot") == 2600 + 2000
        await eventually(a_stopped, 30.0)
        await b.ws.close()  # its session is open still, but on a charge point offline

        async def b_gone() -> None:
            got = await scrape(stack.http_url)
            assert value(got, "chargebay_connectors", ocpp_version="2.0.1", status="Occupied") == 0
            assert value(got, "chargebay_charge_points_offline") == 2
            assert value(got, "chargebay_sessions_open") == 0
            assert value(got, "chargebay_site_power_watts", site="depot") == 0
            assert value(got, "chargebay_site_energy_today_wh", site="depot") == 2600 + 2000  # delivered is delivered
            assert value(got, "chargebay_fleet_gauges_read_seconds") is not None
        await eventually(b_gone, 30.0)


async def test_today_begins_at_the_sites_midnight(stack: Stack) -> None:
    """A session counts for today when it started after midnight in its site's time zone: a
    site far east of UTC has begun its day hours before UTC has (none's day is UTC's)."""
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        created = await client.post("/api/v1/load-groups", json={
            "name": "kiritimati", "limit": 100_000, "unit": "W", "timezone": "Pacific/Kiritimati",
            "members": [{"charge_point_id": "CP-M-EAST", "rating": 22_000}]})
        assert created.status_code == 201, created.text
    now = datetime.now(UTC)
    east, utc = midnight(now, "Pacific/Kiritimati"), midnight(now, "UTC")
    async with asyncio.timeout(BUDGET), raw_station(stack.ws_url, "CP-M-EAST") as e, \
            raw_station(stack.ws_url, "CP-M-WEST") as w:
        for cp, day in ((e, east), (w, utc)):
            for connector in (1, 2):
                await status16(cp, connector, "Available")
            for connector, (offset, delivered) in enumerate(((-60, 1000), (60, 300)), start=1):
                tx = await start16(cp, connector, 0, at(offset, since=day))  # a minute before, after
                await cp.call("StopTransaction", {"transactionId": tx, "meterStop": delivered,
                                                  "timestamp": at(offset + 30, since=day)})

        async def counted() -> None:
            got = await scrape(stack.http_url)
            assert value(got, "chargebay_site_energy_today_wh", site="kiritimati") == 300
            assert value(got, "chargebay_site_energy_today_wh", site="none") == 300
        await eventually(counted, 30.0)


async def test_every_node_reports_the_same_fleet_gauges(db_url: str, redis_url: str) -> None:
    """Read from the shared store, the fleet gauges are the same at every node (take max, not
    sum): n2, which holds no socket, reports n1's charge point. (Both nodes run in this process,
    so they share one registry: each node's own counters are not told apart here.)"""
    async with asyncio.timeout(BUDGET), two_nodes(db_url, redis_url) as (n1, n2), \
            raw_station(n1.ws_url, "CP-M-N1") as cp:
        await status16(cp, 1, "Charging")
        tx = await start16(cp, 1, 100)
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": meter(600, 3700)})

        async def same() -> None:
            one, two = await scrape(n1.http_url), await scrape(n2.http_url)
            for got in (one, two):
                assert value(got, "chargebay_connectors", ocpp_version="1.6", status="Charging") == 1
                assert value(got, "chargebay_sessions_open") == 1
                assert value(got, "chargebay_site_power_watts", site="none") == 3700
                assert value(got, "chargebay_site_energy_today_wh", site="none") == 500
        await eventually(same, 30.0)


def test_a_site_is_the_top_level_group_with_its_time_zone() -> None:
    layout = Layout.of([GroupSpec(1, "site", 100, timezone="Europe/Berlin"),
                        GroupSpec(2, "feeder", 50, parent_id=1), GroupSpec(3, "bay", 10, parent_id=2),
                        GroupSpec(4, "other", 10)], [])
    assert sites_of(layout) == {1: ("site", "Europe/Berlin"), 2: ("site", "Europe/Berlin"),
                                3: ("site", "Europe/Berlin"), 4: ("other", "UTC")}
    winter = datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
    assert midnight(winter, "Europe/Berlin") == datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    assert midnight(winter, "UTC") == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 21, 59, tzinfo=UTC)  # 23:59 in Berlin, summer time
    assert midnight(summer, "Europe/Berlin") == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
