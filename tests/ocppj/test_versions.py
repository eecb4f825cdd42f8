"""The version registry: 2.0.1 and 1.6 served, the newest preferred."""

from __future__ import annotations

import pytest

from ocppj.versions import SERVED, V16, V201, VERSIONS, Version, by_subprotocol


def test_subprotocols_select_versions() -> None:
    assert by_subprotocol("ocpp1.6") is V16
    assert by_subprotocol("ocpp2.0.1") is V201
    assert by_subprotocol("ocpp2.0") is None and by_subprotocol(None) is None
    assert set(VERSIONS) == {"ocpp1.6", "ocpp2.0.1"}
    assert SERVED == (V201, V16)


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_every_action_has_both_schemas(version: Version) -> None:
    for action in version.cp_actions | version.csms_actions:
        assert version.validator.schema_path(action).exists(), action
        assert version.validator.schema_path(action, response=True).exists(), action
    version.warm_up()


def test_spellings_differ_where_the_specs_do() -> None:
    assert (V16.errors.format, V201.errors.format) == ("FormationViolation", "FormatViolation")
    assert (V16.errors.occurrence, V201.errors.occurrence) == (
        "OccurenceConstraintViolation", "OccurrenceConstraintViolation")
    assert V16.errors.not_implemented == V201.errors.not_implemented == "NotImplemented"
