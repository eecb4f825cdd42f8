"""Simulated OCPP 2.0.1 stations (issue #17) against our central system, beside a 1.6 one: boot,
EVSE statuses, the device model read and written over REST (and the station's behaviour following
it), a remote session as TransactionEvents with the central system's remoteStartId and strictly
increasing seqNo, a local session refused by the central system, resets, triggers, and a
transaction begun offline sent late with ``offline``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    ADMIN,
    BUDGET,
    Sims,
    back_online,
    calls,
    eventually,
    go_offline,
    now_iso,
    send,
    template,
    transactions,
)

sim = stations.sim  # a fixture
settings_overrides = stations.settings_overrides  # unknown id tags accepted


async def variables(stack: Stack, cp: str, component: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.get(f"/api/v1/charge-points/{cp}/variables", params={"component": component})
    assert r.status_code == 200, r.text
    return {v["variable"]: v["value"] for v in r.json()["items"] if v["evse_id"] == 0}


async def events_of(stack: Stack, tx_id: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.get(f"/api/v1/transactions/{tx_id}")
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


async def test_boot_statuses_and_the_device_model_over_rest(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        old = await sim.start("SIM16-A")
        st = await sim.start201("SIM201-A", template(connectors=2))
        assert st.link is not None and st.link.ws.subprotocol == "ocpp2.0.1"
        [deflate] = st.link.ws.protocol.extensions  # compressed, in 1 KiB windows both ways
        assert (deflate.name, deflate.local_max_window_bits, deflate.remote_max_window_bits) == (  # type: ignore[attr-defined]
            "permessage-deflate", 10, 10)
        assert old.link is not None and old.link.ws.subprotocol == "ocpp1.6"
        [(_, _, boot)] = await calls(stack, "SIM201-A", "BootNotification")
        assert boot["chargingStation"]["serialNumber"] == "SIM201-A" and boot["reason"] == "PowerUp"
        r = await send(stack, "SIM201-A", "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
        assert r["status"] == "Accepted"
        comm = await eventually(lambda: _reported(stack, "SIM201-A", "OCPPCommCtrlr"))
        assert comm["HeartbeatInterval"] == "300"
        r = await send(stack, "SIM201-A", "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "2"},
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "Identity"}, "attributeValue": "x"},
            {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "true"}]})
        assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Accepted", "Rejected", "UnknownComponent"]
        beats = len(await calls(stack, "SIM201-A", "Heartbeat"))
        await eventually(lambda: _more(stack, "SIM201-A", "Heartbeat", beats), timeout=8)  # every 2 s now
        r = await send(stack, "SIM201-A", "GetVariables", {"getVariableData": [
            {"component": {"name": "ocppcommctrlr"}, "variable": {"name": "heartbeatinterval"}}]})
        assert r["getVariableResult"][0]["attributeValue"] == "2"


async def _reported(stack: Stack, cp: str, component: str) -> dict[str, Any]:
    found = await variables(stack, cp, component)
    assert found, f"{component} not reported yet"
    return found


async def _more(stack: Stack, cp: str, action: str, than: int) -> None:
    assert len(await calls(stack, cp, action)) > than


async def test_a_remote_session_as_transaction_events(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-B")
        r = await send(stack, "SIM201-B", "RequestStartTransaction", {
            "idToken": {"idToken": "TAG-201", "type": "Central"}, "remoteStartId": 42, "evseId": 1})
        assert r["status"] == "Accepted"
        [tx] = await eventually(lambda: _running(stack, "SIM201-B"))
        assert (tx["remote_start_id"], tx["id_tag"], tx["id_tag_status"], tx["connector_id"]) == (
            42, "TAG-201", "Accepted", 1)
        # the CSMS's token comes back as it was sent, type and all, at the Authorize and the start
        tokens = [p["idToken"] for _, _, p in await calls(stack, "SIM201-B", "Authorize")] + [
            p["idToken"] for _, _, p in await calls(stack, "SIM201-B", "TransactionEvent") if "idToken" in p]
        assert tokens and all(t == {"idToken": "TAG-201", "type": "Central"} for t in tokens), tokens
        # the runtime snapshot shows the transaction by the id the CSMS knows it by
        assert st.snapshot()["connectors"][0]["transaction_id"] == tx["station_transaction_id"]
        # a triggered MeterValues is MeterValues of the EVSE, even while it charges
        assert (await send(stack, "SIM201-B", "TriggerMessage", {"requestedMessage": "MeterValues",
                                                                  "evse": {"id": 1}}))["status"] == "Accepted"
        [(_, _, reading)] = await eventually(lambda: _one_call(stack, "SIM201-B", "MeterValues"))
        assert reading["evseId"] == 1
        await eventually(lambda: _updated(stack, tx["id"]), timeout=6)  # meter values every second
        r = await send(stack, "SIM201-B", "RequestStopTransaction", {"transactionId": tx["station_transaction_id"]})
        assert r["status"] == "Accepted"
        ended = await eventually(lambda: _ended(stack, "SIM201-B"))
        assert ended["stop_reason"] == "Remote" and ended["energy_wh"] > 0
        kinds = [(e["event_type"], e["seq_no"]) for e in await events_of(stack, tx["id"])]
        assert kinds[0] == ("Started", 0) and kinds[-1][0] == "Ended"
        assert [n for _, n in kinds] == list(range(len(kinds)))  # strictly increasing, no gap
        assert st.connectors[1].tx is None


async def _running(stack: Stack, cp: str) -> list[dict[str, Any]]:
    found = [t for t in await transactions(stack, cp) if t["stop_timestamp"] is None]
    assert found, "no transaction yet"
    return found


async def _updated(stack: Stack, tx_id: int) -> None:
    assert any(e["event_type"] == "Updated" for e in await events_of(stack, tx_id))


async def _ended(stack: Stack, cp: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.get("/api/v1/transactions", params={"charge_point_id": cp})
    found = r.json()["items"]
    assert len(found) == 1 and not found[0]["active"], found
    return dict(found[0])


async def test_an_offline_start_goes_late_with_offline_set(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-C", template(configuration={"AllowOfflineTxForUnknownId": "true"}))
        st.auth_cache["TAG-OFF"] = {"status": "Accepted"}
        connects = st.stats["connects"]
        await go_offline(st, 1.5)
        assert await st.start_local(1, "TAG-OFF") == "Accepted"
        await back_online(st, connects)
        [tx] = await eventually(lambda: _running(stack, "SIM201-C"))
        started = [e for e in await events_of(stack, tx["id"]) if e["event_type"] == "Started"]
        assert started and started[0]["offline"] is True


async def test_an_offline_start_refused_once_online_ends_deauthorized(stack: Stack, sim: Sims) -> None:
    """The cache said Accepted offline; the central system, answering the queued Started event,
    says Blocked: the session ends (StopTxOnInvalidId) and counts as rejected."""
    from tests.helpers import add_id_tag
    await add_id_tag(stack, "TAG-STALE", status="Blocked")
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-R")
        st.auth_cache["TAG-STALE"] = {"status": "Accepted"}  # what it knew before
        connects = st.stats["connects"]
        await go_offline(st, 1.5)
        assert await st.start_local(1, "TAG-STALE") == "Accepted"
        await back_online(st, connects)

        async def ended() -> dict[str, Any]:
            found = await transactions(stack, "SIM201-R")
            assert len(found) == 1 and found[0]["stop_timestamp"] is not None, found
            return found[0]
        tx = await eventually(ended, 10)
        assert tx["stop_reason"] == "DeAuthorized" and tx["id_tag_status"] == "Blocked"
        assert st.stats["rejected"] == 1 and st.connectors[1].tx is None


async def test_reservations_local_lists_and_profiles_through_our_rest_resources(stack: Stack, sim: Sims) -> None:
    """Our central system's REST resources speak 2.0.1 to a 2.0.1 station ([ocpp201]); the
    simulated station holds the reservation, the list and the profile as a real one would, and
    a profile caps its meter."""
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                         timeout=15) as client:
        st = await sim.start201("SIM201-D", template(connectors=2))
        for tag in ("TAG-D1", "TAG-D2"):
            assert (await client.post("/api/v1/id-tags", json={"id_tag": tag})).status_code == 201
        r = await client.post("/api/v1/reservations", json={
            "charge_point_id": "SIM201-D", "connector_id": 2, "id_tag": "TAG-D1",
            "expiry_date": "2099-01-01T00:00:00Z"})
        assert r.status_code == 201 and r.json()["reservation"]["status"] == "Accepted", r.text
        assert st.connectors[2].reservation is not None and st.connectors[2].status == "Reserved"
        r = await client.post(f"/api/v1/reservations/{r.json()['reservation']['id']}/cancel")
        assert r.status_code == 200 and st.connectors[2].reservation is None, r.text

        r = await client.post("/api/v1/charge-points/SIM201-D/local-list", json={"update_type": "Full"})
        assert r.status_code == 200 and r.json()["command"]["response"] == {"status": "Accepted"}, r.text
        assert set(st.local_list) >= {"TAG-D1", "TAG-D2"}
        check = (await client.post("/api/v1/charge-points/SIM201-D/local-list/check")).json()
        assert check["in_sync"] is True, check

        profile = {"evseId": 1, "chargingProfile": {
            "id": 9, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": "2020-01-01T00:00:00Z",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3000.0}]}]}}
        assert (await send(stack, "SIM201-D", "SetChargingProfile", profile))["status"] == "Accepted"
        composite = await send(stack, "SIM201-D", "GetCompositeSchedule", {"duration": 600, "evseId": 1})
        assert composite["status"] == "Accepted"
        assert composite["schedule"]["chargingSchedulePeriod"][0]["limit"] == 3000.0
        asked = await send(stack, "SIM201-D", "GetChargingProfiles",
                           {"requestId": 3, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}})
        assert asked["status"] == "Accepted"
        [(_, _, report)] = await eventually(lambda: _reports(stack, "SIM201-D"))
        assert (report["requestId"], report["evseId"], report["tbc"]) == (3, 1, False)
        assert report["chargingProfile"] == [profile["chargingProfile"]]  # as it was set
        none = await send(stack, "SIM201-D", "GetChargingProfiles",
                          {"requestId": 4, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}})
        assert none["status"] == "NoProfiles"
        assert await st.start_local(1, "TAG-D2") == "Accepted"
        await eventually(lambda: _capped(st, 3000.0), timeout=5)
        cleared = await send(stack, "SIM201-D", "ClearChargingProfile", {"chargingProfileId": 9})
        assert cleared["status"] == "Accepted"


async def _reports(stack: Stack, cp: str) -> list[Any]:
    found = await calls(stack, cp, "ReportChargingProfiles")
    assert found, "no report yet"
    return found


async def _capped(st: Any, watts: float) -> None:
    assert 0 < st.connectors[1].meter.power_w <= watts, st.connectors[1].meter.power_w


async def test_a_refused_start_is_a_refused_start(stack: Stack, sim: Sims) -> None:
    """A token the central system refuses: at the Authorize no session starts; in the answer to
    a Started event the session ends DeAuthorized (TxCtrlr.StopTxOnInvalidId true) or stays,
    delivering nothing (false). Each refusal is counted apart."""
    from tests.helpers import add_id_tag
    async with asyncio.timeout(BUDGET):
        await add_id_tag(stack, "TAG-BLOCKED", status="Blocked")
        st = await sim.start201("SIM201-E", template(connectors=2))
        assert await st.start_local(1, "TAG-BLOCKED") == "Blocked"
        assert st.connectors[1].tx is None and st.stats["rejected"] == 1
        token = {"idToken": "TAG-BLOCKED", "type": "ISO14443"}
        r = await send(stack, "SIM201-E", "RequestStartTransaction",
                       {"idToken": token, "remoteStartId": 5, "evseId": 1})
        assert r["status"] == "Accepted"  # the station does not ask first (AuthorizeRemoteStart false)
        ended = await eventually(lambda: _ended(stack, "SIM201-E"))
        assert (ended["id_tag_status"], ended["stop_reason"]) == ("Blocked", "DeAuthorized")
        assert st.stats["rejected"] == 2
        r = await send(stack, "SIM201-E", "SetVariables", {"setVariableData": [
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "StopTxOnInvalidId"}, "attributeValue": "false"}]})
        assert r["setVariableResult"][0]["attributeStatus"] == "Accepted"
        r = await send(stack, "SIM201-E", "RequestStartTransaction",
                       {"idToken": token, "remoteStartId": 6, "evseId": 2})
        assert r["status"] == "Accepted"
        await eventually(lambda: _suspended(st, 2), timeout=5)
        assert st.stats["rejected"] == 3 and st.connectors[2].tx is not None


async def _suspended(st: Any, connector: int) -> None:
    c = st.connectors[connector]
    assert c.tx is not None and c.tx.refused and c.status == "SuspendedEVSE", (c.status, c.tx)


async def test_tx_start_point_ev_connected_begins_the_transaction_at_plug_in(stack: Stack, sim: Sims) -> None:
    """TxStartPoint EVConnected: the Started event comes at plug-in (CablePluggedIn, no token),
    the token in an Updated event when the driver authorizes (or a RequestStart names it), and
    energy only from then; the central system ties the token to the transaction begun earlier."""
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-SP", template(connectors=2))
        r = await send(stack, "SIM201-SP", "SetVariables", {"setVariableData": [
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "Authorized"},
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "EVConnected"},
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"}, "attributeValue": "Authorized"}]})
        # a start point it does not keep apart, and the (fixed) stop point: Rejected
        assert [x["attributeStatus"] for x in r["setVariableResult"]] == ["Rejected", "Accepted", "Rejected"]
        await st.plug(1)
        [tx] = await eventually(lambda: _running(stack, "SIM201-SP"))
        started = [p for _, _, p in await calls(stack, "SIM201-SP", "TransactionEvent")]
        assert [(p["eventType"], p["triggerReason"], "idToken" in p) for p in started] == [
            ("Started", "CablePluggedIn", False)]
        assert st.connectors[1].meter.power_w == 0  # nothing flows before the token
        assert await st.start_local(1, "TAG-SP") == "Accepted"

        async def authorized() -> dict[str, Any]:
            [row] = await transactions(stack, "SIM201-SP")
            assert row["id_tag"] == "TAG-SP" and row["id_tag_status"] == "Accepted", row
            return row
        row = await eventually(authorized)
        assert row["id"] == tx["id"]  # the same transaction, not a second one
        # the second connector: begun at plug-in, its token from a RequestStartTransaction
        await st.plug(2)
        await eventually(lambda: _two(stack, "SIM201-SP"))
        r = await send(stack, "SIM201-SP", "RequestStartTransaction", {
            "idToken": {"idToken": "TAG-SP2", "type": "Central"}, "remoteStartId": 5, "evseId": 2})
        assert r["status"] == "Accepted"

        async def remote() -> None:
            rows = await transactions(stack, "SIM201-SP")
            assert len(rows) == 2 and rows[1]["remote_start_id"] == 5 and rows[1]["id_tag"] == "TAG-SP2", rows
        await eventually(remote)
        for connector in (1, 2):
            assert await st.stop_local(connector)
        events = [p for _, _, p in await calls(stack, "SIM201-SP", "TransactionEvent")]
        for sid in {p["transactionInfo"]["transactionId"] for p in events}:
            mine = [p for p in events if p["transactionInfo"]["transactionId"] == sid]
            assert [p["seqNo"] for p in mine] == list(range(len(mine)))
            assert mine[0]["eventType"] == "Started" and mine[1]["eventType"] == "Updated" and "idToken" in mine[1]


async def _two(stack: Stack, cp: str) -> None:
    assert len(await transactions(stack, cp)) == 2


async def _one_call(stack: Stack, cp: str, action: str) -> list[Any]:
    found = await calls(stack, cp, action)
    assert found, f"no {action} yet"
    return found


async def test_a_reserved_connector_and_a_remote_start_that_never_plugs_in(stack: Stack, sim: Sims) -> None:
    """Starting at plug-in (EVConnected) waits on a reserved connector for its owner, whose start
    uses the reservation; a RequestStart whose EV never comes leaves no remoteStartId for the
    next (local) start to answer."""
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-RV", template(connectors=2, plug_in_delay=None))
        await send(stack, "SIM201-RV", "SetVariables", {"setVariableData": [
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}, "attributeValue": "EVConnected"},
            {"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}, "attributeValue": "1"}]})
        r = await send(stack, "SIM201-RV", "ReserveNow", {
            "id": 7, "expiryDateTime": now_iso(600), "idToken": {"idToken": "OWNER", "type": "ISO14443"}, "evseId": 1})
        assert r == {"status": "Accepted"}
        await st.plug(1)
        assert st.connectors[1].tx is None  # not begun for whoever plugged in
        assert await st.start_local(1, "OWNER") == "Accepted"
        [started] = [p for _, _, p in await calls(stack, "SIM201-RV", "TransactionEvent")
                     if p["eventType"] == "Started"]
        assert started["reservationId"] == 7 and st.connectors[1].reservation is None
        r = await send(stack, "SIM201-RV", "RequestStartTransaction", {
            "idToken": {"idToken": "TAG-R", "type": "Central"}, "remoteStartId": 99, "evseId": 2})
        assert r == {"status": "Accepted"}
        await eventually(lambda: _check(2 not in st.remote_ids and 2 not in st.remote_tokens), 5)  # timed out
        assert await st.start_local(2, "TAG-L") == "Accepted"
        [local] = [p for _, _, p in await calls(stack, "SIM201-RV", "TransactionEvent")
                   if p["eventType"] == "Started" and p["evse"]["id"] == 2]
        assert local["triggerReason"] != "RemoteStart" and "remoteStartId" not in local["transactionInfo"]


def _check(condition: bool) -> None:
    assert condition
