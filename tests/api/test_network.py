"""The network's totals and problems (GET /api/v1/network/summary, /problems) and the sorted list.

Real charge points over real websockets: one charging with a meter value, one with a faulted
connector that then goes offline, one whose boot is rejected; the totals must count the online
ones only, the problems list each kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from ocpp.v16 import call

from api.routes.charge_points import Sort
from chargebay.stack import Stack
from csms.queries.charge_points import SORTS
from tests.api.resources import ADMIN, BOOT, ok
from tests.csms.raw_station import at, raw_station
from tests.ocpp_client import connect

SUMMARY = "/api/v1/network/summary"
PROBLEMS = "/api/v1/network/problems"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"stuck_transaction_after": 3.0, "accept_unknown_id_tags": True}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        yield client


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def status(connector: int, state: str, error_code: str = "NoError") -> Any:
    return call.StatusNotification(connector_id=connector, status=state, error_code=error_code)


async def until(http: httpx.AsyncClient, path: str, check: Any, timeout: float = 20.0) -> Any:
    """The first answer of ``path`` that ``check`` accepts (touches are written every 2 s)."""
    async with asyncio.timeout(timeout):
        while True:
            found = ok(await http.get(path))
            if check(found):
                return found
            await asyncio.sleep(0.2)


async def test_totals_count_online_charge_points_and_problems_name_each_kind(
        stack: Stack, http: httpx.AsyncClient) -> None:
    ok(await http.post("/api/v1/charge-points", json={"id": "NET-REJ", "registration_status": "Rejected"}), 201)
    async with connect(stack.ws_url, "NET-1") as cp1:
        await cp1.call(BOOT)
        await cp1.call(status(1, "Charging"))
        async with connect(stack.ws_url, "NET-2") as cp2:
            await cp2.call(BOOT)
            await cp2.call(status(1, "Finishing"))
            await cp2.call(status(2, "Faulted", "GroundFailure"))
            faulted = await until(http, PROBLEMS + "?kind=faulted", lambda p: p["total"] == 1)
            assert faulted["items"][0] | {"since": None} == {
                "kind": "faulted", "charge_point_id": "NET-2", "connector_id": 2, "transaction_id": None,
                "since": None, "detail": "GroundFailure"}
        async with connect(stack.ws_url, "NET-REJ") as rejected:
            assert (await rejected.call(BOOT)).status == "Rejected"
        started = await cp1.call(call.StartTransaction(connector_id=1, id_tag="NET-TAG", meter_start=1000,
                                                       timestamp=now()))
        await cp1.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
            {"timestamp": now(), "sampledValue": [
                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}]}]))
        summary = await until(http, SUMMARY, lambda s: s["power_kw"] == 7.4)
        # NET-2 went offline: its Finishing and Faulted connectors count no more
        assert summary["charge_points"] == {"total": 3, "online": 1, "offline": 2}
        assert summary["connectors"] == {"Charging": 1}
        assert (summary["charging"], summary["faulted"], summary["sessions_open"]) == (1, 0, 1)
        assert summary["energy_kwh"] == 0.5
        assert summary["problems"]["faulted"] == 0
        assert summary["problems"]["offline"] == 2  # NET-2 and the rejected one, both seen once
        assert summary["problems"]["boot_rejected"] == 1
        # no meter value for 3 s: the session is listed as stuck, with its tag
        stuck = await until(http, PROBLEMS + "?kind=stuck_transaction", lambda p: p["total"] == 1)
        assert stuck["items"][0]["transaction_id"] == started.transaction_id
        assert stuck["items"][0]["detail"] == "NET-TAG"
        everything = ok(await http.get(PROBLEMS))
        assert sorted(p["kind"] for p in everything["items"]) == [
            "boot_rejected", "offline", "offline", "stuck_transaction"]
        since = ok(await http.get(SUMMARY, params={"since": "2999-01-01T00:00:00Z"}))
        assert since["energy_kwh"] == 0 and since["energy_since"].startswith("2999-01-01T00:00:00")


async def test_the_list_sorts_by_last_seen_with_never_seen_last(stack: Stack, http: httpx.AsyncClient) -> None:
    ok(await http.post("/api/v1/charge-points", json={"id": "AAA-NEVER"}), 201)
    for cp_id in ("SRT-1", "SRT-2"):
        async with connect(stack.ws_url, cp_id) as cp:
            await cp.call(BOOT)
        await asyncio.sleep(0.05)
    seen = await until(http, "/api/v1/charge-points?sort=-last_seen",
                       lambda p: [c["id"] for c in p["items"]] == ["SRT-2", "SRT-1", "AAA-NEVER"])
    assert seen["total"] == 3
    by_id = ok(await http.get("/api/v1/charge-points", params={"sort": "-id"}))
    assert [c["id"] for c in by_id["items"]] == ["SRT-2", "SRT-1", "AAA-NEVER"]
    assert (await http.get("/api/v1/charge-points", params={"sort": "password_hash"})).status_code == 422


def test_every_sort_the_api_offers_is_a_column_the_query_knows() -> None:
    assert set(get_args(Sort)) == {*SORTS, *(f"-{key}" for key in SORTS)}


async def test_a_register_alone_gives_a_draw_and_a_201_session_charges_by_its_charging_state(
        stack: Stack, http: httpx.AsyncClient) -> None:
    """kW now from a charge point that samples only its energy register (1.6's default
    MeterValuesSampledData): the register's rise between two readings; a 2.0.1 session counts as
    charging by its chargingState (its connector only says Occupied)."""
    async with raw_station(stack.ws_url, "NET-REG") as cp16, raw_station(stack.ws_url, "NET-201", "2.0.1") as cp201:
        started = datetime.now(UTC) - timedelta(minutes=5)
        await cp16.call("StatusNotification", {"connectorId": 1, "status": "Charging", "errorCode": "NoError"})
        tx = (await cp16.call("StartTransaction", {"connectorId": 1, "idTag": "NET-TAG", "meterStart": 1000,
                                                   "timestamp": at(since=started)}))["transactionId"]

        async def register(seconds: float, wh: int) -> None:
            await cp16.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": at(seconds, started), "sampledValue": [{"value": str(wh)}]}]})

        await register(60, 1100)
        first = await until(http, SUMMARY, lambda s: s["sessions_open"] == 1)
        await cp201.call("StatusNotification", {"timestamp": at(), "connectorStatus": "Occupied", "evseId": 1,
                                                "connectorId": 1})
        await cp201.call("TransactionEvent", {
            "eventType": "Started", "timestamp": at(), "triggerReason": "ChargingStateChanged", "seqNo": 0,
            "transactionInfo": {"transactionId": "NET-201-TX", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1}})
        await register(120, 1300)  # 200 Wh in 60 s: 12 kW
        summary = await until(http, SUMMARY, lambda s: s["power_kw"] == 12.0 and s["charging"] == 2)
        assert first["sessions_without_power"] == 1  # one reading: no draw known yet
        assert summary["sessions_open"] == 2 and summary["sessions_without_power"] == 1  # the 2.0.1 one
        assert summary["connectors"] == {"Charging": 1, "Occupied": 1}
        charging = ok(await http.get("/api/v1/charge-points", params={"status": "Charging"}))
        assert sorted(c["id"] for c in charging["items"]) == ["NET-201", "NET-REG"]
        await cp201.call("TransactionEvent", {
            "eventType": "Updated", "timestamp": at(), "triggerReason": "ChargingStateChanged", "seqNo": 1,
            "transactionInfo": {"transactionId": "NET-201-TX", "chargingState": "SuspendedEV"}})
        await until(http, SUMMARY, lambda s: s["charging"] == 1)
