"""OCTT 1.6 CSMS test cases, Firmware Management (TC_044, TC_045), Remote Trigger (TC_054, TC_055)
and Smart Charging (TC_056 - TC_067) profiles: the commands go out as the operator wrote them
(checked against the 1.6 schemas by the ``ocpp`` library on the station's side), the charge
point's answers come back through the commands API, and the status reports that follow are kept
(the firmware and diagnostics status on the charge point's row, every report in the history,
triggered messages stored like any other). The charge point's side is scripted by
:class:`tests.compliance.station.Station`."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.full_cp import eventually
from tests.compliance.flows import at, charge, charge_point, commands_of, connector_statuses, reports, snake
from tests.compliance.station import Station, command, operator, station
from tests.helpers import add_id_tag, rows

BUDGET = 30.0
TAG = "OCTT-TAG-1"
ALL_AVAILABLE = [(0, "Available"), (1, "Available"), (2, "Available")]


# -- Firmware Management --------------------------------------------------------------------------
UPDATE_FIRMWARE = {"location": "https://firmware.example.com/octt/fw-2.0.bin", "retrieveDate": at(),
                   "retries": 2, "retryInterval": 30}


async def firmware(cp: Station, *statuses: str) -> None:
    for status in statuses:
        assert (await cp.call(call.FirmwareStatusNotification(status=status))) is not None


async def update_firmware(stack: Stack, cp_id: str, downloaded: str, installed: str | None = None) -> None:
    """UpdateFirmware, then Downloading and ``downloaded``; with ``installed``, the installation:
    every connector Unavailable, Installing, a reboot (a new connection, Boot, Available), then
    ``installed``."""
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        assert await command(client, cp_id, "UpdateFirmware", UPDATE_FIRMWARE) == {}
        assert cp.got("UpdateFirmware") == [snake(UPDATE_FIRMWARE)]
        await firmware(cp, "Downloading", downloaded)
        if installed is None:
            return
        for connector in range(3):
            await cp.status(connector, "Unavailable")
        await firmware(cp, "Installing")
        assert (await charge_point(stack, cp_id))["firmware_status"] == "Installing"
    async with station(stack, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
        await firmware(cp, installed)


async def test_tc_044_1_csms_firmware_update_download_and_install(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await update_firmware(stack, "TC044-1", "Downloaded", "Installed")
    assert await reports(stack, "TC044-1", "firmware") == [
        ("Downloading", None), ("Downloaded", None), ("Installing", None), ("Installed", None)]
    assert (await charge_point(stack, "TC044-1"))["firmware_status"] == "Installed"
    assert await connector_statuses(stack, "TC044-1") == ALL_AVAILABLE


async def test_tc_044_2_csms_firmware_update_download_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await update_firmware(stack, "TC044-2", "DownloadFailed")
    assert await reports(stack, "TC044-2", "firmware") == [("Downloading", None), ("DownloadFailed", None)]
    assert (await charge_point(stack, "TC044-2"))["firmware_status"] == "DownloadFailed"


async def test_tc_044_3_csms_firmware_update_installation_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await update_firmware(stack, "TC044-3", "Downloaded", "InstallationFailed")
    assert [s for s, _ in await reports(stack, "TC044-3", "firmware")] == [
        "Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert (await charge_point(stack, "TC044-3"))["firmware_status"] == "InstallationFailed"
    assert await connector_statuses(stack, "TC044-3") == ALL_AVAILABLE


GET_DIAGNOSTICS = {"location": "ftp://diagnostics.example.com/octt/", "retries": 1, "retryInterval": 60,
                   "startTime": at(-86400), "stopTime": at()}


async def get_diagnostics(stack: Stack, cp_id: str, uploaded: str) -> None:
    """GetDiagnostics answered with a file name, then Uploading and ``uploaded``."""
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        assert await command(client, cp_id, "GetDiagnostics", GET_DIAGNOSTICS) == {"fileName": "diag.log"}
        assert cp.got("GetDiagnostics") == [snake(GET_DIAGNOSTICS)]
        for status in ("Uploading", uploaded):
            await cp.call(call.DiagnosticsStatusNotification(status=status))
    assert await reports(stack, cp_id, "diagnostics") == [("Uploading", None), (uploaded, None)]
    assert (await charge_point(stack, cp_id))["diagnostics_status"] == uploaded


async def test_tc_045_1_csms_get_diagnostics_of_a_charge_point(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await get_diagnostics(stack, "TC045-1", "Uploaded")


async def test_tc_045_2_csms_get_diagnostics_of_a_charge_point_upload_failed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await get_diagnostics(stack, "TC045-2", "UploadFailed")


# -- Remote Trigger -------------------------------------------------------------------------------
def triggered(requested: str) -> Any:
    """The message a charge point sends for a TriggerMessage of ``requested``."""
    return {
        "MeterValues": lambda: call.MeterValues(connector_id=1, meter_value=[{
            "timestamp": at(), "sampled_value": [{"value": "1234", "measurand": "Energy.Active.Import.Register",
                                                  "unit": "Wh"}]}]),
        "Heartbeat": call.Heartbeat,
        "StatusNotification": lambda: call.StatusNotification(connector_id=1, error_code="NoError",
                                                              status="Available"),
        "DiagnosticsStatusNotification": lambda: call.DiagnosticsStatusNotification(status="Idle"),
        "FirmwareStatusNotification": lambda: call.FirmwareStatusNotification(status="Idle"),
    }[requested]()


async def test_tc_054_csms_trigger_message(stack: Stack) -> None:
    answers: list[tuple[str, Any]] = []

    async def send_triggered(st: Station, payload: dict[str, Any]) -> None:
        requested = payload["requested_message"]
        answers.append((requested, await st.call(triggered(requested))))

    async with asyncio.timeout(BUDGET), station(stack, "TC054") as cp, operator(stack) as client:
        await cp.boot()
        cp.after["TriggerMessage"] = send_triggered
        requests: list[dict[str, Any]] = [
            {"requestedMessage": "MeterValues", "connectorId": 1}, {"requestedMessage": "Heartbeat"},
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            {"requestedMessage": "DiagnosticsStatusNotification"}, {"requestedMessage": "FirmwareStatusNotification"}]
        for done, request in enumerate(requests, 1):
            assert await command(client, "TC054", "TriggerMessage", request) == {"status": "Accepted"}
            assert await eventually(lambda n=done: asyncio.sleep(0, len(answers) == n), timeout=5)  # type: ignore[misc]
        assert cp.got("TriggerMessage") == [snake(r) for r in requests]
    assert [name for name, _ in answers] == [r["requestedMessage"] for r in requests]
    assert answers[1][1].current_time  # the Heartbeat's answer
    [sample] = await rows(stack, "SELECT connector_id, value, transaction_id FROM meter_values "
                                 "WHERE charge_point_id = 'TC054'")
    assert (sample["connector_id"], sample["value"], sample["transaction_id"]) == (1, "1234", None)
    row = await charge_point(stack, "TC054")
    assert (row["diagnostics_status"], row["firmware_status"]) == ("Idle", "Idle")
    assert await reports(stack, "TC054", "diagnostics") == [("Idle", None)]


async def test_tc_055_csms_trigger_message_rejected(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC055") as cp, operator(stack) as client:
        await cp.boot()
        cp.answers["TriggerMessage"] = {"status": "Rejected"}
        request = {"requestedMessage": "MeterValues", "connectorId": 1}
        assert await command(client, "TC055", "TriggerMessage", request) == {"status": "Rejected"}
        assert cp.got("TriggerMessage") == [snake(request)]
        [recorded] = await commands_of(client, "TC055", "TriggerMessage")
    assert (recorded["status"], recorded["response"]) == ("result", {"status": "Rejected"})


# -- Smart Charging -------------------------------------------------------------------------------
def profile(profile_id: int, purpose: str, duration: int, **extra: Any) -> dict[str, Any]:
    """A csChargingProfiles / chargingProfile object: Absolute, in W, one period of 6 W."""
    return {"chargingProfileId": profile_id, "stackLevel": 0, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", **extra,
            "chargingSchedule": {"duration": duration, "startSchedule": at(), "chargingRateUnit": "W",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}]}}


async def set_profile(client: Any, cp: Station, connector: int, cs_profile: dict[str, Any]) -> None:
    """SetChargingProfile, Accepted, and the station got exactly what was sent."""
    payload = {"connectorId": connector, "csChargingProfiles": cs_profile}
    assert await command(client, cp.id, "SetChargingProfile", payload) == {"status": "Accepted"}
    assert cp.got("SetChargingProfile")[-1] == snake(payload)


async def test_tc_056_csms_central_smart_charging_tx_default_profile(stack: Stack) -> None:
    tx_default = profile(56, "TxDefaultProfile", 3600, validFrom=at(), validTo=at(86400))
    async with asyncio.timeout(BUDGET), station(stack, "TC056") as cp, operator(stack) as client:
        await cp.boot()
        await set_profile(client, cp, 1, tx_default)
        [recorded] = await commands_of(client, "TC056", "SetChargingProfile")
    assert recorded["payload"] == {"connectorId": 1, "csChargingProfiles": tx_default}
    assert (recorded["status"], recorded["response"]) == ("result", {"status": "Accepted"})


async def test_tc_057_csms_central_smart_charging_tx_profile(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC057") as cp, operator(stack) as client:
        await cp.boot()
        tx = await charge(cp, TAG)
        await set_profile(client, cp, 1, profile(57, "TxProfile", 1800, transactionId=tx))
        assert cp.got("SetChargingProfile")[0]["cs_charging_profiles"]["transaction_id"] == tx


async def test_tc_059_csms_remote_start_transaction_with_charging_profile(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    start = {"connectorId": 1, "idTag": TAG, "chargingProfile": profile(59, "TxProfile", 1800)}
    async with asyncio.timeout(BUDGET), station(stack, "TC059") as cp, operator(stack) as client:
        await cp.boot()
        assert await command(client, "TC059", "RemoteStartTransaction", start) == {"status": "Accepted"}
        assert cp.got("RemoteStartTransaction") == [snake(start)]
        tx = await charge(cp, TAG)
    [row] = await rows(stack, "SELECT connector_id, id_tag, stop_timestamp FROM transactions WHERE id = :tx", tx=tx)
    assert (row["connector_id"], row["id_tag"], row["stop_timestamp"]) == (1, TAG, None)


async def test_tc_066_csms_get_composite_schedule(stack: Stack) -> None:
    schedule = {"status": "Accepted", "connectorId": 1, "scheduleStart": at(), "chargingSchedule": {
        "duration": 300, "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0, "numberPhases": 3}]}}
    async with asyncio.timeout(BUDGET), station(stack, "TC066") as cp, operator(stack) as client:
        await cp.boot()
        cp.answers["GetCompositeSchedule"] = snake(schedule)
        request = {"connectorId": 1, "duration": 300, "chargingRateUnit": "W"}
        assert await command(client, "TC066", "GetCompositeSchedule", request) == schedule
        assert cp.got("GetCompositeSchedule") == [snake(request)]
        [recorded] = await commands_of(client, "TC066", "GetCompositeSchedule")
    assert recorded["response"] == schedule


async def test_tc_067_csms_clear_charging_profile(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    clears: list[dict[str, Any]] = [
        {"id": 672}, {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}, {}]
    async with asyncio.timeout(BUDGET), station(stack, "TC067") as cp, operator(stack) as client:
        await cp.boot()
        tx = await charge(cp, TAG)
        await set_profile(client, cp, 0, profile(671, "ChargePointMaxProfile", 3600))
        await set_profile(client, cp, 1, profile(672, "TxDefaultProfile", 3600))
        await set_profile(client, cp, 1, profile(673, "TxProfile", 1800, transactionId=tx))
        for clear in clears:
            assert await command(client, "TC067", "ClearChargingProfile", clear) == {"status": "Accepted"}
        assert cp.got("ClearChargingProfile") == [snake(c) for c in clears]
        recorded = await commands_of(client, "TC067", "ClearChargingProfile")
    assert [(c["payload"], c["status"]) for c in recorded] == [(c, "result") for c in clears]
