"""Helpers of the REST command tests: each action's expected answer, its URL, the message log and
a command's stored state."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.full_cp import (
    ADMIN,
)

# The callback receivers of these tests listen on 127.0.0.1, which only an allow-list lets the
# server reach (tests/api/test_outbound.py checks that it is refused without one).
ALLOW_LOOPBACK = pytest.mark.parametrize("settings_overrides", [{"outbound_allow": "127.0.0.1"}],
                                         ids=["loopback-allowed"])

# What FullChargePoint answers to each example payload, as the CSMS must hand it back unchanged.
EXPECTED: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetCompositeSchedule": {"status": "Accepted", "connectorId": 1, "scheduleStart": "2030-01-01T00:00:00Z",
                             "chargingSchedule": {"chargingRateUnit": "W", "duration": 3600,
                                                  "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                              "limit": 11000.0}]}},
    "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                               "value": "300"}]},
    "GetDiagnostics": {"fileName": "diag.tar.gz"},
    "GetLocalListVersion": {"listVersion": 7},
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
    "GetInstalledCertificateIds": {"status": "Accepted", "certificateHashData": [
        {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
         "serialNumber": "01"}]},
    "GetLog": {"status": "Accepted", "filename": "log.txt"},
    "InstallCertificate": {"status": "Accepted"},
    "SignedUpdateFirmware": {"status": "Accepted"},
}


def url(cp_id: str, action: str, query: str = "") -> str:
    return f"/api/v1/charge-points/{cp_id}/commands/{action}{query}"


async def messages(client: httpx.AsyncClient, cp_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/charge-points/{cp_id}/messages", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def get_command(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/commands/{command_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return dict(r.json())
