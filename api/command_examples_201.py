"""OCPP 2.0.1 request schemas as OpenAPI can show them, and one valid payload per CSMS-initiated
2.0.1 action: the smallest the schema allows (its required fields, the first of each enum).

Written out by hand, 40 examples would drift from the schemas; made from them, each is valid by
construction (a test checks every one against the 2.0.1 validator). The 2.0.1 schemas refer to
their own ``definitions``, which an OpenAPI document cannot resolve: :func:`inlined` takes each
schema with its references written out by the OCPP core (:mod:`ocppj.schemas`).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from ocppj.versions import V201

_TIME = "2026-12-04T10:00:00Z"
_SKIPPED = ("comment", "javaType", "additionalProperties")  # besides the core's metadata


def inlined(action: str) -> dict[str, Any]:
    """The request schema of ``action`` with every ``$ref`` written out (a copy)."""
    return V201.request_schema(action, _SKIPPED)


def minimal(schema: dict[str, Any]) -> Any:
    """The smallest instance of an inlined schema: required properties only, the first enum
    value, the least each bound allows."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal(props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"]) for _ in range(max(schema.get("minItems", 1), 1))]
    if kind == "string":
        if schema.get("format") == "date-time":
            return _TIME
        return "x" * max(schema.get("minLength", 1), 1)
    if kind == "integer":
        return max(schema.get("minimum", 1), 0)
    if kind == "number":
        return float(max(schema.get("minimum", 1), 0))
    if kind == "boolean":
        return True
    return {}


# RequestStartTransaction and the like read better with real values than with "x"
_OVERRIDES: dict[str, dict[str, Any]] = {
    "RequestStartTransaction": {"remoteStartId": 1, "evseId": 1,
                                "idToken": {"idToken": "TAG-0001", "type": "ISO14443"}},
    "RequestStopTransaction": {"transactionId": "TX-0001"},
    "Reset": {"type": "Immediate"},
    "GetVariables": {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}}]},
    "SetVariables": {"setVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                          "variable": {"name": "HeartbeatInterval"}, "attributeValue": "300"}]},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "GetBaseReport": {"requestId": 1, "reportBase": "FullInventory"},
    "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 1}},
    "ReserveNow": {"id": 1, "expiryDateTime": _TIME, "evseId": 1,
                   "idToken": {"idToken": "TAG-0001", "type": "ISO14443"}},
    "SendLocalList": {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [
        {"idToken": {"idToken": "TAG-0001", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}]},
    "SetChargingProfile": {"evseId": 1, "chargingProfile": {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": _TIME,
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}},
    "GetCompositeSchedule": {"duration": 3600, "evseId": 1, "chargingRateUnit": "A"},
    "SetNetworkProfile": {"configurationSlot": 2, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example.com:9000/ocpp/",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}},
    "GetLog": {"logType": "DiagnosticsLog", "requestId": 1,
               "log": {"remoteLocation": "https://logs.example.com/upload"}},
    "UpdateFirmware": {"requestId": 1, "firmware": {"location": "https://firmware.example.com/cs-2.1.bin",
                                                     "retrieveDateTime": _TIME}},
    "DataTransfer": {"vendorId": "com.example", "messageId": "Ping", "data": "hello"},
    "SetDisplayMessage": {"message": {"id": 1, "priority": "NormalCycle",
                                      "message": {"format": "UTF8", "content": "Welcome"}}},
    "CustomerInformation": {"requestId": 1, "report": True, "clear": False,
                            "idToken": {"idToken": "TAG-0001", "type": "ISO14443"}},
}


@cache
def _examples() -> dict[str, dict[str, Any]]:
    return {action: _OVERRIDES.get(action) or minimal(inlined(action)) for action in sorted(V201.csms_actions)}


def example(action: str) -> dict[str, Any]:
    """A valid 2.0.1 payload of ``action`` (a copy)."""
    return copy.deepcopy(_examples()[action])
