"""Issue #13 items 2, 12 and 13 on the central system's side: transactions a charge point forgot
end (superseded, rebooted, stale, closed by an operator) and stop counting for ConcurrentTx; a
StopTransaction without a reason is Local, and the same stop resent a little later is a replay;
meter values that arrive outside their transaction's window are flagged and left out of its sums.

Everything here runs against the real stack on real sockets, with charge points written with the
`ocpp` library."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import select, update

from chargebay.stack import Stack
from csms.store.models import Transaction
from csms.timeutil import iso, now_utc, utc
from tests.conftest import ADMIN_TOKEN
from tests.helpers import add_id_tag, rows
from tests.ocpp_client import connect

BOOT = call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall-22")


def at(offset_s: float = 0.0) -> str:
    return iso(now_utc() + timedelta(seconds=offset_s))  # type: ignore[return-value]


async def start(cp: Any, tag: str, connector: int = 1, meter: int = 0) -> Any:
    return await cp.call(call.StartTransaction(connector_id=connector, id_tag=tag,
                                               meter_start=meter, timestamp=at()))


async def meter(cp: Any, tx: int, wh: int, offset_s: float = 0.0, connector: int = 1) -> None:
    await cp.call(call.MeterValues(connector_id=connector, transaction_id=tx, meter_value=[
        {"timestamp": at(offset_s), "sampled_value": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "3500", "measurand": "Power.Active.Import", "unit": "W"}]}]))


async def status(cp: Any, connector: int, value: str) -> None:
    await cp.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                          status=value))


async def tx_row(stack: Stack, tx: int) -> dict[str, Any]:
    [row] = await rows(stack, "SELECT * FROM transactions WHERE id = :id", id=tx)
    return dict(row)


async def age_all(stack: Stack, by: timedelta) -> None:
    """Make every transaction look started and last heard of ``by`` ago."""
    table = Transaction.__table__
    async with stack.central.engine.begin() as conn:
        await conn.execute(update(table).values(last_activity_at=now_utc() - by,
                                                created_at=now_utc() - by))


async def last_heard(stack: Stack, tx: int) -> datetime:
    table = Transaction.__table__
    await stack.central.writer.flush()
    async with stack.central.engine.connect() as conn:
        value = (await conn.execute(select(table.c.last_activity_at).where(table.c.id == tx))).scalar_one()
    return utc(value)  # type: ignore[return-value]


def api(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.http_url, timeout=10,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


async def test_a_start_on_a_busy_connector_supersedes_the_forgotten_transaction(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-S")
    async with connect(stack.ws_url, "CP-SUP") as cp:
        await cp.call(BOOT)
        first = await start(cp, "TAG-S", meter=1000)
        await meter(cp, first.transaction_id, 1012)
        # the charge point forgot it (killed mid-charge) and starts again on the same connector
        second = await start(cp, "TAG-S", meter=1012)
        assert second.id_tag_info["status"] == "Accepted"  # was ConcurrentTx: the tag was stuck
    old = await tx_row(stack, first.transaction_id)
    assert old["stop_timestamp"] is not None and old["end_source"] == "superseded"
    assert old["stop_reason"] == "Other" and old["meter_stop"] == 1012  # its last known register
    assert "connector 1" in old["end_detail"]
    assert (await tx_row(stack, second.transaction_id))["stop_timestamp"] is None


async def test_a_reboot_that_reports_the_connector_available_ends_what_ran_there(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-R")
    async with connect(stack.ws_url, "CP-RB") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-R", connector=1, meter=0)).transaction_id
        await meter(cp, tx, 12)
        kept = (await start(cp, "TAG-R2", connector=2)).transaction_id
    await add_id_tag(stack, "TAG-R2")
    async with connect(stack.ws_url, "CP-RB") as cp:  # back after a kill: it remembers nothing
        await cp.call(BOOT)
        await status(cp, 0, "Available")  # the charge point as a whole says nothing of connectors
        await status(cp, 2, "Charging")  # connector 2 carried on (a bridge bay that continues)
        await status(cp, 1, "Available")
        await status(cp, 1, "Available")
    ended = await tx_row(stack, tx)
    assert ended["stop_timestamp"] is not None, "still open after the reboot"
    assert ended["end_source"] == "rebooted" and ended["meter_stop"] == 12
    assert "connector 1 Available" in ended["end_detail"]
    assert (await tx_row(stack, kept))["stop_timestamp"] is None
    # an Available later in the same session, not the first after a boot, ends nothing
    async with connect(stack.ws_url, "CP-RB") as cp:
        await cp.call(BOOT)
        await status(cp, 2, "Charging")
        await status(cp, 2, "Available")
    assert (await tx_row(stack, kept))["stop_timestamp"] is None
    # and the tag is free everywhere again
    async with connect(stack.ws_url, "CP-OTHER") as cp:
        await cp.call(BOOT)
        assert (await start(cp, "TAG-R")).id_tag_info["status"] == "Accepted"


async def test_the_charge_points_own_stop_replaces_a_provisional_ending(stack: Stack) -> None:
    """A charge point that was offline ends the transaction in its queue, reboots, reports the
    connector Available (the central system ends the transaction) and then replays its
    StopTransaction: its figures win, nothing is filed as a conflicting stop."""
    await add_id_tag(stack, "TAG-Q")
    async with connect(stack.ws_url, "CP-Q") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-Q")).transaction_id
        await meter(cp, tx, 5)
    async with connect(stack.ws_url, "CP-Q") as cp:
        await cp.call(BOOT)
        await status(cp, 1, "Available")
        assert (await tx_row(stack, tx))["stop_timestamp"] is not None
        assert (await tx_row(stack, tx))["end_source"] == "rebooted"
        await cp.call(call.StopTransaction(meter_stop=40, timestamp=at(), transaction_id=tx,
                                           reason="PowerLoss"))
    row = await tx_row(stack, tx)
    assert (row["meter_stop"], row["stop_reason"], row["end_source"]) == (40, "PowerLoss",
                                                                          "charge_point")
    assert "rebooted" in row["end_detail"]
    assert await rows(stack, "SELECT * FROM stop_records") == []


@pytest.mark.parametrize("settings_overrides", [{"stale_transaction_after": 3600}])
async def test_stale_transactions_stop_counting_and_the_sweep_ends_them(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-ST")
    async with connect(stack.ws_url, "CP-GONE") as cp:
        await cp.call(BOOT)
        gone = (await start(cp, "TAG-ST")).transaction_id
    async with connect(stack.ws_url, "CP-LIVE") as live_cp:
        await live_cp.call(BOOT)
        await add_id_tag(stack, "TAG-LIVE")
        live = (await start(live_cp, "TAG-LIVE")).transaction_id
        await status(live_cp, 1, "Charging")
        # both silent for two hours: the one whose charge point is gone is stale, the one whose
        # charge point is online and says Charging is live (it sends no meter values, that's all)
        await age_all(stack, timedelta(hours=2))
        # before any sweep: the stale one no longer blocks its tag elsewhere
        async with connect(stack.ws_url, "CP-NEW") as cp:
            await cp.call(BOOT)
            assert (await start(cp, "TAG-ST")).id_tag_info["status"] == "Accepted"
            assert (await start(cp, "TAG-LIVE", connector=2)).id_tag_info["status"] == "ConcurrentTx"
        assert await stack.central.transactions.sweep() == 1
    swept = await tx_row(stack, gone)
    assert swept["end_source"] == "stale" and "stale after 3600 s" in swept["end_detail"]
    assert (await tx_row(stack, live))["stop_timestamp"] is None


async def test_a_meter_value_keeps_a_transaction_live(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-MV")
    async with connect(stack.ws_url, "CP-MV") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-MV")).transaction_id
        await age_all(stack, timedelta(days=2))
        await meter(cp, tx, 7)
        for _ in range(100):  # touches are written every couple of seconds
            if now_utc() - await last_heard(stack, tx) < timedelta(minutes=1):
                break
            await asyncio.sleep(0.1)
        assert now_utc() - await last_heard(stack, tx) < timedelta(minutes=1)
    assert await stack.central.transactions.sweep() == 0


async def test_an_operator_closes_a_stranded_transaction_over_rest(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-OP")
    async with connect(stack.ws_url, "CP-OP") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-OP", meter=100)).transaction_id
        await meter(cp, tx, 160)
    async with api(stack) as client:
        viewer = (await client.post("/api/v1/tokens", json={"name": "v", "role": "viewer"})).json()
        refused = await client.post(f"/api/v1/transactions/{tx}/close", json={"reason": "x"},
                                    headers={"Authorization": f"Bearer {viewer['token']}"})
        assert refused.status_code == 403
        bad = await client.post(f"/api/v1/transactions/{tx}/close", json={})
        assert bad.status_code == 422 and bad.json()["code"] == "ValidationError"
        res = await client.post(f"/api/v1/transactions/{tx}/close",
                                json={"reason": "charger replaced on site"})
        assert res.status_code == 200, res.text
        body = res.json()
        assert (body["active"], body["end_source"], body["ended_by"], body["meter_stop"],
                body["energy_wh"]) == (False, "operator", "CHARGEBAY_API_TOKEN (token 1)", 160, 60)
        assert body["end_detail"].startswith("charger replaced on site (closed at ")
        assert "given by" not in body["end_detail"]
        again = await client.post(f"/api/v1/transactions/{tx}/close", json={"reason": "again"})
        assert again.status_code == 409 and again.json()["code"] == "TransactionNotActive"
        missing = await client.post("/api/v1/transactions/999999/close", json={"reason": "x"})
        assert missing.status_code == 404 and missing.json()["code"] == "TransactionNotFound"
        given = await client.post("/api/v1/transactions/999999/close",
                                  json={"reason": "x", "meter_stop": -1})
        assert given.status_code == 422
    # names are free text: two operators' tokens may share one, the record tells them apart, and a
    # meter_stop typed in by hand is recorded as such, with the register it replaced
    await add_id_tag(stack, "TAG-OP3")
    async with connect(stack.ws_url, "CP-OP3") as cp:
        await cp.call(BOOT)
        typed = (await start(cp, "TAG-OP3", meter=100)).transaction_id
        await meter(cp, typed, 130)
    async with api(stack) as client:
        made = [(await client.post("/api/v1/tokens", json={"name": "ops", "role": "operator"})).json()
                for _ in range(2)]
        # a figure below the transaction's start is refused, not clamped and billed
        low = await client.post(f"/api/v1/transactions/{typed}/close",
                                json={"reason": "site visit", "meter_stop": 40})
        assert low.status_code == 422 and low.json()["code"] == "MeterStopBelowStart", low.text
        assert "meter_stop 40 Wh is below" in low.text
        res = await client.post(f"/api/v1/transactions/{typed}/close", json={"reason": "site visit",
                                                                             "meter_stop": 999999},
                                headers={"Authorization": f"Bearer {made[1]['token']}"})
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["ended_by"] == f"ops (token {made[1]['id']})" and made[0]["id"] != made[1]["id"]
        assert body["meter_stop"] == 999999
        assert body["end_detail"].endswith(f"; meter_stop 999999 Wh given by ops (token {made[1]['id']}) "
                                           "(last known register 130 Wh)")
    async with connect(stack.ws_url, "CP-OP2") as cp:
        await cp.call(BOOT)
        assert (await start(cp, "TAG-OP")).id_tag_info["status"] == "Accepted"


async def test_a_stop_without_reason_is_local_and_a_resend_is_a_replay(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-L")
    async with connect(stack.ws_url, "CP-L") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-L")).transaction_id
        ts = now_utc()
        await cp.call(call.StopTransaction(meter_stop=20, timestamp=iso(ts), transaction_id=tx))
        # the same stop again, 1 ms later (a charge point's shutdown race)
        await cp.call(call.StopTransaction(meter_stop=20, timestamp=iso(ts + timedelta(milliseconds=1)),
                                           transaction_id=tx))
        # a stop that says something else is kept as a conflict, with its reason defaulted too
        await cp.call(call.StopTransaction(meter_stop=25, timestamp=iso(ts), transaction_id=tx))
    assert (await tx_row(stack, tx))["stop_reason"] == "Local"
    [record] = await rows(stack, "SELECT kind, meter_stop, reason FROM stop_records")
    assert dict(record) == {"kind": "already_stopped", "meter_stop": 25, "reason": "Local"}


async def test_meter_values_outside_the_window_are_flagged_and_not_counted(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-W")
    async with connect(stack.ws_url, "CP-W") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-W", meter=1000)).transaction_id
        await meter(cp, tx, 1010, offset_s=-1)
        async with api(stack) as client:
            running = (await client.get(f"/api/v1/transactions/{tx}")).json()
            assert running["energy_wh"] == 10 and running["samples_outside_window"] == 0
            listed = (await client.get("/api/v1/transactions", params={"active": "true"})).json()
            assert [(t["id"], t["energy_wh"]) for t in listed["items"]] == [(tx, 10)]
        await cp.call(call.StopTransaction(meter_stop=1012, timestamp=at(), transaction_id=tx,
                                           reason="Local"))
        # late: the queue of a charge point that kept sampling after the stop
        await meter(cp, tx, 1030, offset_s=64)
        await meter(cp, tx, 1031, offset_s=-0.5)  # before the stop, but above its meterStop
        await meter(cp, 424242, 5)  # a transaction the central system never heard of
    flagged = await rows(stack, "SELECT transaction_id, value, outside_tx FROM meter_values "
                         "WHERE measurand = 'Energy.Active.Import.Register' ORDER BY id")
    assert [(r["value"], bool(r["outside_tx"])) for r in flagged] == [
        ("1010", False), ("1030", True), ("1031", True), ("5", True)]
    async with api(stack) as client:
        body = (await client.get(f"/api/v1/transactions/{tx}")).json()
    assert body["energy_wh"] == 12 and body["samples_outside_window"] == 4
    assert [m["outside_tx"] for m in body["meter_values"]].count(True) == 4


async def test_a_refused_transaction_never_counts_for_concurrent_tx(stack: Stack) -> None:
    """A charge point that keeps charging a refused start (ConcurrentTx) and never stops it must
    not lock its tag out once the accepted transaction is over."""
    await add_id_tag(stack, "TAG-ONE")
    async with connect(stack.ws_url, "CP-REF") as cp:
        await cp.call(BOOT)
        first = await start(cp, "TAG-ONE", connector=1)
        assert first.id_tag_info["status"] == "Accepted"
        refused = await start(cp, "TAG-ONE", connector=2)
        assert refused.id_tag_info["status"] == "ConcurrentTx"  # and never stopped
        await cp.call(call.StopTransaction(meter_stop=10, timestamp=at(),
                                           transaction_id=first.transaction_id))
        again = await start(cp, "TAG-ONE", connector=3)
        assert again.id_tag_info["status"] == "Accepted"
    assert (await tx_row(stack, refused.transaction_id))["stop_timestamp"] is None


async def test_the_charge_points_own_stop_judges_the_samples_again(stack: Stack) -> None:
    """An operator closes a transaction the charge point still charges; its meter values then
    arrive after the provisional stop and are flagged. The charge point's own StopTransaction
    later sets the real window: the samples inside it count again, the one above meterStop
    stays out."""
    await add_id_tag(stack, "TAG-C")
    async with connect(stack.ws_url, "CP-C") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-C", meter=1000)).transaction_id
        await meter(cp, tx, 1005, offset_s=-1)
        async with api(stack) as client:
            closed = await client.post(f"/api/v1/transactions/{tx}/close", json={"reason": "stuck"})
            assert closed.status_code == 200, closed.text
        await meter(cp, tx, 1010, offset_s=5)
        await meter(cp, tx, 1020, offset_s=10)
        await meter(cp, tx, 1099, offset_s=12)  # above the real meterStop
        async with api(stack) as client:
            provisional = (await client.get(f"/api/v1/transactions/{tx}")).json()
        assert provisional["samples_outside_window"] == 6  # three elements of two samples
        await cp.call(call.StopTransaction(meter_stop=1020, timestamp=at(15), transaction_id=tx,
                                           reason="Local"))
    async with api(stack) as client:
        body = (await client.get(f"/api/v1/transactions/{tx}")).json()
    assert body["end_source"] == "charge_point" and body["meter_stop"] == 1020
    # who closed it, and why, stays on the record after the correction
    assert body["ended_by"] == provisional["ended_by"] and body["ended_by"]
    assert body["end_detail"].startswith("ended as operator (stuck")
    assert body["samples_outside_window"] == 2 and body["energy_wh"] == 20
    flagged = await rows(stack, "SELECT value, outside_tx FROM meter_values WHERE "
                         "measurand = 'Energy.Active.Import.Register' ORDER BY id")
    assert [(r["value"], bool(r["outside_tx"])) for r in flagged] == [
        ("1005", False), ("1010", False), ("1020", False), ("1099", True)]


async def test_a_transaction_ended_on_another_node_is_judged_by_its_new_window(stack: Stack) -> None:
    """In a cluster the operator's close runs on the API node while the charge point's meter
    values reach an OCPP node that remembers the transaction as open: the close's event (which
    Redis carries between nodes) makes that node read the window afresh. Here the other node's
    write goes straight to the shared database and its event arrives as a remote one."""
    await add_id_tag(stack, "TAG-N")
    async with connect(stack.ws_url, "CP-N") as cp:
        await cp.call(BOOT)
        tx = (await start(cp, "TAG-N", meter=500)).transaction_id
        await meter(cp, tx, 505, offset_s=-1)  # the window is cached here as open
        table = Transaction.__table__
        async with stack.central.engine.begin() as conn:  # the API node closes it
            await conn.execute(update(table).where(table.c.id == tx).values(
                stop_timestamp=now_utc(), meter_stop=505, end_source="operator", ended_by="ops"))
        stack.central.events.remote(stack.central.events.event(
            "transaction_stopped", "CP-N", transaction_id=tx, meter_stop=505, reason="Other",
            end_source="operator"))
        await meter(cp, tx, 520, offset_s=5)  # after the close
    flagged = await rows(stack, "SELECT value, outside_tx FROM meter_values WHERE "
                         "measurand = 'Energy.Active.Import.Register' ORDER BY id")
    assert [(r["value"], bool(r["outside_tx"])) for r in flagged] == [("505", False), ("520", True)]
