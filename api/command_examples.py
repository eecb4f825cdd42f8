"""One valid OCPP 1.6 payload per CSMS-initiated action: OpenAPI examples and test fixtures."""

from __future__ import annotations

from typing import Any

_PROFILE = {
    "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"chargingRateUnit": "A",
                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]},
}
_CERT = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"
_HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
         "serialNumber": "01"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "CancelReservation": {"reservationId": 1},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "120"},
    "ClearCache": {},
    "ClearChargingProfile": {"id": 1},
    "DataTransfer": {"vendorId": "com.example", "messageId": "hello", "data": "{}"},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "GetDiagnostics": {"location": "ftp://diag.example.com/uploads/"},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"connectorId": 1, "idTag": "TAG-1"},
    "RemoteStopTransaction": {"transactionId": 1},
    "ReserveNow": {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "TAG-1",
                   "reservationId": 1},
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 2, "updateType": "Full",
                      "localAuthorizationList": [{"idTag": "TAG-1", "idTagInfo": {"status": "Accepted"}}]},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": _PROFILE},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"location": "https://fw.example.com/fw-2.0.bin",
                       "retrieveDate": "2030-01-01T00:00:00Z"},
    "CertificateSigned": {"certificateChain": _CERT},
    "DeleteCertificate": {"certificateHashData": _HASH},
    "ExtendedTriggerMessage": {"requestedMessage": "BootNotification"},
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    "GetLog": {"logType": "DiagnosticsLog", "requestId": 1,
               "log": {"remoteLocation": "https://logs.example.com/upload"}},
    "InstallCertificate": {"certificateType": "CentralSystemRootCertificate", "certificate": _CERT},
    "SignedUpdateFirmware": {"requestId": 1, "firmware": {
        "location": "https://fw.example.com/fw-2.0.bin", "retrieveDateTime": "2030-01-01T00:00:00Z",
        "signingCertificate": _CERT, "signature": "c2lnbmF0dXJl"}},
}
