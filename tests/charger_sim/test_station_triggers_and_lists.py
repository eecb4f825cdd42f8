"""The simulated station against our real CSMS: triggered messages, reservations and the local list."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    BUDGET,
    Sims,
    _at_least,
    _check,
    _n_tx,
    _one_tx,
    back_online,
    calls,
    eventually,
    go_offline,
    last_message_id,
    now_iso,
    send,
    until_status,
)
from tests.helpers import rows

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- trigger message ----------------------------------------------------------------------------
@pytest.mark.parametrize("requested,connector_id,action", [
    ("StatusNotification", 1, "StatusNotification"),
    ("StatusNotification", None, "StatusNotification"),
    ("MeterValues", 1, "MeterValues"),
    ("Heartbeat", None, "Heartbeat"),
    ("BootNotification", None, "BootNotification"),
    ("DiagnosticsStatusNotification", None, "DiagnosticsStatusNotification"),
    ("FirmwareStatusNotification", None, "FirmwareStatusNotification"),
])
async def test_trigger_message_really_sends_the_message(stack: Stack, sim: Sims, requested: str,
                                                        connector_id: int | None, action: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-TRIG-{requested[:12]}-{connector_id}"
        await sim.start(cp)
        mark = await last_message_id(stack, cp)
        payload: dict[str, Any] = {"requestedMessage": requested}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        assert await send(stack, cp, "TriggerMessage", payload) == {"status": "Accepted"}
        expected = 3 if (action, connector_id) == ("StatusNotification", None) else 1
        await eventually(lambda: _at_least(stack, cp, action, expected, after=mark))
        await asyncio.sleep(0.2)
        sent = await calls(stack, cp, action, after=mark)
        assert len(sent) == expected
        if action == "StatusNotification":
            assert [p["connectorId"] for _, _, p in sent] == ([1] if connector_id else [0, 1, 2])
        if action == "MeterValues":
            [(_, _, mv)] = sent
            assert mv["connectorId"] == 1 and "transactionId" not in mv
            assert {s["context"] for s in mv["meterValue"][0]["sampledValue"]} == {"Trigger"}
        if action in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            assert sent[0][2] == {"status": "Idle"}
        assert await send(stack, cp, "TriggerMessage", {"requestedMessage": "Heartbeat",
                                                        "connectorId": 9}) == {"status": "Rejected"}


async def test_triggered_boot_notification_carries_the_same_boot_data(stack: Stack, sim: Sims) -> None:
    """A BootNotification sent on request describes the same station as the one sent at boot."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-TRIG-BOOT"
        await sim.start(cp)
        [(_, _, first)] = await calls(stack, cp, "BootNotification")
        assert await send(stack, cp, "TriggerMessage",
                          {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [_, (_, _, second)] = await calls(stack, cp, "BootNotification")
        assert second == first
        [row] = await rows(stack, "SELECT * FROM charge_points WHERE id = :cp", cp=cp)
        assert (row["charge_point_serial"], row["meter_type"]) == (cp, "SIM-METER-3P")


# -- reservations and the local list ------------------------------------------------------------
async def test_reservations(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RES"
        st = await sim.start(cp)

        async def reserve(connector_id: int, reservation_id: int, expiry: str,
                          id_tag: str = "TAG-RES") -> str:
            return (await send(stack, cp, "ReserveNow", {
                "connectorId": connector_id, "expiryDate": expiry, "idTag": id_tag,
                "reservationId": reservation_id}))["status"]

        assert await reserve(1, 7, now_iso(3600)) == "Accepted"
        await until_status(stack, cp, 1, "Reserved")
        assert await reserve(1, 8, now_iso(3600)) == "Occupied"
        assert await reserve(9, 8, now_iso(3600)) == "Rejected"
        assert await send(stack, cp, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Available")
        assert await send(stack, cp, "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}
        # a reservation expires by itself
        assert await reserve(2, 9, now_iso(1.0)) == "Accepted"
        await until_status(stack, cp, 2, "Reserved")
        await until_status(stack, cp, 2, "Available", timeout=4)
        assert st.connectors[2].reservation is None
        # the reserving driver starts on the reserved connector: the reservation is consumed
        assert await reserve(1, 10, now_iso(3600)) == "Accepted"
        await until_status(stack, cp, 1, "Reserved")
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-RES"}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _one_tx(stack, cp))
        assert (tx["connector_id"], tx["id_tag"], tx["reservation_id"]) == (1, "TAG-RES", 10)
        await until_status(stack, cp, 1, "Charging")
        assert st.connectors[1].reservation is None


async def test_local_list_is_used_offline(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-LOCAL"
        st = await sim.start(cp)
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 5, "updateType": "Full", "localAuthorizationList": [
                {"idTag": "LOCAL-OK", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "LOCAL-BLOCKED", "idTagInfo": {"status": "Blocked"}},
                {"idTag": "LOCAL-GONE", "idTagInfo": {"status": "Accepted"}}]}) == {"status": "Accepted"}
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 5}
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 5, "updateType": "Differential", "localAuthorizationList": []}) == {
            "status": "VersionMismatch"}
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 6, "updateType": "Differential", "localAuthorizationList": [
                {"idTag": "LOCAL-NEW", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "LOCAL-GONE"}]}) == {"status": "Accepted"}
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 6}

        await go_offline(st, 2.0)
        assert await st.start_local(1, "LOCAL-OK") == "Accepted"
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id < 0  # provisional
        assert await st.start_local(2, "LOCAL-BLOCKED") == "Blocked"
        assert await st.start_local(2, "LOCAL-GONE") == "Invalid"
        assert await st.start_local(2, "STRANGER") == "Invalid"  # AllowOfflineTxForUnknownId false
        assert await st.start_local(2, "LOCAL-NEW") == "Accepted"
        await back_online(st, 1)
        found = await eventually(lambda: _n_tx(stack, cp, 2))
        assert {t["id_tag"]: t["connector_id"] for t in found} == {"LOCAL-OK": 1, "LOCAL-NEW": 2}
        ids = {t["connector_id"]: t["id"] for t in found}
        await eventually(lambda: _check(
            st.connectors[1].tx is not None and st.connectors[1].tx.id == ids[1]
            and st.connectors[2].tx is not None and st.connectors[2].tx.id == ids[2]))
