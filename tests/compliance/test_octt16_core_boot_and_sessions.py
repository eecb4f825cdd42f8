"""OCTT 1.6 CSMS test cases, Core profile: boot, resets, the subprotocol handshake and charging
sessions (local, remote, offline, after a power loss). The charge point's side is scripted by
:class:`tests.compliance.station.Station`; each case checks what the central system answered
and what it stored (the transaction's id tag and its status, its timestamps and stop reason)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.compliance.flows import at, charge, charge_point, connector_statuses
from tests.compliance.station import Station, command, operator, station
from tests.helpers import add_id_tag, rows

BUDGET = 30.0
TAG = "OCTT-CORE-TAG"


async def transactions(stack: Stack, cp_id: str) -> list[dict[str, Any]]:
    """Its transactions as the central system stored them, oldest first."""
    found = await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp ORDER BY id", cp=cp_id)
    return [dict(r) for r in found]


def moment(value: datetime | str) -> datetime:
    """A stored timestamp (a datetime on PostgreSQL, text on SQLite) or an OCPP one, in UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def stop(cp: Station, transaction_id: int, reason: str, meter_stop: int = 1500,
               timestamp: str | None = None, id_tag: str | None = TAG) -> dict[str, Any]:
    """StopTransaction; the central system's idTagInfo (None if it sent none)."""
    answer = await cp.call(call.StopTransaction(meter_stop=meter_stop, timestamp=timestamp or at(),
                                                transaction_id=transaction_id, reason=reason, id_tag=id_tag))
    return answer.id_tag_info  # type: ignore[no-any-return]


# -- boot, resets, handshake ----------------------------------------------------------------------
async def test_tc_001_csms_cold_boot_charge_point(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC001") as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted" and answer.interval > 0 and answer.current_time
        assert (await cp.call(call.Heartbeat())).current_time
    row = await charge_point(stack, "TC001")
    assert (row["boot_status"], row["vendor"], row["model"]) == ("Accepted", "OCTT", "Sim-16")
    assert await connector_statuses(stack, "TC001") == [(0, "Available"), (1, "Available"), (2, "Available")]


@pytest.mark.parametrize("kind", ["Hard", "Soft"], ids=["TC_013", "TC_014"])
async def test_tc_013_014_csms_hard_and_soft_reset(stack: Stack, kind: str) -> None:
    cp_id = f"TC013-{kind}"
    async with asyncio.timeout(BUDGET):
        async with station(stack, cp_id) as cp, operator(stack) as client:
            await cp.boot()
            first_boot = (await charge_point(stack, cp_id))["last_boot_at"]
            assert await command(client, cp_id, "Reset", {"type": kind}) == {"status": "Accepted"}
            assert cp.got("Reset") == [{"type": kind}]
        await asyncio.sleep(0.01)  # the station restarts: a new connection, a new boot
        async with station(stack, cp_id) as cp:
            assert (await cp.boot()).status == "Accepted"
    row = await charge_point(stack, cp_id)
    assert row["boot_status"] == "Accepted" and moment(row["last_boot_at"]) > moment(first_boot)
    assert await connector_statuses(stack, cp_id) == [(0, "Available"), (1, "Available"), (2, "Available")]


async def test_tc_088_csms_websocket_subprotocol_negotiation(stack: Stack) -> None:
    url = f"{stack.ws_url}/TC088"
    async with asyncio.timeout(BUDGET):
        for offered in (["ocpp0.1"], None):  # only one we do not speak, or none at all: refused
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, subprotocols=offered):  # type: ignore[arg-type]
                    pass
            assert refused.value.response.status_code == 400
        async with websockets.connect(url, subprotocols=["ocpp0.1", "ocpp1.6"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "ocpp1.6"
            cp = Station("TC088", ws)
            reader = asyncio.create_task(cp.start())
            assert (await cp.boot()).status == "Accepted"
            reader.cancel()


# -- local sessions -------------------------------------------------------------------------------
async def test_tc_003_csms_regular_charging_session_plugin_first(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC003") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")  # the cable first
        assert (await cp.call(call.Authorize(id_tag=TAG))).id_tag_info["status"] == "Accepted"
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag=TAG, meter_start=100, timestamp=at()))
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
    [tx] = await transactions(stack, "TC003")
    assert (tx["id"], tx["id_tag"], tx["id_tag_status"], tx["meter_start"], tx["stop_timestamp"]) == (
        started.transaction_id, TAG, "Accepted", 100, None)
    assert (1, "Charging") in await connector_statuses(stack, "TC003")


async def test_tc_004_1_csms_regular_charging_session_identification_first(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC004-1") as cp:
        await cp.boot()
        transaction_id = await charge(cp, TAG)  # Authorize, then Preparing, start, Charging
    [tx] = await transactions(stack, "TC004-1")
    assert (tx["id"], tx["id_tag_status"], tx["connector_id"]) == (transaction_id, "Accepted", 1)


async def test_tc_004_2_csms_identification_first_connection_timeout(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC004-2") as cp:
        await cp.boot()
        assert (await cp.call(call.Authorize(id_tag=TAG))).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available")  # no cable within ConnectionTimeOut
    assert await transactions(stack, "TC004-2") == []
    assert (1, "Available") in await connector_statuses(stack, "TC004-2")


async def test_tc_005_1_csms_ev_side_disconnected(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC005") as cp:
        await cp.boot()
        transaction_id = await charge(cp, TAG)
        await cp.status(1, "SuspendedEV")
        assert (await stop(cp, transaction_id, "EVDisconnected"))["status"] == "Accepted"
        await cp.status(1, "Finishing")
        await cp.status(1, "Available")
    [tx] = await transactions(stack, "TC005")
    assert (tx["stop_reason"], tx["meter_stop"], tx["stop_id_tag"]) == ("EVDisconnected", 1500, TAG)
    assert (1, "Available") in await connector_statuses(stack, "TC005")


async def test_tc_007_csms_regular_start_charging_session_cached_id(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC007") as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        # the id tag is in the station's cache: no Authorize before the start
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag=TAG, meter_start=0, timestamp=at()))
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
    [tx] = await transactions(stack, "TC007")
    assert (tx["id"], tx["id_tag_status"]) == (started.transaction_id, "Accepted")


# -- remote sessions ------------------------------------------------------------------------------
async def remote_start(cp: Station, client: Any, cp_id: str) -> None:
    answer = await command(client, cp_id, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})
    assert answer == {"status": "Accepted"}
    assert cp.got("RemoteStartTransaction") == [{"connector_id": 1, "id_tag": TAG}]


async def test_tc_010_csms_remote_start_cable_plugged_in_first(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC010") as cp, operator(stack) as client:
        await cp.boot()
        await cp.status(1, "Preparing")
        await remote_start(cp, client, "TC010")
        transaction_id = await charge(cp, TAG)
    [tx] = await transactions(stack, "TC010")
    assert (tx["id"], tx["id_tag"], tx["id_tag_status"]) == (transaction_id, TAG, "Accepted")


async def test_tc_011_1_csms_remote_start_remote_start_first(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC011-1") as cp, operator(stack) as client:
        await cp.boot()
        await remote_start(cp, client, "TC011-1")
        transaction_id = await charge(cp, TAG)
    [tx] = await transactions(stack, "TC011-1")
    assert (tx["id"], tx["id_tag_status"]) == (transaction_id, "Accepted")


async def test_tc_011_2_csms_remote_start_time_out(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC011-2") as cp, operator(stack) as client:
        await cp.boot()
        await remote_start(cp, client, "TC011-2")
        assert (await cp.call(call.Authorize(id_tag=TAG))).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available")  # no cable within ConnectionTimeOut: no transaction
    assert await transactions(stack, "TC011-2") == []


async def test_tc_012_csms_remote_stop_charging_session(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC012") as cp, operator(stack) as client:
        await cp.boot()
        transaction_id = await charge(cp, TAG)
        answer = await command(client, "TC012", "RemoteStopTransaction", {"transactionId": transaction_id})
        assert answer == {"status": "Accepted"}
        assert cp.got("RemoteStopTransaction") == [{"transaction_id": transaction_id}]
        assert (await stop(cp, transaction_id, "Remote"))["status"] == "Accepted"
        await cp.status(1, "Finishing")
        await cp.status(1, "Available")
    [tx] = await transactions(stack, "TC012")
    assert (tx["stop_reason"], tx["meter_stop"]) == ("Remote", 1500)


# -- power loss and offline -----------------------------------------------------------------------
async def test_tc_032_1_csms_power_failure_boot_stop_transactions(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET):
        async with station(stack, "TC032") as cp:
            await cp.boot()
            transaction_id = await charge(cp, TAG)
        # the power fails: the socket drops; back, it boots and stops what it was charging
        async with station(stack, "TC032") as cp:
            answer = await cp.call(call.BootNotification(charge_point_vendor="OCTT", charge_point_model="Sim-16"))
            assert answer.status == "Accepted"
            for connector, status in ((0, "Available"), (1, "Finishing"), (2, "Available")):
                await cp.status(connector, status)
            ended = at(-1)
            assert (await stop(cp, transaction_id, "PowerLoss", timestamp=ended))["status"] == "Accepted"
    [tx] = await transactions(stack, "TC032")
    assert (tx["id"], tx["stop_reason"], tx["meter_stop"]) == (transaction_id, "PowerLoss", 1500)
    assert await rows(stack, "SELECT * FROM stop_records WHERE charge_point_id = 'TC032'") == []


async def test_tc_037_1_csms_offline_start_transaction_valid_id_tag(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    started_at = at(-4 * 3600)  # queued while it was offline
    async with asyncio.timeout(BUDGET), station(stack, "TC037-1") as cp:
        await cp.boot()
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag=TAG, meter_start=0,
                                                      timestamp=started_at))
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
    [tx] = await transactions(stack, "TC037-1")
    assert moment(tx["start_timestamp"]) == moment(started_at)


async def test_tc_037_3_csms_offline_start_transaction_invalid_id_tag(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC037-3") as cp:
        await cp.boot()
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="OCTT-UNKNOWN", meter_start=0,
                                                      timestamp=at(-4 * 3600)))
        # refused, yet the transaction it already ran offline gets an id and is kept
        assert started.id_tag_info["status"] == "Invalid" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await stop(cp, started.transaction_id, "DeAuthorized", id_tag=None)
        await cp.status(1, "Finishing")
    [tx] = await transactions(stack, "TC037-3")
    assert (tx["id"], tx["id_tag"], tx["id_tag_status"], tx["stop_reason"]) == (
        started.transaction_id, "OCTT-UNKNOWN", "Invalid", "DeAuthorized")


async def test_tc_039_csms_offline_transaction(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    started_at, stopped_at = at(-4 * 3600), at(-3 * 3600)
    async with asyncio.timeout(BUDGET), station(stack, "TC039") as cp:
        await cp.boot()
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag=TAG, meter_start=0,
                                                      timestamp=started_at))
        assert started.id_tag_info["status"] == "Accepted"
        assert (await stop(cp, started.transaction_id, "Local", timestamp=stopped_at))["status"] == "Accepted"
    [tx] = await transactions(stack, "TC039")
    assert (moment(tx["start_timestamp"]), moment(tx["stop_timestamp"])) == (moment(started_at), moment(stopped_at))
    assert (tx["stop_reason"], tx["meter_stop"]) == ("Local", 1500)
