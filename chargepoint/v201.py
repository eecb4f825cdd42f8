"""The OCPP 2.0.1 words for what a 1.6 charge point says (issue #17): one table for every 2.0.1
charge point built on the shared client, the simulator's stations and the locker bridge's bays.

Why a translation: both keep one story of a charging session told in 1.6 terms (a connector
status, a stop reason, sampled values with string numbers); a 2.0.1 station tells the same story
as connectorStatus, stoppedReason with a triggerReason, idToken objects and numeric samples.
"""

from __future__ import annotations

from typing import Any

# a 1.6 connector status -> 2.0.1's connectorStatus
CONNECTOR_STATUS = {"Available": "Available", "Preparing": "Occupied", "Charging": "Occupied",
                    "SuspendedEV": "Occupied", "SuspendedEVSE": "Occupied", "Finishing": "Occupied",
                    "Reserved": "Reserved", "Unavailable": "Unavailable", "Faulted": "Faulted"}
# a 1.6 stop reason (what the shared code says) -> 2.0.1's stoppedReason and the Ended event's trigger
STOPPED = {"Remote": ("Remote", "RemoteStop"), "Local": ("Local", "StopAuthorized"),
           "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
           "DeAuthorized": ("DeAuthorized", "Deauthorized"), "PowerLoss": ("PowerLoss", "AbnormalCondition"),
           "HardReset": ("ImmediateReset", "ResetCommand"), "SoftReset": ("ImmediateReset", "ResetCommand"),
           "Reboot": ("Reboot", "ResetCommand"), "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
           "UnlockCommand": ("Other", "UnlockCommand"), "Other": ("Other", "AbnormalCondition")}
ID_TOKEN_TYPE = "ISO14443"  # RFID cards: what a driver presents at a simulated station or a locker


def token(id_tag: str, kind: str = ID_TOKEN_TYPE) -> dict[str, str]:
    return {"idToken": id_tag, "type": kind}


def sampled(values: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The meter's 1.6 sampledValues as 2.0.1's: numbers, the unit as unitOfMeasure."""
    found = []
    for v in values:
        item: dict[str, Any] = {"value": float(v["value"]), "measurand": v["measurand"],
                                "context": v["context"]}
        if v.get("location"):
            item["location"] = v["location"]
        if v.get("unit"):
            item["unitOfMeasure"] = {"unit": v["unit"]}
        found.append(item)
    return found
