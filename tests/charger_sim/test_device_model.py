"""The device model of a simulated 2.0.1 station (issue #17), without sockets: the standard
controllers made from the template, reads and writes by 2.0.1's rules (case-insensitive names,
data types, ReadOnly refused, the WriteOnly password never read back), base reports and GetReport
selections that the 2.0.1 schemas accept, cut into NotifyReport parts."""

from __future__ import annotations

from typing import Any

import pytest

from charger_sim.device_model import REPORT_BASES, Variable, chunked, standard
from charger_sim.template import load_template
from ocppj.versions import V201


def comp(name: str, evse: int | None = None) -> dict[str, Any]:
    return {"name": name, **({"evse": {"id": evse}} if evse else {})}


def var(name: str) -> dict[str, str]:
    return {"name": name}


TEMPLATE = {"connectors": 2, "password": "station-secret-01", "heartbeat_interval": 300,
            "measurands": ["Energy.Active.Import.Register", "Power.Active.Import", "SoC"]}


@pytest.fixture
def model() -> Any:
    return standard(load_template("ac-wallbox", TEMPLATE), "SIM-201")


def test_values_come_from_the_template(model: Any) -> None:
    assert model.get_int("OCPPCommCtrlr", "HeartbeatInterval", 0) == 300
    assert model.members("SampledDataCtrlr", "TxUpdatedMeasurands") == TEMPLATE["measurands"]
    assert model.value("SecurityCtrlr", "SecurityProfile") == "1"  # a password: Basic auth
    assert model.find("EVSE", "Power", evse=2) is not None and model.find("EVSE", "Power", evse=3) is None


def test_reads_and_writes_follow_the_201_rules(model: Any) -> None:
    changed: list[Variable] = []
    model.on_change = changed.append
    assert (model.get(comp("ocppcommctrlr"), var("HEARTBEATINTERVAL")).status,
            model.get(comp("OCPPCommCtrlr"), var("HeartbeatInterval")).value) == ("Accepted", "300")
    assert model.set(comp("OCPPCommCtrlr"), var("HeartbeatInterval"), "60").status == "Accepted"
    assert model.get_int("OCPPCommCtrlr", "HeartbeatInterval", 0) == 60
    assert [(v.component, v.name, v.value) for v in changed] == [("OCPPCommCtrlr", "HeartbeatInterval", "60")]
    refused = [
        (comp("OCPPCommCtrlr"), var("HeartbeatInterval"), "soon"),  # not an integer
        (comp("AuthCtrlr"), var("AuthorizeRemoteStart"), "yes"),  # not a boolean
        (comp("TxCtrlr"), var("TxStartPoint"), "EVConnected,Teleported"),  # not a member
        (comp("SecurityCtrlr"), var("SecurityProfile"), "2"),  # ReadOnly
    ]
    assert [model.set(c, v, value).status for c, v, value in refused] == ["Rejected"] * 4
    assert model.set(comp("TxCtrlr"), var("TxStartPoint"), "EVConnected,ParkingBayOccupancy").status == "Accepted"
    assert model.members("TxCtrlr", "TxStartPoint") == ["EVConnected", "ParkingBayOccupancy"]
    assert model.get(comp("NoSuchCtrlr"), var("Enabled")).status == "UnknownComponent"
    assert model.get(comp("AuthCtrlr"), var("NoSuchVariable")).status == "UnknownVariable"
    assert model.get(comp("AuthCtrlr"), var("Enabled"), "Target").status == "NotSupportedAttributeType"
    assert model.get(comp("EVSE", 2), var("AvailabilityState")).value == "Available"


def test_the_password_is_written_never_read(model: Any) -> None:
    password = (comp("SecurityCtrlr"), var("BasicAuthPassword"))
    assert model.get(*password).status == "Rejected"
    assert model.set(*password, "a-new-password-0002").status == "Accepted"
    assert model.value("SecurityCtrlr", "BasicAuthPassword") == "a-new-password-0002"  # the station's own use
    reported = [e for e in model.report() if e["variable"]["name"] == "BasicAuthPassword"]
    assert reported and "value" not in reported[0]["variableAttribute"][0]


@pytest.mark.parametrize("base", REPORT_BASES)
def test_reports_are_valid_notify_reports(model: Any, base: str) -> None:
    data = model.report(base)
    names = {(e["component"]["name"], e["variable"]["name"]) for e in data}
    if base == "FullInventory":
        assert len(data) == len(model.variables)
    elif base == "ConfigurationInventory":
        assert ("OCPPCommCtrlr", "HeartbeatInterval") in names and ("SecurityCtrlr", "Identity") not in names
    else:
        assert names == {("ChargingStation", "AvailabilityState"), ("ChargingStation", "Available"),
                         ("EVSE", "AvailabilityState"), ("EVSE", "Available"), ("Connector", "AvailabilityState")}
    parts = chunked(data, 20)
    assert sum(len(p) for p in parts) == len(data) and all(len(p) <= 20 for p in parts)
    for seq, part in enumerate(parts):
        V201.validator.validate("NotifyReport", {"requestId": 1, "generatedAt": "2026-12-04T10:00:00Z",
                                                 "seqNo": seq, "tbc": seq < len(parts) - 1, "reportData": part})


def test_get_report_selects_components_and_criteria(model: Any) -> None:
    evse2 = model.select(components=[{"component": comp("EVSE", 2)}])
    assert {(e["component"]["evse"]["id"], e["variable"]["name"]) for e in evse2} == {
        (2, "AvailabilityState"), (2, "Available"), (2, "Power"), (2, "SupplyPhases")}
    one = model.select(components=[{"component": comp("authctrlr"), "variable": var("authorizeremotestart")}])
    assert [e["variable"]["name"] for e in one] == ["AuthorizeRemoteStart"]
    enabled = {e["component"]["name"] for e in model.select(criteria=["Enabled"])}
    assert {"AuthCtrlr", "SampledDataCtrlr", "LocalAuthListCtrlr"} <= enabled
    assert "AlignedDataCtrlr" not in enabled  # its Enabled is false
    assert chunked([], 20) == [[]]
