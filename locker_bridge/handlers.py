"""What a locker bay answers when the CSMS calls it (a :class:`chargepoint.handlers.Handlers`).

Remote start/stop become serial frames; door and status reads go through DataTransfer (vendorId
``chargebay``) because OCPP 1.6 keeps UnlockConnector for the cable lock. Actions a locker bay has
no use for have no handler and are answered NotImplemented. Work that follows an answer runs in a
background task or after the answer is sent (:class:`~chargepoint.handlers.Reply`).
"""

from __future__ import annotations

import json
from typing import Any

from chargepoint.handlers import Handlers, Reply
from locker_bridge.bay import BoardError
from locker_bridge.bay_limits import BayLimits
from locker_bridge.bay_transactions import BayTransactions
from locker_bridge.bus import BadReply, BusError, NoReply

VENDOR_ID = "chargebay"
TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
               "DiagnosticsStatusNotification", "FirmwareStatusNotification"}
Payload = dict[str, Any]


def register(cp: BayLimits, on: Handlers) -> None:
    """Answer the CSMS's calls for the bay ``cp``."""

    @on.on("RemoteStartTransaction")
    def remote_start(p: Payload) -> Payload:
        if p.get("connectorId") not in (None, 1) or not cp.bay.can_start:
            return {"status": "Rejected"}
        cp.spawn(cp.start_transaction(p["idTag"], authorize=cp.settings.flag("AuthorizeRemoteTxRequests")))
        return {"status": "Accepted"}

    @on.on("RemoteStopTransaction")
    def remote_stop(p: Payload) -> Payload:
        tx = cp.bay.tx
        if tx is None or tx.id != p["transactionId"]:
            return {"status": "Rejected"}
        cp.spawn(cp.stop_transaction("Remote"))
        return {"status": "Accepted"}

    data_transfer(cp, on)

    @on.on("UnlockConnector")
    async def unlock_connector(p: Payload) -> Payload:
        if not cp.unlock_opens_door or p["connectorId"] != 1:
            return {"status": "NotSupported"}
        try:
            opened, _ = await open_door(cp)
        except (BusError, BoardError):
            opened = False
        return {"status": "Unlocked" if opened else "UnlockFailed"}

    _management(cp, on)
    _smart_charging(cp, on)


def _smart_charging(bay: BayLimits, on: Handlers) -> None:
    """A bay's outlet follows charging profiles as a switch (locker_bridge.bay_limits)."""

    @on.on("SetChargingProfile")
    async def set_charging_profile(p: Payload) -> Payload:
        return {"status": await bay.set_profile(p["connectorId"], p["csChargingProfiles"])}

    @on.on("ClearChargingProfile")
    async def clear_charging_profile(p: Payload) -> Payload:
        return {"status": await bay.clear_profiles(p.get("id"), p.get("connectorId"),
                                                   p.get("chargingProfilePurpose"), p.get("stackLevel"))}


def data_transfer(cp: BayTransactions, on: Handlers) -> None:
    """The locker extensions (vendorId ``chargebay``): the same in OCPP 1.6 and 2.0.1."""

    @on.on("DataTransfer")
    async def data_transfer(p: Payload) -> Payload:
        if p["vendorId"] != VENDOR_ID:
            return {"status": "UnknownVendorId"}
        message_id, data = p.get("messageId"), p.get("data")
        if message_id == "Maintenance":
            return await _maintenance(cp, data)
        actions = {"OpenLocker": lambda: open_door(cp),
                   "LockerStatus": lambda: _locker_status(cp),
                   "ChargingStatus": lambda: _charging_status(cp)}
        action = actions.get(message_id or "")
        if action is None:
            return {"status": "UnknownMessageId"}
        if message_id == "OpenLocker" and (why := wired_elsewhere(cp, data)) is not None:
            return {"status": "Rejected", "data": json.dumps({"error": why})}
        try:
            accepted, result = await action()
        except BusError as exc:  # no answer: the caller's 503, not a refusal
            return {"status": "Rejected", "data": json.dumps({"error": str(exc), "unavailable": True})}
        except BoardError as exc:
            return {"status": "Rejected", "data": json.dumps({"error": str(exc)})}
        return {"status": "Accepted" if accepted else "Rejected", "data": json.dumps(result)}


def _management(cp: BayTransactions, on: Handlers) -> None:
    @on.on("ChangeAvailability")
    async def change_availability(p: Payload) -> Payload:
        kind = p["type"]
        if p["connectorId"] not in (0, 1):
            return {"status": "Rejected"}
        if kind == "Operative" and cp.bay.maintenance:  # Accepted would promise Available
            return {"status": "Rejected"}
        await cp.set_availability(operative=kind == "Operative")
        scheduled = kind == "Inoperative" and cp.bay.tx is not None
        return {"status": "Scheduled" if scheduled else "Accepted"}

    @on.on("GetConfiguration")
    def get_configuration(p: Payload) -> Payload:
        values = cp.settings.values
        wanted = p.get("key") or list(values)
        known = [{"key": k, "readonly": k not in cp.settings.WRITABLE, "value": values[k]}
                 for k in wanted if k in values]
        unknown = [k for k in wanted if k not in values]
        return {"configurationKey": known, "unknownKey": unknown or None}

    @on.on("ChangeConfiguration")
    def change_configuration(p: Payload) -> Payload:
        return {"status": cp.settings.change(p["key"], p["value"])}

    @on.on("ClearCache")
    def clear_cache(p: Payload) -> Payload:
        return {"status": "Accepted"}

    @on.on("Reset")
    def reset(p: Payload) -> Reply:
        async def then() -> None:
            if cp.bay.tx is not None:
                await cp.stop_transaction("HardReset" if p["type"] == "Hard" else "SoftReset")
            cp.bay.clear_fault()
            cp.reconnect()

        return Reply({"status": "Accepted"}, then)

    @on.on("TriggerMessage")
    def trigger_message(p: Payload) -> Payload | Reply:
        requested, connector_id = p["requestedMessage"], p.get("connectorId")
        if requested not in TRIGGERABLE:
            return {"status": "NotImplemented"}
        if connector_id not in (None, 0, 1):
            return {"status": "Rejected"}

        async def then() -> None:
            cp.spawn(cp.triggered(requested))

        return Reply({"status": "Accepted"}, then)


async def _maintenance(cp: BayTransactions, data: str | None) -> Payload:
    """Out of service in the locker back office of a CSMS this bridge is not embedded in:
    ``{"on": true}`` is the same maintenance as the embedded back office sets."""
    try:
        on = json.loads(data or "")["on"]
        if not isinstance(on, bool):
            raise TypeError(on)
    except (ValueError, KeyError, TypeError):
        return {"status": "Rejected", "data": json.dumps({"error": 'data must be {"on": true|false}'})}
    await cp.set_availability(maintenance=on)
    return {"status": "Accepted"}


def wired_elsewhere(cp: BayTransactions, data: str | None) -> str | None:
    """An open may name the bay it means (port, address, bay: the CSMS's records); if this bay
    is wired elsewhere, opening it would open another door than the caller believes."""
    try:
        meant = json.loads(data) if data else {}
    except ValueError:
        return "data is not JSON"
    if not isinstance(meant, dict):
        return "data is not a JSON object"
    bay = cp.bay
    here = {"port": bay.port, "address": bay.address, "bay": bay.number}
    wrong = {k: meant[k] for k in here if k in meant and meant[k] != here[k]}
    if wrong:
        return f"this bay is {here}, not {wrong}: the records disagree, the door stays shut"
    return None


async def _locker_status(cp: BayTransactions) -> tuple[bool, dict[str, Any]]:
    return True, (await cp.bay.read_door()).to_json()


async def _charging_status(cp: BayTransactions) -> tuple[bool, dict[str, Any]]:
    return True, (await cp.read_outlet()).to_json()


async def open_door(cp: BayTransactions) -> tuple[bool, dict[str, Any]]:
    """OPEN_DOOR once (never retried blindly), then read the door back and say what happened.

    A lost or unusable reply is no answer either way (the board may have opened the door): the
    read-back decides; only if that fails too is the error raised. An acknowledged open whose
    read-back fails is answered, not raised: the lock fired, only the sensor is unknown
    (``door`` None, ``sensorError``), which a broken-lock locker counts as success.
    """
    bay = cp.bay
    lost: NoReply | BadReply | None = None
    try:
        await bay.request("OPEN_DOOR")
    except (NoReply, BadReply) as exc:
        lost = exc
    try:
        reading = await bay.read_door()
    except (BusError, BoardError) as exc:
        if lost is not None:
            raise lost from None
        return False, {"door": None, "item": None, "opened": False, "sensorError": str(exc)}
    result: dict[str, Any] = reading.to_json()
    result["opened"] = reading.door_open
    if lost is not None and not reading.door_open:
        result["error"] = str(lost)
    return reading.door_open, result
