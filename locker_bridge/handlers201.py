"""What a locker bay that speaks OCPP 2.0.1 answers (issue #17).

The same bay as in :mod:`locker_bridge.handlers`, in 2.0.1's words: RequestStartTransaction and
RequestStopTransaction become the serial START/STOP frames with read-back (the start answers the
request's ``remoteStartId``), Reset is Immediate or OnIdle, ChangeAvailability names the EVSE,
UnlockConnector opens the door where the bay is set up so (never while charging: 2.0.1 says
OngoingAuthorizedTransaction), and the locker extensions are the same DataTransfer. The bay's
configuration keys are its device model (:data:`VARIABLES`): GetVariables, SetVariables and
GetBaseReport read and write them under their 2.0.1 names.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers, Reply
from chargepoint.smart_charging import profile_from_201
from chargepoint.v201 import CONNECTOR_STATUS
from locker_bridge.bay import BoardError
from locker_bridge.bus import BusError
from locker_bridge.handlers import data_transfer, open_door

if TYPE_CHECKING:
    from locker_bridge.bay201 import VirtualChargingStation

Payload = dict[str, Any]
TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent",
               "FirmwareStatusNotification", "LogStatusNotification"}
# (component, variable) -> (the bay's configuration key, dataType); None: read from the bay itself
VARIABLES: dict[tuple[str, str], tuple[str | None, str]] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): ("HeartbeatInterval", "integer"),
    ("SampledDataCtrlr", "TxUpdatedInterval"): ("MeterValueSampleInterval", "integer"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): ("MeterValuesSampledData", "MemberList"),
    ("AuthCtrlr", "AuthorizeRemoteStart"): ("AuthorizeRemoteTxRequests", "boolean"),
    ("LockerBay", "StopWhenFullAfter"): ("StopWhenFullAfter", "integer"),
    ("EVSE", "AvailabilityState"): (None, "OptionList"),
    ("Door", "Open"): (None, "boolean"),
    ("BayOccupancySensor", "Active"): (None, "boolean"),
}


def _value(cp: VirtualChargingStation, component: str, variable: str) -> str:
    key, _ = VARIABLES[(component, variable)]
    if key is not None:
        return cp.settings.values[key]
    bay = cp.bay
    if component == "EVSE":
        return CONNECTOR_STATUS.get(bay.status()[0], "Unavailable")
    seen = bay.door_open if component == "Door" else bay.item
    return "" if seen is None else str(seen).lower()


def _find(component: Payload, variable: Payload) -> tuple[str, str] | str:
    """The known (component, variable), or the attributeStatus of one that is not."""
    names = {c.lower(): c for c, _ in VARIABLES}
    name = names.get(component["name"].lower())
    evse = (component.get("evse") or {}).get("id")
    if name is None or evse not in (None, 1) or (evse == 1) != (name in ("EVSE", "Door", "BayOccupancySensor")):
        return "UnknownComponent"
    found = next(((c, v) for c, v in VARIABLES if c == name and v.lower() == variable["name"].lower()), None)
    return found if found is not None else "UnknownVariable"


def _component(name: str) -> Payload:
    return {"name": name, "evse": {"id": 1}} if name in ("EVSE", "Door", "BayOccupancySensor") else {"name": name}


def register(cp: VirtualChargingStation, on: Handlers) -> None:
    """Answer the CSMS's 2.0.1 calls for the bay ``cp``."""
    _sessions(cp, on)
    _device_model(cp, on)
    data_transfer(cp, on)
    _smart_charging(cp, on)

    @on.on("ChangeAvailability")
    async def change_availability(p: Payload) -> Payload:
        evse = p.get("evse") or {}
        if evse.get("id") not in (None, 1) or evse.get("connectorId") not in (None, 1):
            return {"status": "Rejected"}
        operative = p["operationalStatus"] == "Operative"
        if operative and cp.bay.maintenance:  # Accepted would promise Available
            return {"status": "Rejected"}
        await cp.set_availability(operative=operative)
        return {"status": "Scheduled" if not operative and cp.bay.tx is not None else "Accepted"}

    @on.on("UnlockConnector")
    async def unlock_connector(p: Payload) -> Payload:
        if (p["evseId"], p["connectorId"]) != (1, 1):
            return {"status": "UnknownConnector"}
        if cp.bay.tx is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        if not cp.unlock_opens_door:
            return {"status": "UnlockFailed"}  # no cable lock, and the door is not its to open
        try:
            opened, _ = await open_door(cp)
        except (BusError, BoardError):
            opened = False
        return {"status": "Unlocked" if opened else "UnlockFailed"}

    @on.on("ClearCache")
    def clear_cache(p: Payload) -> Payload:
        return {"status": "Accepted"}  # a bay keeps no authorization cache

    @on.on("Reset")
    def reset(p: Payload) -> Payload | Reply:
        if p.get("evseId") not in (None, 1):
            return {"status": "Rejected"}
        on_idle = p["type"] == "OnIdle"

        async def then() -> None:
            while on_idle and cp.bay.tx is not None:
                await asyncio.sleep(0.5)
            if cp.bay.tx is not None:
                await cp.stop_transaction("HardReset")
            cp.bay.clear_fault()
            cp.boot_reason = "RemoteReset"
            cp.reconnect()

        if on_idle and cp.bay.tx is not None:
            cp.spawn(then())
            return {"status": "Scheduled"}
        return Reply({"status": "Accepted"}, then)

    @on.on("TriggerMessage")
    def trigger_message(p: Payload) -> Payload | Reply:
        requested, evse = p["requestedMessage"], (p.get("evse") or {}).get("id")
        if requested not in TRIGGERABLE:
            return {"status": "NotImplemented"}
        if evse not in (None, 1) or requested == "TransactionEvent" and cp.bay.tx is None:
            return {"status": "Rejected"}

        async def then() -> None:
            cp.spawn(cp.triggered(requested))

        return Reply({"status": "Accepted"}, then)


def _sessions(cp: VirtualChargingStation, on: Handlers) -> None:
    @on.on("RequestStartTransaction")
    def request_start(p: Payload) -> Payload:
        if p.get("evseId") not in (None, 1) or not cp.bay.can_start:
            return {"status": "Rejected"}
        cp.spawn(cp.remote_start(p["remoteStartId"], p["idToken"]))
        return {"status": "Accepted"}

    @on.on("RequestStopTransaction")
    def request_stop(p: Payload) -> Payload:
        tx = cp.bay.tx
        if tx is None or tx.station_id != p["transactionId"]:
            return {"status": "Rejected"}
        cp.spawn(cp.stop_transaction("Remote"))
        return {"status": "Accepted"}

    @on.on("GetTransactionStatus")
    def transaction_status(p: Payload) -> Payload:
        queued = len(cp.outbox) > 0
        if p.get("transactionId") is None:
            return {"messagesInQueue": queued}
        tx = cp.bay.tx
        return {"ongoingIndicator": tx is not None and tx.station_id == p["transactionId"],
                "messagesInQueue": queued}


def _each(data: list[Payload], act: Callable[[tuple[str, str], Payload], Payload]) -> list[Payload]:
    """The GetVariables / SetVariables result of each item: ``act`` on a known variable's
    Actual attribute, the refusal otherwise (unknown, or another attribute type)."""
    results = []
    for d in data:
        found = _find(d["component"], d["variable"])
        result: Payload = {"component": d["component"], "variable": d["variable"]}
        if isinstance(found, str):
            result["attributeStatus"] = found
        elif d.get("attributeType", "Actual") != "Actual":
            result["attributeStatus"] = "NotSupportedAttributeType"
        else:
            result.update(act(found, d))
        if "attributeType" in d:
            result["attributeType"] = d["attributeType"]
        results.append(result)
    return results


def _device_model(cp: VirtualChargingStation, on: Handlers) -> None:
    def read(found: tuple[str, str], d: Payload) -> Payload:
        return {"attributeStatus": "Accepted", "attributeValue": _value(cp, *found)}

    def write(found: tuple[str, str], d: Payload) -> Payload:
        key = VARIABLES[found][0]
        status = cp.settings.change(key, d["attributeValue"]) if key is not None else "Rejected"
        return {"attributeStatus": "Accepted" if status == "Accepted" else "Rejected"}

    @on.on("GetVariables")
    def get_variables(p: Payload) -> Payload:
        return {"getVariableResult": _each(p["getVariableData"], read)}

    @on.on("SetVariables")
    def set_variables(p: Payload) -> Payload:
        return {"setVariableResult": _each(p["setVariableData"], write)}

    @on.on("GetBaseReport")
    def base_report(p: Payload) -> Reply:
        writable = p["reportBase"] == "ConfigurationInventory"
        data = [{"component": _component(c), "variable": {"name": v}, "variableAttribute": [{
            "type": "Actual", "value": _value(cp, c, v)[:2500],
            "mutability": "ReadWrite" if key in cp.settings.WRITABLE else "ReadOnly"}],
            "variableCharacteristics": {"dataType": kind, "supportsMonitoring": False}}
            for (c, v), (key, kind) in VARIABLES.items() if not writable or key in cp.settings.WRITABLE]

        async def report() -> None:
            generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            with contextlib.suppress(*CALL_FAILED):
                await cp.call("NotifyReport", {"requestId": p["requestId"], "generatedAt": generated,
                                               "seqNo": 0, "tbc": False, "reportData": data})
        return Reply({"status": "Accepted"}, report)


def _smart_charging(cp: VirtualChargingStation, on: Handlers) -> None:
    """2.0.1's charging profiles, read as 1.6's (one schedule; the transaction named by the
    bay's own id): the outlet follows them as a switch (locker_bridge.bay_limits)."""

    @on.on("SetChargingProfile")
    async def set_charging_profile(p: Payload) -> Payload:
        return {"status": await cp.set_profile(p["evseId"], profile_from_201(p["chargingProfile"]))}

    @on.on("ClearChargingProfile")
    async def clear_charging_profile(p: Payload) -> Payload:
        criteria = p.get("chargingProfileCriteria") or {}
        status = await cp.clear_profiles(p.get("chargingProfileId"), criteria.get("evseId"),
                                         criteria.get("chargingProfilePurpose"), criteria.get("stackLevel"))
        return {"status": status}
