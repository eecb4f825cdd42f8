"""The device model of a simulated OCPP 2.0.1 station (issue #17): components, variables and
their attributes, as a real station reports them, and the rules of reading and writing them.

Why its own module, without I/O: 2.0.1 moves what 1.6 kept in configuration keys into this model,
and the station's behaviour follows it (the heartbeat interval, the meter sampling, when a
transaction starts and stops, whether a remote start is authorized first). The station reads
values here; GetVariables/SetVariables/GetBaseReport/GetReport answer from here; a test can drive
it without a socket.

The standard controllers a station of this template has are made from the template (its EVSE
count, power, phases, measurands, heartbeat interval, password). Names compare
case-insensitively, as 2.0.1 says; a value written is checked against its data type (integer,
decimal, boolean, an OptionList's options, a MemberList's members), a ReadOnly one is refused,
a WriteOnly one (the Basic auth password) is never read back or reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charger_sim.template import Template

TX_POINTS = "ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer"
MEASURANDS = ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,"
              "Current.Offered,Power.Offered")
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")


# the index keys of every device model, shared: a fleet of 10,000 stations holds ~60 variables each,
# and a key of its own per station (a tuple of two lowered strings) cost ~12 KB a station
_KEYS: dict[tuple[str, str, int, int], tuple[str, str, int, int]] = {}


def _shared(key: tuple[str, str, int, int]) -> tuple[str, str, int, int]:
    return _KEYS.setdefault(key, key)


@dataclass(slots=True)
class Variable:
    """One variable of one component (its Actual attribute), with its characteristics."""

    component: str
    name: str
    value: str | None
    data_type: str = "string"  # string, integer, decimal, boolean, dateTime, OptionList, MemberList, SequenceList
    mutability: str = "ReadWrite"  # ReadOnly, WriteOnly, ReadWrite
    unit: str | None = None
    values_list: str | None = None  # an OptionList's options, a MemberList's members
    evse: int | None = None
    connector: int | None = None
    reboot: bool = False  # a write takes effect at the next boot (RebootRequired)

    def component_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.component}
        if self.evse is not None:
            found["evse"] = {"id": self.evse, **({"connectorId": self.connector} if self.connector else {})}
        return found

    def report(self) -> dict[str, Any]:
        """This variable as a NotifyReport ``reportData`` entry."""
        attribute: dict[str, Any] = {"type": "Actual", "mutability": self.mutability,
                                     "persistent": True, "constant": self.mutability == "ReadOnly"}
        if self.mutability != "WriteOnly" and self.value is not None:
            attribute["value"] = self.value
        traits: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": False}
        if self.unit:
            traits["unit"] = self.unit
        if self.values_list:
            traits["valuesList"] = self.values_list
        return {"component": self.component_json(), "variable": {"name": self.name},
                "variableAttribute": [attribute], "variableCharacteristics": traits}


@dataclass(slots=True)
class Outcome:
    """What a GetVariables or SetVariables entry is answered with."""

    status: str  # Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType, RebootRequired
    value: str | None = None


def _valid(variable: Variable, value: str) -> bool:
    kind = variable.data_type
    try:
        if kind == "integer":
            int(value)
        elif kind == "decimal":
            float(value)
        elif kind == "boolean":
            return value.lower() in ("true", "false")
        elif kind == "OptionList":
            return value in (variable.values_list or "").split(",")
        elif kind == "MemberList":
            allowed = set((variable.values_list or "").split(","))
            return all(part in allowed for part in value.split(",")) if value else True
    except ValueError:
        return False
    return True


@dataclass
class DeviceModel:
    """The components and variables of one station (see the module)."""

    variables: list[Variable] = field(default_factory=list)
    on_change: Callable[[Variable], None] | None = None  # told of each value written

    def __post_init__(self) -> None:
        # the keys are shared by every station of a fleet (only the model's own: a lookup's key,
        # which a central system chooses, is never kept)
        self._index = {_shared(self._key(v.component, v.name, v.evse, v.connector)): v for v in self.variables}

    @staticmethod
    def _key(component: str, name: str, evse: int | None, connector: int | None) -> tuple[str, str, int, int]:
        return component.lower(), name.lower(), evse or 0, connector or 0

    def find(self, component: str, name: str, evse: int | None = None, connector: int | None = None
             ) -> Variable | None:
        return self._index.get(self._key(component, name, evse, connector))

    def value(self, component: str, name: str, default: str = "") -> str:
        found = self.find(component, name)
        return found.value if found is not None and found.value is not None else default

    def get_int(self, component: str, name: str, default: int) -> int:
        try:
            return int(self.value(component, name, str(default)))
        except ValueError:
            return default

    def get_bool(self, component: str, name: str, default: bool = False) -> bool:
        return self.value(component, name, "true" if default else "false").lower() == "true"

    def members(self, component: str, name: str) -> list[str]:
        return [m for m in self.value(component, name).split(",") if m]

    # -- GetVariables / SetVariables -----------------------------------------------------------
    def _lookup(self, component: dict[str, Any], variable: dict[str, Any]) -> Variable | Outcome:
        evse = component.get("evse") or {}
        found = self.find(component["name"], variable["name"], evse.get("id"), evse.get("connectorId"))
        if found is not None:
            return found
        known = {v.component.lower() for v in self.variables}
        return Outcome("UnknownVariable" if component["name"].lower() in known else "UnknownComponent")

    def get(self, component: dict[str, Any], variable: dict[str, Any], attribute_type: str = "Actual") -> Outcome:
        found = self._lookup(component, variable)
        if isinstance(found, Outcome):
            return found
        if attribute_type != "Actual":
            return Outcome("NotSupportedAttributeType")
        if found.mutability == "WriteOnly":
            return Outcome("Rejected")
        return Outcome("Accepted", found.value or "")

    def set(self, component: dict[str, Any], variable: dict[str, Any], value: str,
            attribute_type: str = "Actual") -> Outcome:
        found = self._lookup(component, variable)
        if isinstance(found, Outcome):
            return found
        if attribute_type != "Actual":
            return Outcome("NotSupportedAttributeType")
        if found.mutability == "ReadOnly" or not _valid(found, value):
            return Outcome("Rejected")
        found.value = value
        if self.on_change is not None:
            self.on_change(found)
        return Outcome("RebootRequired" if found.reboot else "Accepted")

    # -- GetBaseReport / GetReport -------------------------------------------------------------
    def report(self, base: str = "FullInventory") -> list[dict[str, Any]]:
        """The ``reportData`` of a base report: every variable (FullInventory), those that can be
        written (ConfigurationInventory), or the availability of each component (SummaryInventory)."""
        chosen: Iterator[Variable]
        if base == "ConfigurationInventory":
            chosen = (v for v in self.variables if v.mutability != "ReadOnly")
        elif base == "SummaryInventory":
            chosen = (v for v in self.variables if v.name in ("AvailabilityState", "Available"))
        else:
            chosen = iter(self.variables)
        return [v.report() for v in chosen]

    def select(self, criteria: list[str] | None = None,
               components: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """A GetReport's ``reportData``: the variables of the components (and variables) asked
        for, narrowed by ``componentCriterion`` (Active, Available, Enabled, Problem: the
        components that have that boolean variable true)."""
        chosen = list(self.variables)
        if components:
            def asked(v: Variable) -> bool:
                for c in components:
                    name = c["component"]["name"].lower()
                    wanted = c.get("variable")
                    evse = (c["component"].get("evse") or {}).get("id")
                    if (v.component.lower() == name and (evse is None or v.evse == evse)
                            and (wanted is None or v.name.lower() == wanted["name"].lower())):
                        return True
                return False
            chosen = [v for v in chosen if asked(v)]
        if criteria:
            flagged = {(v.component.lower(), v.evse, v.connector) for v in self.variables
                       if v.name in criteria and (v.value or "").lower() == "true"}
            chosen = [v for v in chosen if (v.component.lower(), v.evse, v.connector) in flagged]
        return [v.report() for v in chosen]


def chunked(report_data: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """A report cut into NotifyReport parts of at most ``size`` entries (seqNo, tbc follow)."""
    return [report_data[i:i + size] for i in range(0, len(report_data), size)] or [[]]


def standard(template: Template, identity: str) -> DeviceModel:
    """The controllers and components a station of ``template`` reports (see the module)."""
    t = template

    def v(component: str, name: str, value: str | None, data_type: str = "string", mutability: str = "ReadWrite",
          **extra: Any) -> Variable:
        return Variable(component, name, value, data_type, mutability, **extra)

    variables = [
        v("ChargingStation", "AvailabilityState", "Available", "OptionList", "ReadOnly",
          values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
        v("ChargingStation", "Available", "true", "boolean", "ReadOnly"),
        v("ChargingStation", "Model", t.model, mutability="ReadOnly"),
        v("ChargingStation", "VendorName", t.vendor, mutability="ReadOnly"),
        v("ChargingStation", "SupplyPhases", str(t.phases), "integer", "ReadOnly"),
        v("OCPPCommCtrlr", "HeartbeatInterval", str(t.heartbeat_interval), "integer", unit="s"),
        v("OCPPCommCtrlr", "MessageTimeout", "30", "integer", "ReadOnly", unit="s"),
        v("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", "SequenceList"),
        v("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", "integer"),
        v("OCPPCommCtrlr", "OfflineThreshold", "60", "integer", unit="s"),
        v("OCPPCommCtrlr", "ResetRetries", "2", "integer"),
        v("OCPPCommCtrlr", "MessageAttemptsTransactionEvent", "3", "integer"),
        v("OCPPCommCtrlr", "MessageAttemptIntervalTransactionEvent", "10", "integer", unit="s"),
        # the start points this station keeps apart (valuesList: what it supports; others Rejected)
        v("TxCtrlr", "TxStartPoint", "PowerPathClosed", "MemberList",
          values_list="ParkingBayOccupancy,EVConnected,PowerPathClosed"),
        # what ends a session here is fixed (the EV unplugged, or its authorization over): said, not writable
        v("TxCtrlr", "TxStopPoint", "EVConnected,Authorized", "MemberList", "ReadOnly", values_list=TX_POINTS),
        v("TxCtrlr", "EVConnectionTimeOut", "60", "integer", unit="s"),
        v("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "boolean", "ReadOnly"),
        v("TxCtrlr", "StopTxOnInvalidId", "true", "boolean"),
        v("SampledDataCtrlr", "Enabled", "true", "boolean"),
        v("SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Import.Register", "MemberList",
          values_list=MEASURANDS),
        v("SampledDataCtrlr", "TxUpdatedMeasurands", ",".join(t.measurands), "MemberList", values_list=MEASURANDS),
        v("SampledDataCtrlr", "TxUpdatedInterval", str(t.meter_interval), "integer", unit="s"),
        v("SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register", "MemberList",
          values_list=MEASURANDS),
        v("SampledDataCtrlr", "TxEndedInterval", "0", "integer", unit="s"),
        v("AlignedDataCtrlr", "Enabled", "false", "boolean"),
        v("AlignedDataCtrlr", "Interval", "900", "integer", unit="s"),
        v("AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register", "MemberList", values_list=MEASURANDS),
        v("AuthCtrlr", "Enabled", "true", "boolean"),
        v("AuthCtrlr", "AuthorizeRemoteStart", "false", "boolean"),
        v("AuthCtrlr", "LocalAuthorizeOffline", "true", "boolean"),
        v("AuthCtrlr", "LocalPreAuthorize", "false", "boolean"),
        v("AuthCacheCtrlr", "Enabled", "true", "boolean"),
        v("LocalAuthListCtrlr", "Enabled", "true", "boolean"),
        v("LocalAuthListCtrlr", "Entries", "0", "integer", "ReadOnly"),
        v("LocalAuthListCtrlr", "ItemsPerMessage", "100", "integer", "ReadOnly"),
        v("LocalAuthListCtrlr", "BytesPerMessage", "65000", "integer", "ReadOnly"),
        v("ReservationCtrlr", "Enabled", "true", "boolean"),
        v("SmartChargingCtrlr", "Enabled", "true", "boolean"),
        v("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", "ReadOnly", values_list="A,W"),
        v("SmartChargingCtrlr", "LimitChangeSignificance", "10", "decimal", unit="Percent"),
        v("SecurityCtrlr", "SecurityProfile", "1" if t.password else "0", "integer", "ReadOnly"),
        v("SecurityCtrlr", "BasicAuthPassword", t.password, mutability="WriteOnly"),
        v("SecurityCtrlr", "Identity", identity, mutability="ReadOnly"),
        v("SecurityCtrlr", "OrganizationName", t.vendor),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", "ReadOnly"),  # GetReport, GetVariables
        v("DeviceDataCtrlr", "BytesPerMessage", "65000", "integer", "ReadOnly"),
        v("ClockCtrlr", "TimeSource", "Heartbeat", "SequenceList"),
    ]
    for evse in range(1, t.connectors + 1):
        variables += [
            v("EVSE", "AvailabilityState", "Available", "OptionList", "ReadOnly", evse=evse,
              values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
            v("EVSE", "Available", "true", "boolean", "ReadOnly", evse=evse),
            v("EVSE", "Power", "0", "decimal", "ReadOnly", unit="W", evse=evse),
            v("EVSE", "SupplyPhases", str(t.phases), "integer", "ReadOnly", evse=evse),
            v("Connector", "AvailabilityState", "Available", "OptionList", "ReadOnly", evse=evse, connector=1,
              values_list="Available,Occupied,Reserved,Unavailable,Faulted"),
            v("Connector", "ConnectorType", "cCCS2" if t.current_type == "DC" else "cType2", "string", "ReadOnly",
              evse=evse, connector=1),
            v("Connector", "SupplyPhases", str(t.phases), "integer", "ReadOnly", evse=evse, connector=1),
        ]
    return DeviceModel(variables)
