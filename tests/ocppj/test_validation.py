"""Payload validation per version, and the error codes each version spells for a breach."""

from __future__ import annotations

import pytest

from ocppj.validation import SchemaViolation
from ocppj.versions import V16, V201, Version

STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


def code_of(version: Version, action: str, payload: object, response: bool = False) -> str:
    with pytest.raises(SchemaViolation) as caught:
        version.validator.validate(action, payload, response)
    return caught.value.code


def test_good_payloads_pass() -> None:
    V16.validator.validate("StatusNotification", STATUS)
    V16.validator.validate("BootNotification", {"status": "Accepted", "interval": 300,
                                                "currentTime": "2024-01-01T00:00:00Z"}, response=True)
    V201.validator.validate("Heartbeat", {})
    V201.validator.validate("BootNotification", {
        "reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}})


@pytest.mark.parametrize("version, expected", [
    (V16, {"object": "FormationViolation", "required": "OccurenceConstraintViolation",
           "type": "TypeConstraintViolation", "enum": "PropertyConstraintViolation"}),
    (V201, {"object": "FormatViolation", "required": "OccurrenceConstraintViolation",
            "type": "TypeConstraintViolation", "enum": "PropertyConstraintViolation"}),
], ids=["1.6", "2.0.1"])
def test_each_breach_is_spelled_as_its_version_spells_it(version: Version,
                                                          expected: dict[str, str]) -> None:
    got = {"object": code_of(version, "Heartbeat", []),
           "required": code_of(version, "Authorize", {}),
           "type": code_of(version, "Authorize", {"idTag": 5} if version is V16 else
                           {"idToken": {"idToken": 5, "type": "Central"}}),
           "enum": code_of(version, "Reset", {"type": "Sideways"})}
    assert got == expected


def test_v16_timestamps_and_lengths() -> None:
    bad_time = {**STATUS, "timestamp": "yesterday"}
    assert code_of(V16, "StatusNotification", bad_time) == "PropertyConstraintViolation"
    V16.validator.validate("StatusNotification", {**STATUS, "timestamp": "2024-02-29T23:59:60Z"})
    assert code_of(V16, "Authorize", {"idTag": "x" * 21}) == "PropertyConstraintViolation"


def test_charging_limits_are_not_judged_by_binary_floats() -> None:
    """multipleOf 0.1 is dropped: 21.4 is a fine limit though 21.4 / 0.1 is not a whole float."""
    V16.validator.validate("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}}})


def test_a_violation_says_what_is_wrong() -> None:
    with pytest.raises(SchemaViolation) as caught:
        V16.validator.validate("Authorize", {})
    assert "idTag" in caught.value.description and str(caught.value) == caught.value.description


def test_schema_files_are_found_per_version() -> None:
    assert V16.validator.schema_path("Reset").name == "Reset.json"
    assert V16.validator.schema_path("Reset", response=True).name == "ResetResponse.json"
    assert V201.validator.schema_path("Reset").name == "ResetRequest.json"
    assert V201.validator.schema_path("Reset").exists()


def test_a_violation_names_the_rule_it_broke() -> None:
    """The charge-point side answers by rule as the `ocpp` library did (chargepoint.link)."""
    rules = {}
    for name, payload in {"type": [], "required": {}, "enum": {"type": "Sideways"}}.items():
        with pytest.raises(SchemaViolation) as caught:
            V16.validator.validate("Reset", payload)
        rules[name] = caught.value.rule
    assert rules == {"type": "type", "required": "required", "enum": "enum"}


MEASURANDS_16 = ["Energy.Active.Export.Register", "Energy.Active.Import.Register", "SoC", "RPM"]


def test_enums_checked_as_sets_accept_each_value_and_refuse_others_as_enums() -> None:
    """ocppj.validation checks string enums by set membership: every allowed value still passes,
    anything else is the enum's PropertyConstraintViolation with the enum's own message."""
    def meter(measurand: object) -> dict[str, object]:
        return {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-05T10:00:00Z",
                                                  "sampledValue": [{"value": "1", "measurand": measurand}]}]}

    for measurand in MEASURANDS_16:
        V16.validator.validate("MeterValues", meter(measurand))
    with pytest.raises(SchemaViolation) as caught:
        V16.validator.validate("MeterValues", meter("Energy.active.import.register"))  # case matters
    assert (caught.value.code, caught.value.rule) == ("PropertyConstraintViolation", "enum")
    assert "measurand must be one of ['Energy.Active.Export.Register'," in caught.value.description
    with pytest.raises(SchemaViolation) as caught:
        V16.validator.validate("MeterValues", meter(1))
    assert caught.value.rule == "type"
    status = {"timestamp": "2026-12-05T10:00:00Z", "evseId": 1, "connectorId": 1}
    for value in ("Available", "Occupied", "Reserved", "Unavailable", "Faulted"):
        V201.validator.validate("StatusNotification", {**status, "connectorStatus": value})
    with pytest.raises(SchemaViolation) as caught:
        V201.validator.validate("StatusNotification", {**status, "connectorStatus": "Charging"})
    assert (caught.value.code, caught.value.rule) == ("PropertyConstraintViolation", "enum")
