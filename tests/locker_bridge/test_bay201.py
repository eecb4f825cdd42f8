"""Locker bays as OCPP 2.0.1 charging stations (issue #17): ``ocpp_version: "2.0.1"`` in the
bridge YAML (for all, or per locker). Against our central system, with the board emulated on a
real pty: RequestStart/StopTransaction switch the outlet through the serial frames with read-back,
the session is TransactionEvents under the bay's own id with strictly increasing seqNo and the
request's remoteStartId, the door and item become StatusNotification and NotifyEvent, the locker
extensions (DataTransfer) work the same, and the bay's settings are its device model. Then the
same bay against a strict third-party central system (npm ocpp-rpc, strict mode)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from locker_bridge.bay201 import VirtualChargingStation
from locker_bridge.config import ConfigError, load
from locker_bridge.emulator import Device, Emulator
from tests import strict_peer
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.bays import ident, transactions, vcp, wait_status
from tests.locker_bridge.conftest import bridge_yaml, bridged, command, standalone, until
from tests.strict_peer import read_until


@pytest.fixture
async def stack(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    async with bridged(db_url, bridge_yaml(tmp_path, extra='ocpp_version: "2.0.1"\n')) as s:
        yield s


async def frames(stack: Stack, cp: str, action: str) -> list[dict[str, Any]]:
    found = await rows(stack, "SELECT frame FROM messages WHERE charge_point_id = :cp AND direction = 'in' "
                              "AND message_type = 2 AND action = :a ORDER BY id", cp=cp, a=action)
    return [json.loads(r["frame"])[3] for r in found]


async def _door_events(stack: Stack, cp: str) -> list[tuple[str, str]]:
    return [(e["component"]["name"], e["actualValue"]) for p in await frames(stack, cp, "NotifyEvent")
            for e in p["eventData"]]


async def test_a_remote_session_on_a_201_bay(stack: Stack, emu: Emulator) -> None:
    await add_id_tag(stack, "TAG-1")
    cp = vcp(stack, 2)
    assert isinstance(cp, VirtualChargingStation) and cp.link is not None
    assert cp.link.ws.subprotocol == "ocpp2.0.1"
    [boot] = await frames(stack, ident(2), "BootNotification")
    assert boot["reason"] == "PowerUp" and boot["chargingStation"]["model"] == "locker-bay"
    await wait_status(stack, 2, "Available")
    bay = emu.boards[1].bays[2]
    bay.open_door()  # the door opens (a NotifyEvent says so), a phone goes in, the door shuts

    async def opened() -> bool:
        return ("Door", "true") in await _door_events(stack, ident(2))
    await until(opened)
    await wait_status(stack, 2, "Occupied")  # Preparing in 1.6
    bay.place(Device.phone())
    bay.close_door()

    async def told() -> list[tuple[str, str]] | None:
        events = await _door_events(stack, ident(2))
        return events if events.count(("Door", "false")) >= 2 and ("BayOccupancySensor", "true") in events else None
    events = await until(told)
    assert events[:2] == [("Door", "false"), ("BayOccupancySensor", "false")]  # as found at the boot
    await wait_status(stack, 2, "Occupied")

    answer = await command(stack, ident(2), "RequestStartTransaction", {
        "idToken": {"idToken": "TAG-1", "type": "Central"}, "remoteStartId": 77, "evseId": 1})
    assert answer == {"status": "Accepted"}
    await until(lambda: _is(lambda: bay.outlet_on))
    await until(lambda: _running(stack))
    [tx] = await transactions(stack, 2)
    assert cp.bay.tx is not None and tx["station_transaction_id"] == cp.bay.tx.station_id
    assert tx["remote_start_id"] == 77 and tx["id_tag"] == "TAG-1"
    shown = cp.bay.snapshot()  # the cabin view: the bay's own id, no provisional number
    assert (shown["transactionId"], shown["stationTransactionId"]) == (None, tx["station_transaction_id"])
    tokens = [p["idToken"] for p in await frames(stack, ident(2), "Authorize")] + [
        p["idToken"] for p in await frames(stack, ident(2), "TransactionEvent") if "idToken" in p]
    assert tokens and all(t == {"idToken": "TAG-1", "type": "Central"} for t in tokens), tokens  # as sent
    # a triggered MeterValues is MeterValues of the EVSE, even while charging
    assert await command(stack, ident(2), "TriggerMessage", {"requestedMessage": "MeterValues"}) == {
        "status": "Accepted"}
    [reading] = await until(lambda: frames(stack, ident(2), "MeterValues"))
    assert reading["evseId"] == 1 and reading["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    emu.advance(600)  # ten minutes of charging
    await until(lambda: _updated(stack))
    # the door stays shut while it charges: 2.0.1 does not unlock under a transaction
    assert await command(stack, ident(2), "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "OngoingAuthorizedTransaction"}
    assert await command(stack, ident(2), "RequestStopTransaction", {"transactionId": "not-this-one"}) == {
        "status": "Rejected"}
    answer = await command(stack, ident(2), "RequestStopTransaction", {"transactionId": tx["station_transaction_id"]})
    assert answer == {"status": "Accepted"}
    await until(lambda: _stopped(stack))
    assert not bay.outlet_on
    [tx] = await transactions(stack, 2)
    assert tx["stop_reason"] == "Remote" and tx["meter_stop"] > tx["meter_start"]
    events = [p for p in await frames(stack, ident(2), "TransactionEvent")]
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["eventType"] == "Started" and events[0]["triggerReason"] == "RemoteStart"
    assert events[-1]["eventType"] == "Ended" and events[-1]["transactionInfo"]["stoppedReason"] == "Remote"
    assert {e["transactionInfo"]["transactionId"] for e in events} == {tx["station_transaction_id"]}
    # the locker extension opens the door as for a 1.6 bay
    result = await command(stack, ident(2), "DataTransfer", {"vendorId": "chargebay", "messageId": "OpenLocker"})
    assert result["status"] == "Accepted" and json.loads(result["data"])["door"] == "open"
    bay.take()
    bay.close_door()
    await wait_status(stack, 2, "Available")


async def _is(check: Any) -> bool:
    return bool(check())


async def _running(stack: Stack) -> bool:
    found = await transactions(stack, 2)
    return len(found) == 1 and found[0]["stop_timestamp"] is None


async def _updated(stack: Stack) -> bool:
    return any(e["eventType"] == "Updated" for e in await frames(stack, ident(2), "TransactionEvent"))


async def _stopped(stack: Stack) -> bool:
    found = await transactions(stack, 2)
    return len(found) == 1 and found[0]["stop_timestamp"] is not None


async def test_the_device_model_triggers_and_a_reset(stack: Stack, emu: Emulator) -> None:
    cp = vcp(stack, 1)
    answer = await command(stack, ident(1), "SetVariables", {"setVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "45"},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"},
         "attributeValue": "Faulted"},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}, "attributeValue": "5"},
        {"component": {"name": "LockerBay"}, "variable": {"name": "NoSuch"}, "attributeValue": "5"}]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted", "Rejected", "UnknownComponent", "UnknownVariable"]
    assert cp.settings.values["HeartbeatInterval"] == "45"
    answer = await command(stack, ident(1), "GetVariables", {"getVariableData": [
        {"component": {"name": "ocppcommctrlr"}, "variable": {"name": "heartbeatinterval"}},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}]})
    assert [r.get("attributeValue") for r in answer["getVariableResult"]] == ["45", "Available"]
    assert await command(stack, ident(1), "GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"}) == {
        "status": "Accepted"}

    async def reported() -> bool:
        return any(p["requestId"] == 3 for p in await frames(stack, ident(1), "NotifyReport"))
    await until(reported)
    assert await command(stack, ident(1), "TriggerMessage", {"requestedMessage": "TransactionEvent"}) == {
        "status": "Rejected"}  # none runs
    assert await command(stack, ident(1), "TriggerMessage", {"requestedMessage": "LogStatusNotification"}) == {
        "status": "Accepted"}
    await until(lambda: _has(stack, ident(1), "LogStatusNotification"))
    assert await command(stack, ident(1), "ChangeAvailability", {"operationalStatus": "Inoperative",
                                                                 "evse": {"id": 1}}) == {"status": "Accepted"}
    await wait_status(stack, 1, "Unavailable")
    assert await command(stack, ident(1), "ChangeAvailability", {"operationalStatus": "Operative"}) == {
        "status": "Accepted"}
    await wait_status(stack, 1, "Available")
    assert await command(stack, ident(1), "Reset", {"type": "Immediate"}) == {"status": "Accepted"}

    async def rebooted() -> bool:
        return any(b["reason"] == "RemoteReset" for b in await frames(stack, ident(1), "BootNotification"))
    await until(rebooted)
    assert await command(stack, ident(1), "TriggerMessage", {"requestedMessage": "BootNotification"}) == {
        "status": "Accepted"}

    async def triggered() -> bool:
        return any(b["reason"] == "Triggered" for b in await frames(stack, ident(1), "BootNotification"))
    await until(triggered)


async def _has(stack: Stack, cp: str, action: str) -> bool:
    return bool(await frames(stack, cp, action))


def test_the_version_is_set_for_all_or_per_locker(tmp_path: Path) -> None:
    path = bridge_yaml(tmp_path, locker_extra=', ocpp_version: "2.0.1"')
    config = load(path)
    assert config.ocpp_version == "1.6" and config.lockers[0].ocpp_version == "2.0.1"
    path.write_text(path.read_text().replace('ocpp_version: "2.0.1"', 'ocpp_version: 1.6'))  # unquoted: a number
    assert load(path).lockers[0].ocpp_version == "1.6"
    path.write_text(path.read_text().replace('ocpp_version: 1.6', 'ocpp_version: "2.1"'))
    with pytest.raises(ConfigError, match="ocpp_version"):
        load(path)


async def test_a_201_bay_under_a_strict_central_system(tmp_path: Path, emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    bay.open_door()
    bay.place(Device.phone())
    bay.close_door()
    process = await strict_peer.start("bay")
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            port = (await read_until(process, lines, "listening"))["listening"]
            config = bridge_yaml(tmp_path, bays=1, extra='ocpp_version: "2.0.1"\n')
            async with standalone(config, f"ws://127.0.0.1:{port}/ocpp"):
                done = await read_until(process, lines, "done")
                assert "error" not in done, lines
            assert process.stdin is not None
            process.stdin.close()
            failures = (await read_until(process, lines, "strictFailures"))["strictFailures"]
    finally:
        if process.returncode is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()
    assert failures == [], failures
    commands = [(line["command"], line["ok"]) for line in lines if "command" in line]
    assert commands == [(name, True) for name in (
        "GetBaseReport", "GetVariables", "SetVariables", "RequestStartTransaction", "UnlockConnector",
        "RequestStopTransaction", "TriggerMessage", "DataTransfer", "Reset")], lines
    events = [line["params"] for line in lines if line.get("received") == "TransactionEvent"]
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["transactionInfo"]["remoteStartId"] == 77 and events[-1]["eventType"] == "Ended"


async def _charging201(stack: Stack, emu: Emulator, n: int) -> dict[str, Any]:
    """Load bay ``n`` and start a transaction by RequestStartTransaction; the CSMS's row."""
    bay = emu.boards[1].bays[n]
    bay.open_door()
    bay.place(Device.phone())
    bay.close_door()
    await until(lambda: _is(lambda: vcp(stack, n).bay.item))
    assert await command(stack, ident(n), "RequestStartTransaction", {
        "idToken": {"idToken": f"TAG-{n}", "type": "Central"}, "remoteStartId": n}) == {"status": "Accepted"}

    async def running() -> dict[str, Any] | None:
        found = [t for t in await transactions(stack, n) if t["stop_timestamp"] is None]
        return found[0] if found else None
    return await until(running)  # type: ignore[no-any-return]


async def _events(stack: Stack, tx_id: int) -> list[int]:
    found = await rows(stack, "SELECT seq_no FROM transaction_events WHERE transaction_id = :tx ORDER BY seq_no",
                       tx=tx_id)
    return [r["seq_no"] for r in found]


async def test_a_201_bridge_without_state_adopts_or_ends_what_the_csms_holds_open(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """The state file gone, each bay asks the CSMS (DataTransfer OpenTransactions): it learns its
    transaction's own id and next seqNo, adopts the one still charging and ends the one whose
    outlet went off (Reboot), the events carrying on without a gap."""
    assert stack.bridge is not None
    await add_id_tag(stack, "TAG-1")
    await add_id_tag(stack, "TAG-2")  # one token cannot charge twice at once (ConcurrentTx)
    on, off = await _charging201(stack, emu, 1), await _charging201(stack, emu, 2)
    emu.advance(600)
    await until(lambda: _is_more(stack, off["id"], 2))
    await stack.bridge.close()
    for path in tmp_path.glob("outbox.db*"):
        path.unlink()
    emu.boards[1].bays[2].switch_off()
    config = bridge_yaml(tmp_path, extra='ocpp_version: "2.0.1"\n')
    async with standalone(config, stack.ws_url) as bridge:
        ended = await until(lambda: _stopped_tx(stack, off["id"]), 10)
        assert ended["stop_reason"] == "Reboot"
        cp = bridge.cps[ident(1)]
        await until(lambda: _is(lambda: cp.bay.tx is not None), 10)
        assert cp.bay.tx is not None and cp.bay.tx.station_id == on["station_transaction_id"]
        assert await command(stack, ident(1), "RequestStopTransaction", {
            "transactionId": on["station_transaction_id"]}) == {"status": "Accepted"}
        done = await until(lambda: _stopped_tx(stack, on["id"]), 10)
    assert done["stop_reason"] == "Remote"
    for tx in (on, off):
        seqs = await _events(stack, tx["id"])
        assert seqs == list(range(len(seqs))), seqs  # no gap, no repeat across the two bridges


async def _is_more(stack: Stack, tx_id: int, count: int) -> bool:
    return len(await _events(stack, tx_id)) >= count


async def _stopped_tx(stack: Stack, tx_id: int) -> dict[str, Any] | None:
    found = await rows(stack, "SELECT * FROM transactions WHERE id = :id", id=tx_id)
    return dict(found[0]) if found and found[0]["stop_timestamp"] is not None else None


async def test_a_start_the_csms_refuses_switches_the_outlet_off(stack: Stack, emu: Emulator) -> None:
    """Without AuthorizeRemoteStart the outlet goes on first; the Started event's answer (a
    blocked token) switches it off again, the transaction ending DeAuthorized."""
    await add_id_tag(stack, "TAG-BLOCKED", status="Blocked")
    answer = await command(stack, ident(3), "SetVariables", {"setVariableData": [
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "AuthorizeRemoteStart"}, "attributeValue": "false"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    bay = emu.boards[1].bays[3]
    bay.open_door()
    bay.place(Device.phone())
    bay.close_door()
    await until(lambda: _is(lambda: vcp(stack, 3).bay.item))
    assert await command(stack, ident(3), "RequestStartTransaction", {
        "idToken": {"idToken": "TAG-BLOCKED", "type": "Central"}, "remoteStartId": 9}) == {"status": "Accepted"}

    async def ended() -> dict[str, Any] | None:
        found = await transactions(stack, 3)
        return found[0] if found and found[0]["stop_timestamp"] is not None else None
    tx = await until(ended)
    assert tx["stop_reason"] == "DeAuthorized" and tx["id_tag_status"] == "Blocked"
    assert not bay.outlet_on and not await frames(stack, ident(3), "Authorize")
    cp = vcp(stack, 3)
    assert isinstance(cp, VirtualChargingStation)
    assert (cp.remote_start_id, cp.remote_token) == (None, None)  # no later start answers request 9
    # refused at the Authorize this time (AuthorizeRemoteStart back on): the outlet never goes on,
    # and the request is forgotten as well
    await command(stack, ident(3), "SetVariables", {"setVariableData": [
        {"component": {"name": "AuthCtrlr"}, "variable": {"name": "AuthorizeRemoteStart"}, "attributeValue": "true"}]})
    assert await command(stack, ident(3), "RequestStartTransaction", {
        "idToken": {"idToken": "TAG-BLOCKED", "type": "Central"}, "remoteStartId": 10}) == {"status": "Accepted"}
    await until(lambda: _has(stack, ident(3), "Authorize"))
    await until(lambda: _is(lambda: cp.remote_start_id is None and cp.remote_token is None))
    assert not bay.outlet_on and len(await transactions(stack, 3)) == 1


async def test_a_bay_switched_with_a_16_transaction_open_keeps_16_until_it_ends(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """The YAML says 2.0.1 now, but bay 1's transaction began in 1.6: the bay speaks 1.6 until
    it is over (a 2.0.1 bay could not end it: the CSMS knows it by its 1.6 id), bay 2 switches."""
    from tests.locker_bridge.bays import charging, stopped
    async with bridged(db_url, bridge_yaml(tmp_path)) as stack:
        tx = await charging(stack, emu, 1)
        assert stack.bridge is not None
        await stack.bridge.close()
        async with standalone(bridge_yaml(tmp_path, extra='ocpp_version: "2.0.1"\n'), stack.ws_url) as bridge:
            old, new = bridge.cps[ident(1)], bridge.cps[ident(2)]
            assert not isinstance(old, VirtualChargingStation) and isinstance(new, VirtualChargingStation)
            await until(lambda: _is(lambda: old.booted.is_set() and old.bay.tx is not None), 10)
            assert old.link is not None and old.link.ws.subprotocol == "ocpp1.6"
            assert await command(stack, ident(1), "RemoteStopTransaction", {"transactionId": tx["id"]}) == {
                "status": "Accepted"}
            done = await stopped(stack, tx["id"])
        assert done["stop_reason"] == "Remote"
        assert len(await transactions(stack, 1)) == 1  # ended once, no second one opened
