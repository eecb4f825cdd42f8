"""A simulated 2.0.1 station against a strict third-party central system (issue #17): npm
``ocpp-rpc``'s RPCServer in strict mode (tests/peers/csms.mjs) validates every frame both ways
against its own schemas while it drives the station through its device model, a remote session
and a trigger. Nothing of ours may break its schemas, and the session must read as 2.0.1 says."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from charger_sim.station201 import Station201
from common.durable import DurableQueue
from tests import strict_peer
from tests.charger_sim import stations
from tests.charger_sim.stations import template
from tests.strict_peer import read_until

BUDGET = 40.0
fast_sequences = stations.fast_sequences  # a fixture: status sequences step every 50 ms


async def test_a_201_station_under_a_strict_central_system(tmp_path: Path) -> None:
    process = await strict_peer.start("station")
    lines: list[dict[str, Any]] = []
    queue = DurableQueue(tmp_path / "queue.db")
    station = None
    task = None
    try:
        async with asyncio.timeout(BUDGET):
            port = (await read_until(process, lines, "listening"))["listening"]
            station = Station201("PEER-201", template(ocpp_version="2.0.1"), f"ws://127.0.0.1:{port}/ocpp",
                                 queue=queue, log_size=5000)
            task = asyncio.create_task(station.run())
            done = await read_until(process, lines, "done")
            assert "error" not in done, lines
            assert station.link is not None and station.link.ws.subprotocol == "ocpp2.0.1"
            assert process.stdin is not None
            process.stdin.close()
            failures = (await read_until(process, lines, "strictFailures"))["strictFailures"]
    finally:
        if station is not None:
            station.stop()
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        queue.close()
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert failures == []
    commands = [(line["command"], line["ok"]) for line in lines if "command" in line]
    assert commands == [(name, True) for name in (
        "GetBaseReport", "GetVariables", "SetVariables", "RequestStartTransaction", "RequestStopTransaction",
        "TriggerMessage", "UnlockConnector", "ReserveNow", "CancelReservation", "SendLocalList",
        "GetLocalListVersion", "SetChargingProfile", "GetChargingProfiles", "GetCompositeSchedule",
        "ClearChargingProfile", "InstallCertificate", "GetInstalledCertificateIds", "CertificateSigned",
        "TriggerMessage", "SetDisplayMessage", "GetDisplayMessages", "ClearDisplayMessage",
        "SetVariableMonitoring", "GetMonitoringReport", "SetMonitoringLevel", "ClearVariableMonitoring",
        "CustomerInformation", "CostUpdated", "ClearCache", "GetLog", "TriggerMessage", "UpdateFirmware")], lines
    received = [line for line in lines if "received" in line]
    events = [line["params"] for line in received if line["received"] == "TransactionEvent"]
    assert [e["eventType"] for e in events][0] == "Started" and events[-1]["eventType"] == "Ended"
    assert {e["transactionInfo"]["transactionId"] for e in events} == {events[0]["transactionInfo"]["transactionId"]}
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert events[0]["transactionInfo"]["remoteStartId"] == 77 and events[0]["triggerReason"] == "RemoteStart"
    assert events[0]["idToken"] == {"idToken": "PEER-TAG", "type": "Central"}  # the CSMS's token, as it was sent
    assert events[-1]["transactionInfo"]["stoppedReason"] == "Remote"
    assert any(e["eventType"] == "Updated" and e.get("meterValue") for e in events)
    reports = [line["params"] for line in received if line["received"] == "NotifyReport"]
    assert [r["seqNo"] for r in reports] == list(range(len(reports))) and not reports[-1]["tbc"]
    assert sum(len(r.get("reportData", [])) for r in reports) > 40  # the whole standard model
