"""The simulated station against our real CSMS: smart charging, firmware, diagnostics and security."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    BUDGET,
    CERT,
    ROOT_CERT,
    Sims,
    _at_least,
    _n_samples,
    back_online,
    calls,
    eventually,
    last_message_id,
    notifications,
    now_iso,
    samples,
    send,
    start_tx,
    until_status,
    utc,
)
from tests.helpers import rows

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- smart charging -----------------------------------------------------------------------------
def _profile(profile_id: int, purpose: str, limit: float, stack_level: int = 0,
             unit: str = "W", **extra: Any) -> dict[str, Any]:
    return {"chargingProfileId": profile_id, "stackLevel": stack_level,
            "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": unit,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
            **extra}


async def test_charging_profiles_cap_the_meter_and_suspend(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SMART"
        st = await sim.start(cp)

        async def set_profile(connector_id: int, profile: dict[str, Any]) -> str:
            return (await send(stack, cp, "SetChargingProfile", {
                "connectorId": connector_id, "csChargingProfiles": profile}))["status"]

        async def composite(connector_id: int, unit: str) -> list[dict[str, Any]]:
            answer = await send(stack, cp, "GetCompositeSchedule", {
                "connectorId": connector_id, "duration": 600, "chargingRateUnit": unit})
            assert answer["status"] == "Accepted" and answer["connectorId"] == connector_id
            assert answer["chargingSchedule"]["chargingRateUnit"] == unit
            return answer["chargingSchedule"]["chargingSchedulePeriod"]  # type: ignore[no-any-return]

        assert await set_profile(1, _profile(11, "TxDefaultProfile", 3000)) == "Accepted"
        assert await set_profile(1, _profile(12, "TxProfile", 1000)) == "Rejected"  # no transaction
        assert await set_profile(1, _profile(13, "ChargePointMaxProfile", 1000)) == "Rejected"
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 3000.0}]
        assert await composite(1, "A") == [{"startPeriod": 0, "limit": 4.3}]  # 3000 W / (3 x 230 V)
        assert await composite(2, "W") == [{"startPeriod": 0, "limit": 22000.0}]

        tx_id = await start_tx(st, 1)
        powers = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", 2))
        assert {p["value"] for p in powers} == {"3000"}  # the car wants 11 kW; the profile caps it
        energy = await samples(stack, tx_id, "Energy.Active.Import.Register")
        delta_wh = float(energy[-1]["value"]) - float(energy[0]["value"])
        delta_s = (utc(energy[-1]["timestamp"]) - utc(energy[0]["timestamp"])).total_seconds()
        assert abs(delta_wh - 3000 * delta_s / 3600) <= 1.5

        # limit 0 on this transaction: suspended by the EVSE, no power
        assert await set_profile(1, _profile(14, "TxProfile", 0, stack_level=1,
                                             transactionId=tx_id)) == "Accepted"
        await until_status(stack, cp, 1, "SuspendedEVSE")
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 0.0}]
        mark = len(await samples(stack, tx_id, "Power.Active.Import"))
        later = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", mark + 1))
        assert later[-1]["value"] == "0"
        # clearing it resumes charging at the default profile's cap
        assert await send(stack, cp, "ClearChargingProfile", {"id": 14}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Charging")
        assert await send(stack, cp, "ClearChargingProfile", {"id": 14}) == {"status": "Unknown"}
        mark = len(await samples(stack, tx_id, "Power.Active.Import"))
        later = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", mark + 1))
        assert later[-1]["value"] == "3000"
        assert await send(stack, cp, "ClearChargingProfile",
                          {"chargingProfilePurpose": "TxDefaultProfile"}) == {"status": "Accepted"}
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 22000.0}]


# -- firmware, diagnostics, security ------------------------------------------------------------
async def test_update_firmware_full_sequence_then_reboot(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-FW"
        st = await sim.start(cp)
        assert await send(stack, cp, "UpdateFirmware", {
            "location": "https://fw.example.com/fw.bin", "retrieveDate": now_iso()}) == {}
        await eventually(lambda: _statuses(stack, cp, "firmware", [
            "Downloading", "Downloaded", "Installing", "Installed"]))
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [(_, _, boot)] = (await calls(stack, cp, "BootNotification"))[1:]
        assert boot["firmwareVersion"] == "2.4.1+update"
        [row] = await rows(stack, "SELECT firmware_version, firmware_status FROM charge_points "
                                  "WHERE id = :cp", cp=cp)
        assert (row["firmware_version"], row["firmware_status"]) == ("2.4.1+update", "Installed")
        await back_online(st, 1)


async def _statuses(stack: Stack, cp: str, kind: str, expected: list[str],
                    request_id: int | None = None) -> None:
    found = await notifications(stack, cp, kind)
    assert [n["status"] for n in found] == expected
    if request_id is not None:
        assert {n["request_id"] for n in found} == {request_id}


async def test_get_diagnostics_sequence(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-DIAG"
        await sim.start(cp)
        assert await send(stack, cp, "GetDiagnostics", {"location": "ftp://diag.example.com/"}) == {
            "fileName": f"diagnostics-{cp}.log"}
        await eventually(lambda: _statuses(stack, cp, "diagnostics", ["Uploading", "Uploaded"]))
        [row] = await rows(stack, "SELECT diagnostics_status FROM charge_points WHERE id = :cp", cp=cp)
        assert row["diagnostics_status"] == "Uploaded"


@pytest.mark.parametrize("requested", [
    "SignChargePointCertificate", "LogStatusNotification", "BootNotification", "StatusNotification",
    "Heartbeat", "MeterValues"])
async def test_extended_trigger_message_really_sends_the_message(stack: Stack, sim: Sims,
                                                                 requested: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-XTRIG-{requested[:16]}"
        await sim.start(cp)
        mark = await last_message_id(stack, cp)
        payload: dict[str, Any] = {"requestedMessage": requested}
        if requested in ("StatusNotification", "MeterValues"):
            payload["connectorId"] = 2
        assert await send(stack, cp, "ExtendedTriggerMessage", payload) == {"status": "Accepted"}
        action = "SignCertificate" if requested == "SignChargePointCertificate" else requested
        await eventually(lambda: _at_least(stack, cp, action, 1, after=mark))
        await asyncio.sleep(0.2)
        [(_, _, sent)] = await calls(stack, cp, action, after=mark)
        if requested == "SignChargePointCertificate":
            [csr] = await eventually(lambda: _n_notes(stack, cp, "sign_certificate", 1))
            assert cp in csr["detail"] and "CERTIFICATE REQUEST" in csr["detail"]
        elif requested == "LogStatusNotification":
            assert sent["status"] == "Idle"
            await eventually(lambda: _statuses(stack, cp, "log", ["Idle"]))
        elif requested in ("StatusNotification", "MeterValues"):
            assert sent["connectorId"] == 2


async def test_certificates_install_list_delete(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CERTS"
        st = await sim.start(cp)
        assert await send(stack, cp, "CertificateSigned", {"certificateChain": CERT}) == {
            "status": "Accepted"}
        assert st.certificates["ChargePointCertificate"] == CERT
        assert await send(stack, cp, "InstallCertificate", {
            "certificateType": "ManufacturerRootCertificate", "certificate": ROOT_CERT}) == {
            "status": "Accepted"}
        installed = await send(stack, cp, "GetInstalledCertificateIds",
                               {"certificateType": "ManufacturerRootCertificate"})
        assert installed["status"] == "Accepted" and len(installed["certificateHashData"]) == 1
        assert await send(stack, cp, "GetInstalledCertificateIds",
                          {"certificateType": "CentralSystemRootCertificate"}) == {"status": "NotFound"}
        hash_data = installed["certificateHashData"][0]
        assert await send(stack, cp, "DeleteCertificate", {"certificateHashData": hash_data}) == {
            "status": "Accepted"}
        assert await send(stack, cp, "DeleteCertificate", {"certificateHashData": hash_data}) == {
            "status": "NotFound"}
        assert await send(stack, cp, "GetInstalledCertificateIds",
                          {"certificateType": "ManufacturerRootCertificate"}) == {"status": "NotFound"}


async def test_get_log_sends_log_status_notifications(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-GETLOG"
        await sim.start(cp)
        assert await send(stack, cp, "GetLog", {
            "logType": "SecurityLog", "requestId": 42,
            "log": {"remoteLocation": "https://logs.example.com/"}}) == {
            "status": "Accepted", "filename": f"SecurityLog-{cp}.log"}
        await eventually(lambda: _statuses(stack, cp, "log", ["Uploading", "Uploaded"], 42))


async def test_signed_update_firmware_full_sequence_then_reboot(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SIGNED-FW"
        st = await sim.start(cp)
        assert await send(stack, cp, "SignedUpdateFirmware", {"requestId": 43, "firmware": {
            "location": "https://fw.example.com/fw.bin", "retrieveDateTime": now_iso(),
            "signingCertificate": CERT, "signature": "c2lnbmF0dXJl"}}) == {"status": "Accepted"}
        await eventually(lambda: _statuses(stack, cp, "signed_firmware", [
            "Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"], 43))
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [row] = await rows(stack, "SELECT firmware_version, firmware_status FROM charge_points "
                                  "WHERE id = :cp", cp=cp)
        assert (row["firmware_version"], row["firmware_status"]) == ("2.4.1+update", "Installed")
        await back_online(st, 1)


async def _n_notes(stack: Stack, cp: str, kind: str, n: int) -> list[dict[str, Any]]:
    found = await notifications(stack, cp, kind)
    assert len(found) == n, found
    return found
