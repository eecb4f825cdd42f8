"""The simulated station against our real CSMS: its boot, and an answer to every CSMS-initiated action."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from api.command_examples import EXAMPLES
from chargebay.stack import Stack
from charger_sim.station import Station
from ocppj.versions import V16
from tests.charger_sim import stations
from tests.charger_sim.stations import (
    BUDGET,
    Sims,
    _at_least,
    calls,
    connectors,
    eventually,
    send,
    start_tx,
)
from tests.helpers import rows

fast_sequences = stations.fast_sequences  # a fixture
settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


# -- boot ---------------------------------------------------------------------------------------
async def test_boot_stores_boot_data_and_reports_every_connector(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start("CP-BOOT")
        [cp] = await rows(stack, "SELECT * FROM charge_points WHERE id = 'CP-BOOT'")
        assert (cp["vendor"], cp["model"], cp["firmware_version"], cp["meter_type"],
                cp["charge_point_serial"], cp["boot_status"]) == (
            "Chargebay", "SIM-AC22", "2.4.1", "SIM-METER-3P", "CP-BOOT", "Accepted")
        assert cp["online"] and cp["last_boot_at"] is not None
        found = await connectors(stack, "CP-BOOT")
        assert {k: (v["status"], v["error_code"]) for k, v in found.items()} == {
            0: ("Available", "NoError"), 1: ("Available", "NoError"), 2: ("Available", "NoError")}
        sent = await calls(stack, "CP-BOOT")
        assert [a for _, a, _ in sent] == ["BootNotification"] + ["StatusNotification"] * 3
        assert [p["connectorId"] for _, _, p in sent[1:]] == [0, 1, 2]
        assert st.registration == "Accepted" and st.snapshot()["booted"] is True
        assert st.config.get("HeartbeatInterval") == "300"  # taken from the boot answer


@pytest.mark.parametrize("settings_overrides", [{"accept_unknown_id_tags": True,
                                                 "heartbeat_interval": 1}])
async def test_heartbeats_follow_the_interval_of_the_boot_answer(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start("CP-HB")
        assert st.config.get("HeartbeatInterval") == "1"
        await eventually(lambda: _at_least(stack, "CP-HB", "Heartbeat", 2), timeout=4)


# -- every CSMS-initiated action ----------------------------------------------------------------
def test_examples_cover_every_csms_action() -> None:
    assert set(EXAMPLES) == set(V16.csms_actions)


async def _prepare(action: str, stack: Stack, st: Station) -> dict[str, Any]:
    """EXAMPLES[action], adapted where the answer needs some station state first."""
    cp = st.identity
    payload = copy.deepcopy(EXAMPLES[action])
    if action == "RemoteStopTransaction":
        payload["transactionId"] = await start_tx(st)
    elif action == "CancelReservation":
        assert (await send(stack, cp, "ReserveNow", EXAMPLES["ReserveNow"]))["status"] == "Accepted"
    elif action == "ClearChargingProfile":
        assert (await send(stack, cp, "SetChargingProfile", EXAMPLES["SetChargingProfile"]))[
            "status"] == "Accepted"
    elif action == "DataTransfer":
        payload["vendorId"] = st.template.vendor
    elif action in ("DeleteCertificate", "GetInstalledCertificateIds"):
        assert (await send(stack, cp, "InstallCertificate", EXAMPLES["InstallCertificate"]))[
            "status"] == "Accepted"
        if action == "DeleteCertificate":
            ids = await send(stack, cp, "GetInstalledCertificateIds",
                             EXAMPLES["GetInstalledCertificateIds"])
            payload = {"certificateHashData": ids["certificateHashData"][0]}
    return payload


def _expected(action: str, cp: str) -> dict[str, Any] | None:
    return {
        "CancelReservation": {"status": "Accepted"},
        "ChangeAvailability": {"status": "Accepted"},
        "ChangeConfiguration": {"status": "Accepted"},
        "ClearCache": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"},
        "DataTransfer": {"status": "Accepted", "data": "{}"},
        "GetCompositeSchedule": {
            "status": "Accepted", "connectorId": 1, "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000.0}]},
        "GetConfiguration": {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
        "GetDiagnostics": {"fileName": f"diagnostics-{cp}.log"},
        "GetLocalListVersion": {"listVersion": 0},
        "RemoteStartTransaction": {"status": "Accepted"},
        "RemoteStopTransaction": {"status": "Accepted"},
        "ReserveNow": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "SendLocalList": {"status": "Accepted"},
        "SetChargingProfile": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
        "UpdateFirmware": {},
        "CertificateSigned": {"status": "Accepted"},
        "DeleteCertificate": {"status": "Accepted"},
        "ExtendedTriggerMessage": {"status": "Accepted"},
        "GetInstalledCertificateIds": {"status": "Accepted"},
        "GetLog": {"status": "Accepted", "filename": f"DiagnosticsLog-{cp}.log"},
        "InstallCertificate": {"status": "Accepted"},
        "SignedUpdateFirmware": {"status": "Accepted"},
    }[action]


@pytest.mark.parametrize("action", sorted(EXAMPLES))
async def test_every_csms_action_is_answered(stack: Stack, sim: Sims, action: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"EX-{action}"
        st = await sim.start(cp)
        payload = await _prepare(action, stack, st)
        answer = await send(stack, cp, action, payload)
        expected = _expected(action, cp)
        if action == "GetCompositeSchedule":
            schedule = answer["chargingSchedule"]
            assert (answer["status"], answer["connectorId"], schedule["chargingRateUnit"],
                    schedule["chargingSchedulePeriod"]) == (
                expected["status"], expected["connectorId"], expected["chargingRateUnit"],
                expected["chargingSchedulePeriod"])
        elif action == "GetInstalledCertificateIds":
            assert answer["status"] == "Accepted" and len(answer["certificateHashData"]) == 1
        else:
            assert answer == expected
        [command] = await rows(stack, "SELECT status FROM commands WHERE charge_point_id = :cp AND "
                                      "action = :a ORDER BY created_at DESC LIMIT 1", cp=cp, a=action)
        assert command["status"] == "result"
