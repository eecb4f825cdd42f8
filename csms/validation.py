"""OCPP 1.6 schema validation with the `ocpp` library's schemas, compiled once.

The library validates with jsonschema in a thread pool (≈280 µs a call, see shared notes); the
same schemas compiled by fastjsonschema cost a few µs. Errors are mapped to the CALLERROR codes
the 1.6 spec spells (``FormationViolation``, not the library's ``FormatViolation``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Callable

import fastjsonschema
import ocpp

from csms.timeutil import parse_ts

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"

# Actions a charge point initiates (handled by the central system) and the ones the central
# system initiates (sent by csms.commands), per OCPP 1.6 edition 2 and the security whitepaper.
CP_ACTIONS = frozenset({
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
    "LogStatusNotification", "SignedFirmwareStatusNotification",
})
CSMS_ACTIONS = frozenset({
    "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
    "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
    "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
    "UnlockConnector", "UpdateFirmware", "CertificateSigned", "DeleteCertificate",
    "ExtendedTriggerMessage", "GetInstalledCertificateIds", "GetLog", "InstallCertificate",
    "SignedUpdateFirmware",
})

# fastjsonschema rule -> OCPP 1.6 CALLERROR code (OCPP-J 1.6, section 4.2.3).
_RULE_CODES = {
    "type": "TypeConstraintViolation",
    "required": "OccurenceConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "minLength": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
}


class SchemaViolation(Exception):
    """A payload that breaks its action's schema, with the 1.6 CALLERROR code for it."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _drop_multiple_of(node: Any) -> Any:
    """Remove ``multipleOf: 0.1`` (charging-profile limits): binary floats make 21.4 fail it."""
    if isinstance(node, dict):
        return {k: _drop_multiple_of(v) for k, v in node.items() if k != "multipleOf"}
    if isinstance(node, list):
        return [_drop_multiple_of(v) for v in node]
    return node


def _is_date_time(value: str) -> bool:
    """RFC 3339 date-time that converts to UTC (the handlers' own parser decides)."""
    try:
        parse_ts(value)
    except ValueError:
        return False
    return True


@cache
def _validator(schema_name: str) -> Callable[[Any], Any]:
    with open(SCHEMAS / f"{schema_name}.json", encoding="utf-8") as f:
        return fastjsonschema.compile(_drop_multiple_of(json.load(f)),
                                      formats={"date-time": _is_date_time})


def validate(action: str, payload: Any, response: bool = False) -> None:
    """Raise :class:`SchemaViolation` unless ``payload`` fits the action's request/response schema."""
    if type(payload) is not dict:
        raise SchemaViolation("FormationViolation", "payload must be a JSON object")
    try:
        _validator(action + "Response" if response else action)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule or "", "FormationViolation")
        raise SchemaViolation(code, exc.message) from None


def warm_up() -> None:
    """Compile every 1.6 schema up front so no charge point pays for it on its first call."""
    for action in CP_ACTIONS | CSMS_ACTIONS:
        _validator(action)
        _validator(action + "Response")
