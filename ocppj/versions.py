"""The OCPP-J versions this code speaks: what differs between them, in one registry.

A :class:`Version` holds what a connection needs to know about its protocol version: the
websocket subprotocol that selects it, which actions each side initiates, where their schemas
are and how each version spells its CALLERROR codes. A central system serves both (the newest a
charge point offers, unless its record pins one); a connection takes its version's table once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ocpp

from ocppj.errors import V16_ERRORS, V201_ERRORS, ErrorCodes
from ocppj.schemas import self_contained
from ocppj.validation import Validator

_LIBRARY = Path(ocpp.__file__).parent
V16_SCHEMAS = _LIBRARY / "v16" / "schemas"  # Action.json and ActionResponse.json
V201_SCHEMAS = _LIBRARY / "v201" / "schemas"  # ActionRequest.json and ActionResponse.json


@dataclass(frozen=True, slots=True)
class Version:
    """One OCPP-J version: its subprotocol, actions, schemas and error spellings."""

    name: str
    subprotocol: str
    cp_actions: frozenset[str]  # initiated by a charge point, handled by a central system
    csms_actions: frozenset[str]  # initiated by a central system, handled by a charge point
    errors: ErrorCodes
    validator: Validator

    def warm_up(self) -> None:
        """Compile every schema of this version (before the first peer connects)."""
        self.validator.warm_up(self.cp_actions | self.csms_actions)

    def request_schema(self, action: str, drop: Collection[str] = ()) -> dict[str, Any]:
        """The JSON schema of ``action``'s request in this version, self-contained (see
        :mod:`ocppj.schemas`), for whatever shows or builds a payload outside this core."""
        return self_contained(self.validator.schema_path(action), drop)


# OCPP 1.6 edition 2 and the security whitepaper.
V16 = Version(
    name="1.6",
    subprotocol="ocpp1.6",
    cp_actions=frozenset({
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
        "LogStatusNotification", "SignedFirmwareStatusNotification",
    }),
    csms_actions=frozenset({
        "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
        "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
        "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
        "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
        "UnlockConnector", "UpdateFirmware", "CertificateSigned", "DeleteCertificate",
        "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog", "InstallCertificate",
        "SignedUpdateFirmware",
    }),
    errors=V16_ERRORS,
    validator=Validator(V16_SCHEMAS, lambda a: a, lambda a: a + "Response", V16_ERRORS),
)

# OCPP 2.0.1 (part 2, the messages by initiator).
V201 = Version(
    name="2.0.1",
    subprotocol="ocpp2.0.1",
    cp_actions=frozenset({
        "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer",
        "FirmwareStatusNotification", "Get15118EVCertificate", "GetCertificateStatus",
        "Heartbeat", "LogStatusNotification", "MeterValues", "NotifyChargingLimit",
        "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
        "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
    }),
    csms_actions=frozenset({
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache",
        "ClearChargingProfile", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
        "CustomerInformation", "DataTransfer", "DeleteCertificate", "GetBaseReport",
        "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
        "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport",
        "GetReport", "GetTransactionStatus", "GetVariables", "InstallCertificate",
        "PublishFirmware", "RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
        "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
        "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring",
        "SetVariables", "TriggerMessage", "UnlockConnector", "UnpublishFirmware",
        "UpdateFirmware",
    }),
    errors=V201_ERRORS,
    validator=Validator(V201_SCHEMAS, lambda a: a + "Request", lambda a: a + "Response",
                        V201_ERRORS),
)

VERSIONS: dict[str, Version] = {v.subprotocol: v for v in (V16, V201)}
SERVED = (V201, V16)  # the versions a central system offers, most preferred first


def by_subprotocol(subprotocol: str | None) -> Version | None:
    """The version a negotiated websocket subprotocol selects, if it is one we know."""
    return VERSIONS.get(subprotocol or "")
