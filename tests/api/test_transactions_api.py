"""The transaction resource: list, one with its meter values, CSV export.

Charge points talk OCPP over real websockets (the `ocpp` library); the API is called over real
HTTP; everything lands in a real SQLite file.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.resources import (
    ADMIN,
    BOOT,
    BUDGET,
    TAG_API,
    TX_API,
    error,
    ids,
    ok,
)
from tests.ocpp_client import connect


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as client:
        yield client


# -- transactions -----------------------------------------------------------------------------
async def charge(stack: Stack, http: httpx.AsyncClient) -> dict[str, int]:
    """Three real sessions: two finished on CP-T1, one still running on CP-T2."""
    for tag in ("TAG-A", "TAG-B", "TAG-C"):
        ok(await http.post(TAG_API, json={"id_tag": tag}), 201)
    async with connect(stack.ws_url, "CP-T1") as cp1, connect(stack.ws_url, "CP-T2") as cp2:
        await cp1.call(BOOT)
        await cp2.call(BOOT)
        s1 = await cp1.call(call.StartTransaction(connector_id=1, id_tag="TAG-A", meter_start=1000,
                                                  timestamp="2026-03-01T10:00:00Z"))
        tx1 = s1.transaction_id
        await cp1.call(call.MeterValues(connector_id=1, transaction_id=tx1, meter_value=[
            {"timestamp": "2026-03-01T10:15:00Z", "sampledValue": [
                {"value": "1400", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
                 "unit": "Wh"},
                {"value": "7.4", "measurand": "Power.Active.Import", "phase": "L1", "unit": "kW"}]},
            {"timestamp": "2026-03-01T10:30:00Z", "sampledValue": [
                {"value": "1800", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        await cp1.call(call.StopTransaction(
            meter_stop=2500, timestamp="2026-03-01T11:00:00Z", transaction_id=tx1, reason="EVDisconnected",
            id_tag="TAG-A", transaction_data=[{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [
                {"value": "2500", "context": "Transaction.End", "unit": "Wh"}]}]))
        s2 = await cp2.call(call.StartTransaction(connector_id=1, id_tag="TAG-B", meter_start=50,
                                                  timestamp="2026-03-02T10:00:00Z"))
        s3 = await cp1.call(call.StartTransaction(connector_id=2, id_tag="TAG-C", meter_start=0,
                                                  timestamp="2026-03-03T10:00:00Z"))
        await cp1.call(call.StopTransaction(meter_stop=300, timestamp="2026-03-03T10:30:00Z",
                                            transaction_id=s3.transaction_id))
    return {"tx1": tx1, "tx2": s2.transaction_id, "tx3": s3.transaction_id}


async def test_transactions_list_filters_and_pages(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        t = await charge(stack, http)
        tx1, tx2, tx3 = t["tx1"], t["tx2"], t["tx3"]

        async def listed(**params: Any) -> list[int]:
            return ids(ok(await http.get(TX_API, params=params)))

        everything = ok(await http.get(TX_API))
        assert ids(everything) == [tx3, tx2, tx1] and everything["total"] == 3
        by_id = {i["id"]: i for i in everything["items"]}
        first = by_id[tx1]
        assert (first["charge_point_id"], first["connector_id"], first["id_tag"], first["id_tag_status"],
                first["meter_start"], first["meter_stop"], first["energy_wh"], first["active"],
                first["start_timestamp"], first["stop_timestamp"], first["stop_reason"], first["stop_id_tag"]) == (
            "CP-T1", 1, "TAG-A", "Accepted", 1000, 2500, 1500, False,
            "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", "EVDisconnected", "TAG-A")
        running = by_id[tx2]
        assert (running["active"], running["meter_stop"], running["energy_wh"], running["stop_timestamp"]) == (
            True, None, 0, None)  # running, no reading yet: nothing so far
        assert ok(await http.get(f"{TX_API}/{tx2}"))["energy_wh"] == 0  # the detail says the same
        assert by_id[tx3]["energy_wh"] == 300 and by_id[tx3]["connector_id"] == 2

        assert await listed(charge_point_id="CP-T1") == [tx3, tx1]
        assert await listed(charge_point_id="CP-NONE") == []
        assert await listed(id_tag="TAG-B") == [tx2]
        assert await listed(active="true") == [tx2]
        assert await listed(active="false") == [tx3, tx1]
        assert await listed(since="2026-03-02T00:00:00Z") == [tx3, tx2]
        assert await listed(since="2026-03-02T10:00:00Z") == [tx3, tx2]     # since is inclusive
        assert await listed(until="2026-03-02T10:00:00Z") == [tx1]          # until is exclusive
        assert await listed(since="2026-03-02T00:00:00Z", until="2026-03-03T00:00:00Z") == [tx2]
        assert await listed(until="2026-03-02T01:00:00+02:00") == [tx1]     # 2026-03-01T23:00Z
        assert await listed(charge_point_id="CP-T1", active="false", since="2026-03-02T00:00:00Z") == [tx3]

        p = ok(await http.get(TX_API, params={"page_size": 2, "page": 2}))
        assert (ids(p), p["total"], p["page"], p["page_size"]) == ([tx1], 3, 2, 2)
        p = ok(await http.get(TX_API, params={"page_size": 1, "page": 1, "charge_point_id": "CP-T1"}))
        assert (ids(p), p["total"]) == ([tx3], 2)

        error(await http.get(TX_API, params={"active": "maybe"}), 422, "ValidationError")
        error(await http.get(TX_API, params={"since": "last week"}), 422, "ValidationError")


async def test_one_transaction_with_its_meter_values(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        t = await charge(stack, http)
        tx = ok(await http.get(f"{TX_API}/{t['tx1']}"))
        listed = {i["id"]: i for i in ok(await http.get(TX_API))["items"]}[t["tx1"]]
        assert tx.pop("samples_outside_window") == 0
        assert (tx.pop("events"), tx.pop("seq_gaps")) == (None, None)  # a 1.6 transaction: no TransactionEvents
        assert {k: v for k, v in tx.items() if k != "meter_values"} == listed
        assert [(m["timestamp"], m["value"], m["measurand"], m["unit"], m["source"], m["connector_id"])
                for m in tx["meter_values"]] == [
            ("2026-03-01T10:15:00Z", "1400", "Energy.Active.Import.Register", "Wh", "MeterValues", 1),
            ("2026-03-01T10:15:00Z", "7.4", "Power.Active.Import", "kW", "MeterValues", 1),
            ("2026-03-01T10:30:00Z", "1800", "Energy.Active.Import.Register", "Wh", "MeterValues", 1),
            ("2026-03-01T11:00:00Z", "2500", None, "Wh", "StopTransaction", 1)]
        assert tx["meter_values"][0]["context"] == "Sample.Periodic"
        assert tx["meter_values"][1]["phase"] == "L1"
        assert tx["meter_values"][3]["context"] == "Transaction.End"
        for m in tx["meter_values"]:
            assert "charge_point_id" not in m and "transaction_id" not in m

        running = ok(await http.get(f"{TX_API}/{t['tx2']}"))
        assert running["active"] is True and running["meter_values"] == []

        error(await http.get(f"{TX_API}/999999"), 404, "TransactionNotFound")
        error(await http.get(f"{TX_API}/abc"), 422, "ValidationError")


@pytest.mark.parametrize("params", [
    {},
    {"charge_point_id": "CP-T1"},
    {"id_tag": "TAG-B"},
    {"active": "true"},
    {"active": "false"},
    {"since": "2026-03-02T00:00:00Z"},
    {"until": "2026-03-02T00:00:00Z"},
    {"since": "2026-03-02T00:00:00Z", "until": "2026-03-03T00:00:00Z", "charge_point_id": "CP-T2"},
    {"charge_point_id": "CP-NONE"},
])
async def test_csv_export_matches_the_json_list(stack: Stack, http: httpx.AsyncClient,
                                                params: dict[str, str]) -> None:
    async with asyncio.timeout(BUDGET):
        await charge(stack, http)
        r = await http.get(f"{TX_API}/export.csv", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        assert "transactions.csv" in r.headers["content-disposition"]
        reader = csv.DictReader(io.StringIO(r.text))
        assert reader.fieldnames == [
            "id", "charge_point_id", "connector_id", "id_tag", "id_tag_status", "meter_start",
            "start_timestamp", "reservation_id", "meter_stop", "stop_timestamp", "stop_reason",
            "stop_id_tag", "end_source", "ended_by", "end_detail", "last_activity_at", "created_at",
            "station_transaction_id", "remote_start_id", "start_reason", "id_token", "energy_wh"]
        rows = list(reader)
        items = ok(await http.get(TX_API, params={**params, "page_size": 1000}))["items"]
        assert len(rows) == len(items)
        for row, item in zip(rows, items, strict=True):
            assert row == {k: "" if item[k] is None else str(item[k]) for k in reader.fieldnames}


async def test_csv_export_needs_valid_filters(stack: Stack, http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BUDGET):
        error(await http.get(f"{TX_API}/export.csv", params={"active": "maybe"}), 422, "ValidationError")
        r = await http.get(f"{TX_API}/export.csv")
        assert r.status_code == 200 and r.text.strip().startswith("id,charge_point_id,")
        assert len(r.text.strip().splitlines()) == 1  # only the header
