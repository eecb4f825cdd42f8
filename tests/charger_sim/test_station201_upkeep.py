"""A simulated OCPP 2.0.1 station's upkeep actions against our central system (issue #17):
UpdateFirmware with its status notifications and a reboot, GetLog, certificates, display
messages, variable monitoring, customer information, cost updates, network profiles and the
TriggerMessage kinds that report them. Every answer passes the central system's 2.0.1 schema
check (``send`` fails on anything but a CALLRESULT)."""

from __future__ import annotations

import asyncio
from typing import Any

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import BUDGET, CERT, ROOT_CERT, Sims, calls, eventually, now_iso, send
from tests.helpers import rows

V2G_CERT = "-----BEGIN CERTIFICATE-----\nMIIBv2g\n-----END CERTIFICATE-----"
sim = stations.sim  # a fixture
fast_sequences = stations.fast_sequences  # a fixture: status sequences step every 50 ms
settings_overrides = stations.settings_overrides


async def refused_none(stack: Stack, cp: str) -> None:
    """The central system answered every call of the station: no CALLERROR went back (a
    schema-invalid notification is answered with one, and would pass unseen otherwise)."""
    found = await rows(stack, "SELECT frame FROM messages WHERE charge_point_id = :cp AND direction = 'out' "
                              "AND message_type = 4", cp=cp)
    assert [r["frame"] for r in found] == []


async def _statuses(stack: Stack, cp: str, action: str, count: int) -> list[dict[str, Any]]:
    found = [p for _, _, p in await calls(stack, cp, action)]
    assert len(found) >= count, found
    return found


async def test_a_firmware_update_reports_each_step_reboots_and_says_installed(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-FW")
        connects = st.stats["connects"]
        r = await send(stack, "SIM201-FW", "UpdateFirmware", {"requestId": 41, "firmware": {
            "location": "https://fw.example/v2.bin", "retrieveDateTime": now_iso(), "signature": "c2ln",
            "signingCertificate": CERT}})
        assert r == {"status": "Accepted"}
        found = await eventually(lambda: _statuses(stack, "SIM201-FW", "FirmwareStatusNotification", 6), 10)
        assert [p["status"] for p in found] == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                                "InstallRebooting", "Installed"]
        assert {p["requestId"] for p in found} == {41}
        assert st.stats["connects"] > connects and st.firmware_version.endswith("+update")
        boots = [p for _, _, p in await calls(stack, "SIM201-FW", "BootNotification")]
        assert boots[-1]["reason"] == "FirmwareUpdate"
        assert boots[-1]["chargingStation"]["firmwareVersion"] == st.firmware_version
        r = await send(stack, "SIM201-FW", "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
        assert r == {"status": "Accepted"}
        last = await eventually(lambda: _statuses(stack, "SIM201-FW", "FirmwareStatusNotification", 7))
        assert last[-1] == {"status": "Idle"}  # nothing under way any more: no requestId either
        await refused_none(stack, "SIM201-FW")


async def test_a_second_update_or_log_request_cancels_the_first(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        await sim.start201("SIM201-FW2")
        later = {"location": "https://fw.example/v3.bin", "retrieveDateTime": now_iso(3600)}
        assert await send(stack, "SIM201-FW2", "UpdateFirmware", {"requestId": 1, "firmware": later}) == {
            "status": "Accepted"}
        scheduled = await eventually(lambda: _statuses(stack, "SIM201-FW2", "FirmwareStatusNotification", 1))
        assert scheduled[0] == {"status": "DownloadScheduled", "requestId": 1}
        assert await send(stack, "SIM201-FW2", "UpdateFirmware", {"requestId": 2, "firmware": later}) == {
            "status": "AcceptedCanceled"}
        bad = {**later, "signingCertificate": "not a certificate"}
        assert await send(stack, "SIM201-FW2", "UpdateFirmware", {"requestId": 3, "firmware": bad}) == {
            "status": "InvalidCertificate"}
        log = {"remoteLocation": "https://logs.example/up"}
        first = await send(stack, "SIM201-FW2", "GetLog", {"requestId": 8, "logType": "SecurityLog", "log": log})
        assert first == {"status": "Accepted", "filename": "security-SIM201-FW2-8.log"}
        second = await send(stack, "SIM201-FW2", "GetLog", {"requestId": 9, "logType": "DiagnosticsLog", "log": log})
        assert second["status"] == "AcceptedCanceled"
        found = await eventually(lambda: _statuses(stack, "SIM201-FW2", "LogStatusNotification", 2))
        assert [(p["status"], p["requestId"]) for p in found[-2:]] == [("Uploading", 9), ("Uploaded", 9)]
        assert all(p["requestId"] == 9 for p in found)  # the cancelled upload told nothing
        await refused_none(stack, "SIM201-FW2")


async def test_certificates_are_installed_listed_and_deleted(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-CERT")
        assert await send(stack, "SIM201-CERT", "GetInstalledCertificateIds", {}) == {"status": "NotFound"}
        assert await send(stack, "SIM201-CERT", "InstallCertificate", {
            "certificateType": "CSMSRootCertificate", "certificate": ROOT_CERT}) == {"status": "Accepted"}
        assert await send(stack, "SIM201-CERT", "InstallCertificate", {
            "certificateType": "MORootCertificate", "certificate": "garbage"}) == {"status": "Rejected"}
        listed = await send(stack, "SIM201-CERT", "GetInstalledCertificateIds",
                            {"certificateType": ["CSMSRootCertificate"]})
        [entry] = listed["certificateHashDataChain"]
        assert entry["certificateType"] == "CSMSRootCertificate"
        assert await send(stack, "SIM201-CERT", "GetInstalledCertificateIds",
                          {"certificateType": ["V2GRootCertificate"]}) == {"status": "NotFound"}
        assert await send(stack, "SIM201-CERT", "CertificateSigned", {"certificateChain": CERT}) == {
            "status": "Accepted"}
        assert st.certificates["ChargingStationCertificate"] == CERT
        assert await send(stack, "SIM201-CERT", "CertificateSigned", {
            "certificateChain": V2G_CERT, "certificateType": "V2GCertificate"}) == {"status": "Accepted"}
        v2g = await send(stack, "SIM201-CERT", "GetInstalledCertificateIds",
                         {"certificateType": ["V2GCertificateChain"]})
        assert [c["certificateType"] for c in v2g["certificateHashDataChain"]] == ["V2GCertificateChain"]
        own = await send(stack, "SIM201-CERT", "DeleteCertificate", {"certificateHashData": {
            **entry["certificateHashData"], "serialNumber": _serial(CERT)}})
        assert own == {"status": "Failed"}  # its own certificate stays
        assert await send(stack, "SIM201-CERT", "DeleteCertificate", {
            "certificateHashData": entry["certificateHashData"]}) == {"status": "Accepted"}
        assert await send(stack, "SIM201-CERT", "DeleteCertificate", {
            "certificateHashData": entry["certificateHashData"]}) == {"status": "NotFound"}
        assert await send(stack, "SIM201-CERT", "TriggerMessage", {
            "requestedMessage": "SignChargingStationCertificate"}) == {"status": "Accepted"}
        [(_, _, csr)] = await eventually(lambda: _one(calls(stack, "SIM201-CERT", "SignCertificate")))
        assert csr["certificateType"] == "ChargingStationCertificate" and "SIM201-CERT" in csr["csr"]
        await refused_none(stack, "SIM201-CERT")


def _serial(cert: str) -> str:
    from charger_sim.management import hash_data
    return hash_data(cert)["serialNumber"]


async def _one(found: Any) -> Any:
    result = await found
    assert result, "not yet"
    return result


async def test_display_messages_monitors_customers_costs_and_network_profiles(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-DM")
        message = {"id": 5, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Welcome"}}
        assert await send(stack, "SIM201-DM", "SetDisplayMessage", {"message": message}) == {"status": "Accepted"}
        assert await send(stack, "SIM201-DM", "SetDisplayMessage", {"message": {
            **message, "id": 6, "transactionId": "no-such-tx"}}) == {"status": "UnknownTransaction"}
        assert await send(stack, "SIM201-DM", "GetDisplayMessages", {"requestId": 3, "id": [5]}) == {
            "status": "Accepted"}
        [(_, _, shown)] = await eventually(lambda: _one(calls(stack, "SIM201-DM", "NotifyDisplayMessages")))
        assert shown["requestId"] == 3 and shown["messageInfo"][0]["message"]["content"] == "Welcome"
        assert await send(stack, "SIM201-DM", "ClearDisplayMessage", {"id": 5}) == {"status": "Accepted"}
        assert await send(stack, "SIM201-DM", "ClearDisplayMessage", {"id": 5}) == {"status": "Unknown"}
        assert await send(stack, "SIM201-DM", "GetDisplayMessages", {"requestId": 4}) == {"status": "Unknown"}

        r = await send(stack, "SIM201-DM", "SetVariableMonitoring", {"setMonitoringData": [
            {"value": 16, "type": "UpperThreshold", "severity": 4,
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"value": 1, "type": "Delta", "severity": 2,
             "component": {"name": "NoSuchCtrlr"}, "variable": {"name": "Enabled"}},
            {"id": 99, "value": 1, "type": "Delta", "severity": 2,
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        assert [(x["status"], x.get("id")) for x in r["setMonitoringResult"]] == [
            ("Accepted", 1), ("UnknownComponent", None), ("Rejected", 99)]
        assert await send(stack, "SIM201-DM", "GetMonitoringReport", {"requestId": 11}) == {"status": "Accepted"}
        [(_, _, report)] = await eventually(lambda: _one(calls(stack, "SIM201-DM", "NotifyMonitoringReport")))
        assert report["monitor"][0]["variableMonitoring"][0]["id"] == 1
        assert await send(stack, "SIM201-DM", "SetMonitoringLevel", {"severity": 3}) == {"status": "Accepted"}
        assert st.upkeep.monitoring_level == 3
        r = await send(stack, "SIM201-DM", "ClearVariableMonitoring", {"id": [1, 2]})
        assert [x["status"] for x in r["clearMonitoringResult"]] == ["Accepted", "NotFound"]
        assert await send(stack, "SIM201-DM", "GetMonitoringReport", {"requestId": 12}) == {
            "status": "EmptyResultSet"}

        st.auth_cache["TAG-C"] = {"status": "Accepted"}
        assert await send(stack, "SIM201-DM", "CustomerInformation", {
            "requestId": 21, "report": True, "clear": True,
            "idToken": {"idToken": "TAG-C", "type": "ISO14443"}}) == {"status": "Accepted"}
        [(_, _, info)] = await eventually(lambda: _one(calls(stack, "SIM201-DM", "NotifyCustomerInformation")))
        assert info["requestId"] == 21 and "TAG-C: authorization cache" in info["data"]
        assert "TAG-C" not in st.auth_cache
        assert await send(stack, "SIM201-DM", "CustomerInformation", {
            "requestId": 22, "report": True, "clear": False}) == {"status": "Invalid"}
        assert await send(stack, "SIM201-DM", "CostUpdated", {"totalCost": 3.5, "transactionId": "t-1"}) == {}
        assert await send(stack, "SIM201-DM", "SetNetworkProfile", {"configurationSlot": 2, "connectionData": {
            "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
            "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}) == {"status": "Accepted"}
        assert await send(stack, "SIM201-DM", "PublishFirmware", {
            "location": "https://fw.example/x", "checksum": "abc", "requestId": 1}) == {"status": "Rejected"}
        assert await send(stack, "SIM201-DM", "TriggerMessage", {"requestedMessage": "LogStatusNotification"}) == {
            "status": "Accepted"}
        [(_, _, log)] = await eventually(lambda: _one(calls(stack, "SIM201-DM", "LogStatusNotification")))
        assert log == {"status": "Idle"}
        assert await send(stack, "SIM201-DM", "CustomerInformation", {
            "requestId": 23, "report": True, "clear": False, "customerCertificate": {
                "hashAlgorithm": "SHA256", "issuerNameHash": "a", "issuerKeyHash": "b", "serialNumber": "c0ffee"}}) == {
            "status": "Accepted"}

        async def by_certificate() -> list[Any]:
            found = [p for _, _, p in await calls(stack, "SIM201-DM", "NotifyCustomerInformation")
                     if p["requestId"] == 23]
            assert found, "not yet"
            return found
        [info] = await eventually(by_certificate)
        assert info["data"] == "certificate c0ffee: no data held"
        await refused_none(stack, "SIM201-DM")


async def test_a_reservation_that_runs_out_is_told_expired(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start201("SIM201-RES")
        r = await send(stack, "SIM201-RES", "ReserveNow", {
            "id": 31, "expiryDateTime": now_iso(1.0), "idToken": {"idToken": "TAG-R", "type": "ISO14443"},
            "evseId": 1})
        assert r == {"status": "Accepted"} and st.connectors[1].status == "Reserved"
        [(_, _, update)] = await eventually(lambda: _one(calls(stack, "SIM201-RES", "ReservationStatusUpdate")))
        assert update == {"reservationId": 31, "reservationUpdateStatus": "Expired"}
        assert st.connectors[1].reservation is None and st.connectors[1].status == "Available"


def test_every_csms_initiated_action_of_each_version_is_answered() -> None:
    """No action a central system may send falls through to NotImplemented (issue #17)."""
    from charger_sim.station import Station
    from charger_sim.station201 import Station201
    from ocppj.versions import V16, V201
    from tests.charger_sim.stations import template
    for cls, version in ((Station, V16), (Station201, V201)):
        st = cls("X", template(), "ws://127.0.0.1:9/ocpp", queue=None)
        assert sorted(a for a in version.csms_actions if st.handlers.get(a) is None) == [], cls


async def test_a_station_whose_state_is_of_the_other_version_does_not_run(tmp_path: Any) -> None:
    """An earlier 1.6 run of the identity left a transaction open: a 2.0.1 run could neither
    end it (the CSMS knows it by its 1.6 id) nor send 1.6 messages; it says so and leaves it."""
    from charger_sim.station201 import Station201
    from common.durable import DurableQueue
    from tests.charger_sim.stations import template
    queue = DurableQueue(tmp_path / "queue.db")
    try:
        kept = {"id": 5, "id_tag": "TAG-1", "meter_start": 100, "started": "2026-12-01T10:00:00Z"}
        await queue.keep("SIM-X", "tx:1", kept)
        st = Station201("SIM-X", template(), "ws://127.0.0.1:9/ocpp", queue=queue, log_size=100)
        async with asyncio.timeout(5):
            await st.run()  # returns at once: no connect
        assert st.stats["connects"] == 0
        assert any("state_of_other_version" in text and "1.6" in text for _, kind, text in st.log if kind == "event")
        assert (await queue.state("SIM-X"))["tx:1"] == kept  # left for a 1.6 run to end
    finally:
        queue.close()
