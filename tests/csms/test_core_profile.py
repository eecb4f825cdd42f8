"""Core profile conformance, named after the OCPP 1.6 compliance test cases they mirror."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import websockets
from ocpp.v16 import call

from chargebay.stack import Stack, running
from csms.timeutil import now_utc
from tests.conftest import make_settings
from tests.helpers import add_id_tag, rows
from tests.ocpp_client import connect

BOOT = call.BootNotification(
    charge_point_vendor="Acme", charge_point_model="Wall-22", charge_point_serial_number="S-1",
    charge_box_serial_number="B-1", firmware_version="1.2.3", iccid="8931", imsi="2620",
    meter_type="DZG", meter_serial_number="M-9")


async def test_tc_001_cold_boot_stores_boot_data(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-BOOT") as cp:
        res = await cp.call(BOOT)
        assert res.status == "Accepted" and res.interval == 300 and res.current_time.endswith("Z")
    [row] = await rows(stack, "SELECT * FROM charge_points WHERE id='CP-BOOT'")
    assert (row["vendor"], row["model"], row["charge_point_serial"], row["charge_box_serial"],
            row["firmware_version"], row["iccid"], row["imsi"], row["meter_type"],
            row["meter_serial"], row["boot_status"]) == (
        "Acme", "Wall-22", "S-1", "B-1", "1.2.3", "8931", "2620", "DZG", "M-9", "Accepted")
    assert row["last_boot_at"] is not None and row["last_seen"] is not None


async def test_online_flag_follows_the_socket(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-ON") as cp:
        await cp.call(BOOT)
        [row] = await rows(stack, "SELECT online FROM charge_points WHERE id='CP-ON'")
        assert row["online"] == 1
        assert stack.central.router.local_count() == 1
    for _ in range(100):
        [row] = await rows(stack, "SELECT online FROM charge_points WHERE id='CP-ON'")
        if row["online"] == 0:
            break
        import asyncio
        await asyncio.sleep(0.02)
    assert row["online"] == 0


async def test_heartbeat_answers_current_time_and_touches_last_seen(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-HB") as cp:
        await cp.call(BOOT)
        before = (await rows(stack, "SELECT last_seen FROM charge_points WHERE id='CP-HB'"))[0]
        res = await cp.call(call.Heartbeat())
        assert res.current_time.endswith("Z")
        after = (await rows(stack, "SELECT last_seen FROM charge_points WHERE id='CP-HB'"))[0]
        assert after["last_seen"] >= before["last_seen"]


async def test_status_notification_keeps_current_state_and_history(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-ST") as cp:
        await cp.call(BOOT)
        for status in ("Available", "Preparing", "Charging"):
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status,
                                                  timestamp=now_utc().isoformat()))
        await cp.call(call.StatusNotification(
            connector_id=2, error_code="GroundFailure", status="Faulted", info="earth leak",
            vendor_id="Acme", vendor_error_code="E42"))
    connectors = await rows(stack, "SELECT * FROM connectors WHERE charge_point_id='CP-ST' "
                                   "ORDER BY connector_id")
    assert [(c["connector_id"], c["status"]) for c in connectors] == [(1, "Charging"), (2, "Faulted")]
    assert (connectors[1]["error_code"], connectors[1]["info"], connectors[1]["vendor_id"],
            connectors[1]["vendor_error_code"]) == ("GroundFailure", "earth leak", "Acme", "E42")
    history = await rows(stack, "SELECT status FROM status_history WHERE charge_point_id='CP-ST' "
                                "AND connector_id=1 ORDER BY id")
    assert [h["status"] for h in history] == ["Available", "Preparing", "Charging"]


@pytest.mark.parametrize("settings_overrides", [{"accept_unknown_id_tags": False}])
async def test_tc_023_authorize_statuses(stack: Stack) -> None:
    """TC_023_1/2/3: invalid, expired and blocked tags; parent and expiry are reported."""
    await add_id_tag(stack, "GOOD", parent_id_tag="FLEET",
                     expiry_date=now_utc() + timedelta(days=1))
    await add_id_tag(stack, "OLD", expiry_date=now_utc() - timedelta(days=1))
    await add_id_tag(stack, "BAD", status="Blocked")
    async with connect(stack.ws_url, "CP-AUTH") as cp:
        await cp.call(BOOT)
        good = (await cp.call(call.Authorize(id_tag="GOOD"))).id_tag_info
        assert good["status"] == "Accepted" and good["parent_id_tag"] == "FLEET"
        assert good["expiry_date"].endswith("Z")
        assert (await cp.call(call.Authorize(id_tag="OLD"))).id_tag_info["status"] == "Expired"
        assert (await cp.call(call.Authorize(id_tag="BAD"))).id_tag_info["status"] == "Blocked"
        assert (await cp.call(call.Authorize(id_tag="NOPE"))).id_tag_info["status"] == "Invalid"


@pytest.mark.parametrize("settings_overrides", [{"accept_unknown_id_tags": True}])
async def test_unknown_tags_accepted_when_configured(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-ANY") as cp:
        assert (await cp.call(call.Authorize(id_tag="WHOEVER"))).id_tag_info["status"] == "Accepted"


async def test_tc_003_regular_charging_session(stack: Stack) -> None:
    """Start, meter values with every sampledValue field, stop with transactionData."""
    await add_id_tag(stack, "TAG-1")
    async with connect(stack.ws_url, "CP-TX") as cp:
        await cp.call(BOOT)
        start = await cp.call(call.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp="2026-03-01T10:00:00Z",
            reservation_id=7))
        assert start.id_tag_info["status"] == "Accepted"
        tx = start.transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": "2026-03-01T10:05:00Z",
            "sampledValue": [
                {"value": "1500", "context": "Sample.Periodic", "format": "Raw",
                 "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"},
                {"value": "7.4", "measurand": "Power.Active.Import", "phase": "L1", "unit": "kW"},
            ]}]))
        stop = await cp.call(call.StopTransaction(
            meter_stop=2500, timestamp="2026-03-01T10:30:00Z", transaction_id=tx, reason="EVDisconnected",
            id_tag="TAG-1", transaction_data=[{"timestamp": "2026-03-01T10:30:00Z", "sampledValue": [
                {"value": "2500", "context": "Transaction.End", "unit": "Wh"}]}]))
        assert stop.id_tag_info["status"] == "Accepted"
    [t] = await rows(stack, "SELECT * FROM transactions WHERE id=:id", id=tx)
    assert (t["charge_point_id"], t["connector_id"], t["id_tag"], t["meter_start"], t["meter_stop"],
            t["stop_reason"], t["reservation_id"], t["stop_id_tag"]) == (
        "CP-TX", 1, "TAG-1", 1000, 2500, "EVDisconnected", 7, "TAG-1")
    samples = await rows(stack, "SELECT * FROM meter_values WHERE transaction_id=:id ORDER BY id", id=tx)
    assert [(s["value"], s["measurand"], s["unit"], s["source"], s["connector_id"]) for s in samples] == [
        ("1500", "Energy.Active.Import.Register", "Wh", "MeterValues", 1),
        ("7.4", "Power.Active.Import", "kW", "MeterValues", 1),
        ("2500", None, "Wh", "StopTransaction", 1),
    ]
    assert (samples[0]["context"], samples[0]["format"], samples[0]["location"]) == (
        "Sample.Periodic", "Raw", "Outlet")
    assert samples[1]["phase"] == "L1"
    assert samples[2]["context"] == "Transaction.End"


async def test_tc_023_start_with_tag_not_accepted_still_gets_a_transaction(stack: Stack) -> None:
    await add_id_tag(stack, "BLOCKED", status="Blocked")
    async with connect(stack.ws_url, "CP-BL") as cp:
        res = await cp.call(call.StartTransaction(connector_id=1, id_tag="BLOCKED", meter_start=0,
                                                  timestamp="2026-03-01T10:00:00Z"))
        assert res.id_tag_info["status"] == "Blocked" and res.transaction_id > 0
        res2 = await cp.call(call.StartTransaction(connector_id=2, id_tag="STRANGER", meter_start=0,
                                                   timestamp="2026-03-01T10:00:00Z"))
        assert res2.id_tag_info["status"] == "Invalid" and res2.transaction_id > res.transaction_id
    stored = await rows(stack, "SELECT id_tag_status FROM transactions ORDER BY id")
    assert [r["id_tag_status"] for r in stored] == ["Blocked", "Invalid"]


async def test_concurrent_tx_limit(stack: Stack) -> None:
    await add_id_tag(stack, "SOLO")
    await add_id_tag(stack, "DUO", max_concurrent_tx=2)
    async with connect(stack.ws_url, "CP-CC") as cp:
        async def start(tag: str, connector: int) -> str:
            res = await cp.call(call.StartTransaction(connector_id=connector, id_tag=tag, meter_start=0,
                                                      timestamp=f"2026-03-01T10:0{connector}:00Z"))
            return res.id_tag_info["status"]
        assert [await start("SOLO", 1), await start("SOLO", 2)] == ["Accepted", "ConcurrentTx"]
        assert [await start("DUO", 3), await start("DUO", 4), await start("DUO", 5)] == [
            "Accepted", "Accepted", "ConcurrentTx"]


async def test_tc_036_start_replayed_after_reconnect_gets_the_same_id(stack: Stack) -> None:
    """Connection loss during a transaction: the charge point replays its queued messages."""
    start = call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=42,
                                  timestamp="2026-03-01T10:00:00Z")
    async with connect(stack.ws_url, "CP-RP") as cp:
        first = await cp.call(start)
    async with connect(stack.ws_url, "CP-RP") as cp:
        again = await cp.call(start)
        other = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=43,
                                                    timestamp="2026-03-01T11:00:00Z"))
    assert again.transaction_id == first.transaction_id
    assert other.transaction_id != first.transaction_id
    async with connect(stack.ws_url, "CP-RP") as cp:
        late = await cp.call(start)  # once more, after the newer start superseded it
    assert late.transaction_id == first.transaction_id
    assert len(await rows(stack, "SELECT id FROM transactions")) == 2
    still_open = await rows(stack, "SELECT id FROM transactions WHERE stop_timestamp IS NULL")
    assert [r["id"] for r in still_open] == [other.transaction_id]  # a replay ends nothing


async def test_stop_for_unknown_or_stopped_transaction_is_answered_and_recorded(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-SU") as cp:
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=0,
                                                    timestamp="2026-03-01T10:00:00Z"))
        tx = start.transaction_id
        stop = call.StopTransaction(meter_stop=10, timestamp="2026-03-01T10:10:00Z", transaction_id=tx)
        assert await cp.call(stop) is not None
        # exact replay: answered, nothing new stored
        assert await cp.call(stop) is not None
        # a different stop for the same (stopped) transaction, and one for a transaction never seen
        await cp.call(call.StopTransaction(meter_stop=99, timestamp="2026-03-01T10:20:00Z",
                                           transaction_id=tx))
        await cp.call(call.StopTransaction(meter_stop=5, timestamp="2026-03-01T10:20:00Z",
                                           transaction_id=987654, id_tag="T",
                                           transaction_data=[{"timestamp": "2026-03-01T10:20:00Z",
                                                              "sampledValue": [{"value": "5"}]}]))
    [t] = await rows(stack, "SELECT meter_stop FROM transactions WHERE id=:id", id=tx)
    assert t["meter_stop"] == 10
    records = await rows(stack, "SELECT transaction_id, kind, meter_stop FROM stop_records ORDER BY id")
    assert [(r["transaction_id"], r["kind"], r["meter_stop"]) for r in records] == [
        (tx, "already_stopped", 99), (987654, "unknown", 5)]
    orphan = await rows(stack, "SELECT transaction_id, value FROM meter_values WHERE source='StopTransaction'")
    assert [(o["transaction_id"], o["value"]) for o in orphan] == [(None, "5")]
    assert len(await rows(stack, "SELECT id FROM transactions")) == 1


async def test_transaction_ids_stay_unique_across_restarts(db_url: str) -> None:
    seen = []
    for round_ in range(2):
        async with running(make_settings(db_url), migrate=False) as stack:
            async with connect(stack.ws_url, "CP-RS") as cp:
                for i in range(2):
                    res = await cp.call(call.StartTransaction(
                        connector_id=1, id_tag="T", meter_start=i,
                        timestamp=f"2026-03-0{round_ + 1}T10:0{i}:00Z"))
                    seen.append(res.transaction_id)
                    await cp.call(call.StopTransaction(meter_stop=i + 1, timestamp="2026-03-01T11:00:00Z",
                                                       transaction_id=res.transaction_id))
        # delete the newest row: an id must never be handed out twice even then
        async with running(make_settings(db_url), migrate=False) as stack:
            async with stack.central.engine.begin() as conn:
                from sqlalchemy import text
                await conn.execute(text("DELETE FROM transactions WHERE id = :id"), {"id": seen[-1]})
    assert len(set(seen)) == len(seen) == 4 and seen == sorted(seen)


async def test_data_transfer_and_firmware_and_diagnostics_reports(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-FW") as cp:
        res = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="x", data="{}"))
        assert res.status == "UnknownVendorId"
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    [row] = await rows(stack, "SELECT firmware_status, diagnostics_status FROM charge_points "
                              "WHERE id='CP-FW'")
    assert (row["firmware_status"], row["diagnostics_status"]) == ("Installed", "Uploaded")
    kinds = await rows(stack, "SELECT kind, status FROM notifications WHERE charge_point_id='CP-FW' "
                              "ORDER BY id")
    assert [(k["kind"], k["status"]) for k in kinds] == [
        ("data_transfer", "com.acme"), ("firmware", "Downloading"), ("firmware", "Installed"),
        ("diagnostics", "Uploaded")]


async def test_data_transfer_reaches_the_vendor_extension_registered_for_its_vendor(
        stack: Stack) -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    async def extension(cp_id: str, message_id: str | None, data: str | None) -> tuple[str, str | None]:
        seen.append((cp_id, message_id, data))
        return ("Accepted", '{"ok": true}') if message_id == "Ping" else ("UnknownMessageId", None)

    stack.central.vendor_extensions["com.acme"] = extension
    async with connect(stack.ws_url, "CP-VX") as cp:
        res = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="Ping", data="{}"))
        assert (res.status, res.data) == ("Accepted", '{"ok": true}')
        res = await cp.call(call.DataTransfer(vendor_id="com.acme", message_id="Other"))
        assert (res.status, res.data) == ("UnknownMessageId", None)
        res = await cp.call(call.DataTransfer(vendor_id="org.other", message_id="Ping"))
        assert res.status == "UnknownVendorId"
    assert seen == [("CP-VX", "Ping", "{}"), ("CP-VX", "Other", None)]
    kinds = await rows(stack, "SELECT status FROM notifications WHERE charge_point_id='CP-VX' "
                              "AND kind='data_transfer'")
    assert len(kinds) == 3  # every one kept, handled or not


async def test_security_whitepaper_messages(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-SEC") as cp:
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated",
                                                     timestamp="2026-03-01T10:00:00Z", tech_info="v2"))
        assert (await cp.call(call.SignCertificate(csr="-----BEGIN CSR-----"))).status == "Accepted"
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=5))
        await cp.call(call.SignedFirmwareStatusNotification(status="SignatureVerified", request_id=6))
    kinds = await rows(stack, "SELECT kind, status, request_id, detail FROM notifications "
                              "WHERE charge_point_id='CP-SEC' ORDER BY id")
    assert [(k["kind"], k["status"], k["request_id"]) for k in kinds] == [
        ("sign_certificate", "Pending", None), ("log", "Uploaded", 5),
        ("signed_firmware", "SignatureVerified", 6)]  # no CA: the CSR waits for an operator
    assert kinds[0]["detail"] == "-----BEGIN CSR-----"
    [event] = await rows(stack, "SELECT type, source, tech_info, timestamp FROM security_events "
                                "WHERE charge_point_id='CP-SEC'")
    assert (event["type"], event["source"], event["tech_info"]) == ("FirmwareUpdated", "charge_point", "v2")
    assert str(event["timestamp"]).startswith("2026-03-01")


async def test_message_log_records_every_frame_in_and_out(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-LOG") as cp:
        await cp.call(BOOT)
        await cp.call(call.Heartbeat())
    log = await rows(stack, "SELECT direction, message_type, action, message_id, frame FROM messages "
                            "WHERE charge_point_id='CP-LOG' ORDER BY id")
    assert [(m["direction"], m["message_type"], m["action"]) for m in log] == [
        ("in", 2, "BootNotification"), ("out", 3, "BootNotification"),
        ("in", 2, "Heartbeat"), ("out", 3, "Heartbeat")]
    assert log[0]["message_id"] == log[1]["message_id"]
    assert '"Acme"' in log[0]["frame"] and '"Accepted"' in log[1]["frame"]


@contextlib.asynccontextmanager
async def write_lock(db_url: str) -> AsyncIterator[None]:
    """Hold the database's write lock on the message log (the writer's commits wait for it)."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
        return
    pg = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with pg.transaction():
            await pg.execute("LOCK TABLE messages IN EXCLUSIVE MODE")
            yield
    finally:
        await pg.close()


async def test_an_answer_waits_until_its_frames_are_logged(stack: Stack, db_url: str) -> None:
    """The answer leaves only after the log rows of the call and of the answer itself are
    committed: a node killed right after answering has lost none of them."""
    async with websockets.connect(f"{stack.ws_url}/CP-DURABLE", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "hb-0", "Heartbeat", {}]))
        await ws.recv()
        async with write_lock(db_url):
            await ws.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)  # nothing is committed, so no answer
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[:2] == [3, "hb-1"]
        logged = await rows(stack, "SELECT direction FROM messages WHERE charge_point_id = "
                                   "'CP-DURABLE' AND message_id = 'hb-1'")
        assert sorted(r["direction"] for r in logged) == ["in", "out"]
