"""A locker bay as an OCPP 2.0.1 charging station with one EVSE and one connector (issue #17).

Why a subclass of the 1.6 bay: the bay's life is the same story in both versions (the board is
the truth; a start is START_CHARGING read back, a stop STOP_CHARGING read back; the door, the
outlet or a reboot end a transaction; every transaction message goes through the durable outbox).
Only what the bay tells the CSMS differs, and that is what is overridden here: the 2.0.1
BootNotification and Authorize, TransactionEvent Started/Updated/Ended under the bay's own
transaction id with a strictly increasing ``seqNo`` (kept with the transaction on disk, so a
bridge restart carries on from it), StatusNotification of EVSE 1 / connector 1 (2.0.1 has no
connector 0), and NotifyEvent when the door, the item sensor or a fault changes.

The door and item readings are told as ``Door.Open`` and ``BayOccupancySensor.Active`` of EVSE 1
(BayOccupancySensor is a standard 2.0.1 component; a locker door has none, so it is named
plainly), a fault as ``EVSE.Problem`` with the vendor error code in ``techInfo``.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers
from chargepoint.times import iso
from chargepoint.v201 import CONNECTOR_STATUS, STOPPED, token
from locker_bridge import handlers201
from locker_bridge.bay import BoardError, Tx
from locker_bridge.bay_point import log
from locker_bridge.bus import BusError
from locker_bridge.charge_point import VirtualChargePoint
from ocppj.versions import V201, Version

# how the shared bay code's stop reasons read in 2.0.1 where a locker means something else than a
# charger: the door opened (the device taken out), a full battery left idle too long
BAY_STOPPED = {**STOPPED, "EVDisconnected": ("EVDisconnected", "EVDeparted"),
               "Local": ("Local", "ChargingStateChanged"), "Reboot": ("Reboot", "AbnormalCondition")}
EVSE = {"id": 1}


class VirtualChargingStation(VirtualChargePoint):
    """One bay, connected as its own OCPP 2.0.1 charging station."""

    version: Version = V201

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boot_reason = "PowerUp"
        # the RequestStartTransaction the next start answers: its remoteStartId and its idToken as
        # the CSMS sent it (type and all: a CSMS matches tokens by value and type)
        self.remote_start_id: int | None = None
        self.remote_token: dict[str, Any] | None = None
        self._event_ids = itertools.count(1)
        self._told: dict[str, str] = {}  # NotifyEvent subject -> the value last told

    def answer_with(self, on: Handlers) -> None:
        handlers201.register(self, on)

    # -- boot --------------------------------------------------------------------------------
    def boot_payload(self) -> dict[str, Any]:
        return {"reason": self.boot_reason, "chargingStation": {
            "vendorName": self.vendor, "model": self.model, "serialNumber": self.identity[-25:],
            "firmwareVersion": "bridge-1"}}

    def _booted(self, status: str, interval: int) -> None:
        super()._booted(status, interval)
        if status == "Accepted":
            self.boot_reason = "PowerUp"

    async def triggered(self, message: str) -> None:
        with contextlib.suppress(*CALL_FAILED, BusError, BoardError):
            if message == "TransactionEvent":
                await self.send_meter_values("Trigger")
            elif message == "MeterValues":  # MeterValues of the EVSE, a transaction running or not
                await self.bay.read_charging()
                if self.bay.energy_wh is not None:
                    await self.call(*self.meter_message(None, self.readings("Trigger"), "Trigger"))
            elif message == "BootNotification":
                await self.call("BootNotification", {**self.boot_payload(), "reason": "Triggered"})
            elif message in ("FirmwareStatusNotification", "LogStatusNotification"):
                await self.call(message, {"status": "Idle"})  # a bay has neither under way
            else:
                await super().triggered(message)

    # -- what the bay tells the CSMS, in 2.0.1 -----------------------------------------------
    def _token(self, id_tag: str) -> dict[str, Any]:
        remote = self.remote_token
        return dict(remote) if remote is not None and remote["idToken"] == id_tag else token(id_tag)

    async def authorize(self, id_tag: str) -> str:
        answer = await self.call("Authorize", {"idToken": self._token(id_tag)})
        return str(answer["idTokenInfo"]["status"])

    async def remote_start(self, remote_start_id: int, id_token: dict[str, Any]) -> None:
        """After a RequestStartTransaction was accepted: the start, answering its
        remoteStartId (forgotten if the start fails: a later local start is no answer to it)."""
        self.remote_start_id, self.remote_token = remote_start_id, id_token
        try:
            await self.start_transaction(id_token["idToken"], authorize=self.settings.flag("AuthorizeRemoteTxRequests"))
        finally:
            self.remote_start_id = self.remote_token = None

    def _event(self, kind: str, tx: Tx, trigger: str, info: dict[str, Any], register: int, context: str,
               **extra: Any) -> dict[str, Any]:
        if tx.station_id is None:
            tx.station_id = str(uuid.uuid4())
        seq, tx.seq = tx.seq, tx.seq + 1
        sampled = [{"value": float(register), "measurand": "Energy.Active.Import.Register", "context": context,
                    "unitOfMeasure": {"unit": "Wh"}}]
        if context != "Transaction.Begin" and context != "Transaction.End":
            sampled.append({"value": float(self.bay.power_w), "measurand": "Power.Active.Import",
                            "context": context, "unitOfMeasure": {"unit": "W"}})
        payload: dict[str, Any] = {"eventType": kind, "timestamp": iso(), "triggerReason": trigger, "seqNo": seq,
                                   "transactionInfo": {"transactionId": tx.station_id, **info},
                                   "meterValue": [{"timestamp": iso(), "sampledValue": sampled}], **extra}
        if not self.booted.is_set():
            payload["offline"] = True  # queued while disconnected: sent later, in order
        return payload

    def start_message(self, tx: Tx) -> tuple[str, dict[str, Any]]:
        remote = self.remote_start_id if self.remote_token is not None and self.remote_token["idToken"] == tx.id_tag \
            else None
        info: dict[str, Any] = {"chargingState": "Charging"}
        if remote is not None:
            info["remoteStartId"] = remote
        id_token = self._token(tx.id_tag)
        self.remote_start_id = self.remote_token = None
        return "TransactionEvent", self._event(
            "Started", tx, "RemoteStart" if remote is not None else "Authorized", info, tx.meter_start,
            "Transaction.Begin", evse={**EVSE, "connectorId": 1}, idToken=id_token)

    def start_verdict(self, answer: dict[str, Any]) -> str:
        return str((answer.get("idTokenInfo") or {}).get("status", "Accepted"))

    def stop_message(self, tx: Tx, meter_stop: int, reason: str) -> tuple[str, dict[str, Any]]:
        stopped, trigger = BAY_STOPPED.get(reason, ("Other", "AbnormalCondition"))
        state = "EVConnected" if self.bay.item else "Idle"
        return "TransactionEvent", self._event("Ended", tx, trigger, {"stoppedReason": stopped,
                                                                      "chargingState": state},
                                               meter_stop, "Transaction.End")

    def meter_message(self, tx: Tx | None, sampled: list[dict[str, Any]], context: str
                      ) -> tuple[str, dict[str, Any]]:
        if tx is None:
            values = [{"value": float(v["value"]), "measurand": v["measurand"], "context": v["context"],
                       "unitOfMeasure": {"unit": v["unit"]}} for v in sampled]
            return "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": iso(), "sampledValue": values}]}
        status = self.bay.status()[0]
        state = status if status in ("SuspendedEV", "SuspendedEVSE") else "Charging"
        trigger = "MeterValuePeriodic" if context == "Sample.Periodic" else "Trigger"
        return "TransactionEvent", self._event("Updated", tx, trigger, {"chargingState": state},
                                               tx.meter_now, context)

    # -- status and events ---------------------------------------------------------------------
    async def notify(self, force: bool = False) -> None:
        """StatusNotification of EVSE 1 when its 2.0.1 status changed (Preparing, Charging and
        Finishing are all Occupied), then NotifyEvent of what changed at the door, the item
        sensor or the fault (all of it after a boot: ``force``)."""
        status, _, _ = self.bay.status()
        told = CONNECTOR_STATUS.get(status, "Unavailable")
        if force or self._sent.get(1, ("",))[0] != told:
            self._sent[1] = (told, "", None)
            log_status = f"{told} ({status})" if told != status else told
            log.info("%s: %s", self.identity, log_status)
            try:
                await self.call("StatusNotification", {"timestamp": iso(), "connectorStatus": told,
                                                       "evseId": 1, "connectorId": 1})
            except CALL_FAILED:
                self._sent.pop(1, None)
        if force:
            self._told.clear()
        await self._notify_events()

    def _observed(self) -> dict[str, tuple[str, str, str | None]]:
        """NotifyEvent subject -> (component, variable, value) for what the bridge knows now."""
        bay = self.bay
        found: dict[str, tuple[str, str, str | None]] = {}
        if bay.door_open is not None:
            found["door"] = ("Door", "Open", str(bay.door_open).lower())
        if bay.item is not None:
            found["item"] = ("BayOccupancySensor", "Active", str(bay.item).lower())
        _, _, vendor_error = bay.status()
        found["problem"] = ("EVSE", "Problem", vendor_error)
        return found

    async def _notify_events(self) -> None:
        changed = [(subject, seen) for subject, seen in self._observed().items()
                   if self._told.get(subject) != (seen[2] or "false")]
        if not changed:
            return
        now = iso()
        data = []
        for subject, (component, variable, value) in changed:
            self._told[subject] = value or "false"
            event: dict[str, Any] = {
                "eventId": next(self._event_ids), "timestamp": now, "trigger": "Delta",
                "actualValue": "true" if subject == "problem" and value else (value or "false"),
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": component, "evse": EVSE}, "variable": {"name": variable}}
            if subject == "problem" and value:
                event["techCode"] = value
                if self.bay.fault_info:
                    event["techInfo"] = self.bay.fault_info
            data.append(event)
        try:
            await self.call("NotifyEvent", {"generatedAt": now, "seqNo": 0, "tbc": False, "eventData": data})
        except CALL_FAILED:
            for subject, _ in changed:
                self._told.pop(subject, None)
