"""OCPP 2.0.1 transactions in the one transactions table (issue #16): TransactionEvent Started,
Updated and Ended with the station's transaction id, each seqNo kept once (an exact replay is
answered and writes nothing twice, gaps show), offline events accepted late, meter values stored
as 1.6's, the id token judged by the same rules (ConcurrentTx included), and 1.6 and 2.0.1
transactions listed side by side over REST."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.v16 import call as call16
from ocpp.v201 import call

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.helpers import add_id_tag, rows
from tests.ocpp_client import connect as connect16

BUDGET = 30.0
TOKEN = {"id_token": "TAG-201", "type": "ISO14443"}


def at(seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def energy(value: float, unit: str | None = None, multiplier: int = 0, context: str = "Sample.Periodic"
           ) -> list[dict[str, Any]]:
    sampled: dict[str, Any] = {"value": value, "context": context, "measurand": "Energy.Active.Import.Register"}
    if unit or multiplier:
        sampled["unit_of_measure"] = {k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v}
    return [{"timestamp": at(), "sampled_value": [sampled]}]


def event(kind: str, seq: int, tx: str, **extra: Any) -> Any:
    return call.TransactionEvent(event_type=kind, timestamp=extra.pop("timestamp", at()),
                                 trigger_reason=extra.pop("trigger_reason", "Authorized"), seq_no=seq,
                                 transaction_info={"transaction_id": tx, **extra.pop("info", {})}, **extra)


async def detail(client: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/transactions", params={"charge_point_id": cp_id})
    assert r.status_code == 200, r.text
    found = []
    for item in reversed(r.json()["items"]):
        one = await client.get(f"/api/v1/transactions/{item['id']}")
        assert one.status_code == 200, one.text
        found.append(one.json())
    return found


async def test_a_session_started_updated_ended_with_replays_and_gaps(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-TX201") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        started = event("Started", 0, "TX-A", evse={"id": 1, "connector_id": 1}, id_token=TOKEN,
                        meter_value=energy(1000, context="Transaction.Begin"), info={"remote_start_id": 7})
        first = await cp.call(started)
        assert first.id_token_info == {"status": "Accepted"}
        assert (await cp.call(started)).id_token_info == {"status": "Accepted"}  # a replay: same answer
        await cp.call(event("Updated", 1, "TX-A", trigger_reason="MeterValuePeriodic", meter_value=energy(1.5, "kWh")))
        await cp.call(event("Updated", 4, "TX-A", trigger_reason="MeterValuePeriodic",
                            meter_value=energy(18, multiplier=2)))  # 1,800 Wh; seqNo 2 and 3 never came
        ended = await cp.call(event("Ended", 5, "TX-A", trigger_reason="EVDeparted", id_token=TOKEN,
                                    meter_value=energy(2.5, "kWh", context="Transaction.End"),
                                    info={"stopped_reason": "EVDisconnected"}))
        assert ended.id_token_info["status"] == "Accepted"
        [tx] = await detail(client, "CP-TX201")
    assert (tx["station_transaction_id"], tx["connector_id"], tx["id_tag"], tx["id_tag_status"],
            tx["remote_start_id"], tx["start_reason"]) == ("TX-A", 1, "TAG-201", "Accepted", 7, "Authorized")
    assert (tx["meter_start"], tx["meter_stop"], tx["energy_wh"], tx["stop_reason"], tx["active"],
            tx["end_source"]) == (1000, 2500, 1500, "EVDisconnected", False, "charge_point")
    assert [(e["seq_no"], e["event_type"]) for e in tx["events"]] == [
        (0, "Started"), (1, "Updated"), (4, "Updated"), (5, "Ended")]  # the replay is not a second event
    assert tx["seq_gaps"] == [2, 3]
    assert [(m["value"], m["unit"]) for m in tx["meter_values"]] == [
        ("1000", None), ("1.5", "kWh"), ("1800", "Wh"), ("2.5", "kWh")]  # 18 x 10^2


async def test_offline_events_late_and_a_token_given_after_the_start(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-OFF201") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        # an hour offline: its Started never arrived; the first event heard creates the transaction
        answer = await cp.call(event("Updated", 3, "TX-LATE", timestamp=at(-3600), trigger_reason="CablePluggedIn",
                                     offline=True, evse={"id": 2}))
        assert answer.id_token_info is None  # no token yet: nothing to judge
        assert (await cp.call(event("Updated", 4, "TX-LATE", timestamp=at(-3500), id_token=TOKEN,
                                    offline=True))).id_token_info == {"status": "Accepted"}
        await cp.call(event("Ended", 5, "TX-LATE", timestamp=at(-60), trigger_reason="StopAuthorized",
                            offline=True, info={"stopped_reason": "Local"}))
        [tx] = await detail(client, "CP-OFF201")
    assert (tx["connector_id"], tx["id_tag"], tx["id_tag_status"], tx["stop_reason"], tx["meter_stop"]) == (
        2, "TAG-201", "Accepted", "Local", 0)
    assert tx["start_timestamp"] < tx["stop_timestamp"] and all(e["offline"] for e in tx["events"])
    assert tx["seq_gaps"] == []


async def test_concurrent_tokens_a_new_start_on_a_busy_evse_and_16_beside_201(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-CON201") as cp, connect16(stack.ws_url, "CP-CON16") as old, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        await old.call(call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
        first = await cp.call(event("Started", 0, "TX-1", evse={"id": 1}, id_token=TOKEN))
        second = await cp.call(event("Started", 1, "TX-2", evse={"id": 2}, id_token=TOKEN))
        assert (first.id_token_info["status"], second.id_token_info["status"]) == ("Accepted", "ConcurrentTx")
        third = await cp.call(event("Started", 2, "TX-3", evse={"id": 2}, trigger_reason="CablePluggedIn"))
        assert third.id_token_info is None
        started16 = await old.call(call16.StartTransaction(connector_id=1, id_tag="TAG-16", meter_start=0,
                                                           timestamp=at()))
        r = await client.get("/api/v1/transactions")
        listed = {(t["charge_point_id"], t["station_transaction_id"]): t for t in r.json()["items"]}
    assert listed[("CP-CON201", "TX-2")]["end_source"] == "superseded"  # TX-3 started on its EVSE
    assert listed[("CP-CON201", "TX-3")]["active"] and listed[("CP-CON201", "TX-1")]["active"]
    assert listed[("CP-CON16", None)]["id"] == started16.transaction_id  # 1.6 beside 2.0.1, one table
    ids = [t["id"] for t in listed.values()]
    assert len(set(ids)) == len(ids) == 4
    assert len(await rows(stack, "SELECT id FROM transaction_events")) == 3


async def test_energy_from_decimal_registers_and_a_started_without_a_reading(stack: Stack) -> None:
    """A lifetime register with decimals keeps every digit (in kWh, or with a multiplier); a Started
    without a meter value takes its first reading as the start, not 0."""
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-KWH201") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        await cp.call(event("Started", 0, "TX-DEC", evse={"id": 1, "connector_id": 1}, id_token=TOKEN,
                            meter_value=energy(12345678.9, context="Transaction.Begin")))
        await cp.call(event("Updated", 1, "TX-DEC", meter_value=energy(12345.9999, "kWh")))
        await cp.call(event("Ended", 2, "TX-DEC", meter_value=energy(12346.0009, "Wh", 3, "Transaction.End")))
        await cp.call(event("Started", 3, "TX-LATE", evse={"id": 2, "connector_id": 1}, id_token=TOKEN))
        await cp.call(event("Updated", 4, "TX-LATE", meter_value=energy(27000)))
        await cp.call(event("Ended", 5, "TX-LATE", meter_value=energy(28000, context="Transaction.End")))
        found = {t["station_transaction_id"]: t for t in await detail(client, "CP-KWH201")}
    decimal, late = found["TX-DEC"], found["TX-LATE"]
    assert (decimal["meter_start"], decimal["meter_stop"], decimal["energy_wh"]) == (12345678, 12346000, 322)
    assert [(m["value"], m["unit"]) for m in decimal["meter_values"]] == [
        ("12345678.9", None), ("12345.9999", "kWh"), ("12346000.9", "Wh")]  # Wh x 10^3: the multiplier applied
    assert (late["meter_start"], late["meter_stop"], late["energy_wh"]) == (27000, 28000, 1000)


async def test_a_no_authorization_token_is_accepted_unchecked(stack: Stack) -> None:
    """An idToken of type NoAuthorization (a free-charging station, its value empty) is no token
    to look up: answered Accepted, the transaction Accepted, its EVSE in use."""
    async with asyncio.timeout(BUDGET), station(stack, "CP-FREE201") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        free = {"id_token": "", "type": "NoAuthorization"}
        started = await cp.call(event("Started", 0, "TX-FREE", evse={"id": 1, "connector_id": 1}, id_token=free))
        assert started.id_token_info == {"status": "Accepted"}
        await cp.call(event("Started", 1, "TX-PLUG", evse={"id": 2, "connector_id": 1},
                            trigger_reason="CablePluggedIn"))
        later = await cp.call(event("Updated", 2, "TX-PLUG", id_token=free))
        assert later.id_token_info == {"status": "Accepted"}
        await add_id_tag(stack, "TAG-CARD")  # a card shown later in an unchecked session is kept
        await cp.call(event("Updated", 1, "TX-FREE", id_token={"id_token": "TAG-CARD", "type": "ISO14443"}))
        found = {t["station_transaction_id"]: t for t in await detail(client, "CP-FREE201")}
    assert [(found[t]["id_tag"], found[t]["id_tag_status"]) for t in ("TX-FREE", "TX-PLUG")] == [
        ("TAG-CARD", "Accepted"), ("", "Accepted")]


async def test_readings_without_measurand_begin_and_end_in_one_event_and_absurd_multipliers(stack: Stack) -> None:
    """A sample without a measurand is the energy register (both versions' default); an event
    carrying the Begin and the End readings makes the first the start; a multiplier no meter has
    is kept short and is no register (nothing blows up, nothing is stored as energy)."""
    async with asyncio.timeout(BUDGET), station(stack, "CP-REG201") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        plain = [{"timestamp": at(), "sampled_value": [{"value": 1000, "context": "Transaction.Begin"}]}]
        await cp.call(event("Started", 0, "TX-PLAIN", evse={"id": 1, "connector_id": 1}, meter_value=plain))
        plain[0]["sampled_value"][0].update(value=3000, context="Transaction.End")
        await cp.call(event("Ended", 1, "TX-PLAIN", meter_value=plain))
        both = [{"timestamp": at(), "sampled_value": [
            {"value": 70000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register"},
            {"value": 75000, "context": "Transaction.End", "measurand": "Energy.Active.Import.Register"}]}]
        await cp.call(event("Started", 2, "TX-BOTH", evse={"id": 2, "connector_id": 1}))
        await cp.call(event("Ended", 3, "TX-BOTH", meter_value=both))
        absurd = [{"timestamp": at(), "sampled_value": [
            {"value": 1, "unit_of_measure": {"multiplier": 999990}, "measurand": "Energy.Active.Import.Register"}
            for _ in range(50)]}]
        await cp.call(call.MeterValues(evse_id=1, meter_value=absurd))
        found = {t["station_transaction_id"]: t for t in await detail(client, "CP-REG201")}
        values = await rows(stack, "SELECT value FROM meter_values WHERE charge_point_id = 'CP-REG201' "
                                   "AND transaction_id IS NULL")
    assert [(found[t]["meter_start"], found[t]["energy_wh"]) for t in ("TX-PLAIN", "TX-BOTH")] == [
        (1000, 2000), (70000, 5000)]
    assert values and {v["value"] for v in values} == {"1E+999990"}
