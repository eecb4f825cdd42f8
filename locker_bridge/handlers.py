"""What a locker bay answers when the CSMS calls it (the `ocpp` library's ``ChargePoint``).

Remote start/stop become serial frames; door and status reads go through DataTransfer (vendorId
``chargebay``) because OCPP 1.6 keeps UnlockConnector for the cable lock. Actions a locker bay has
no use for are answered NotImplemented by the library. Work that follows an answer runs in a
background task (the library reads one message at a time, and the answer must go out first).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result

from locker_bridge.bay import BoardError
from locker_bridge.bus import BadReply, BusError, NoReply

if TYPE_CHECKING:
    from locker_bridge.charge_point import VirtualChargePoint

VENDOR_ID = "chargebay"
TRIGGERABLE = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
               "DiagnosticsStatusNotification", "FirmwareStatusNotification"}


class BayLink(ChargePoint):
    def __init__(self, cp: VirtualChargePoint, ws: Any, response_timeout: float) -> None:
        super().__init__(cp.identity, ws, response_timeout=response_timeout)
        self.cp = cp

    async def close(self) -> None:
        await self._connection.close(1000, "bay stopped")

    # -- transactions ---------------------------------------------------------------------------
    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        if connector_id not in (None, 1) or not self.cp.bay.can_start:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.cp.spawn(self.cp.start_transaction(
            id_tag, authorize=self.cp.settings.flag("AuthorizeRemoteTxRequests")))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> Any:
        tx = self.cp.bay.tx
        if tx is None or tx.id != transaction_id:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.cp.spawn(self.cp.stop_transaction("Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    # -- doors and readings ---------------------------------------------------------------------
    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: str | None = None) -> Any:
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id == "Maintenance":
            return await self.cp_maintenance(data)
        actions = {"OpenLocker": self.cp_open, "LockerStatus": self.cp_locker_status,
                   "ChargingStatus": self.cp_charging_status}
        action = actions.get(message_id or "")
        if action is None:
            return call_result.DataTransfer(status="UnknownMessageId")
        if message_id == "OpenLocker" and (why := self.wired_elsewhere(data)) is not None:
            return call_result.DataTransfer(status="Rejected", data=json.dumps({"error": why}))
        try:
            accepted, result = await action()
        except BusError as exc:  # no answer: the caller's 503, not a refusal
            return call_result.DataTransfer(status="Rejected", data=json.dumps(
                {"error": str(exc), "unavailable": True}))
        except BoardError as exc:
            return call_result.DataTransfer(status="Rejected", data=json.dumps({"error": str(exc)}))
        return call_result.DataTransfer(status="Accepted" if accepted else "Rejected",
                                        data=json.dumps(result))

    async def cp_maintenance(self, data: str | None) -> Any:
        """Out of service in the locker back office of a CSMS this bridge is not embedded in:
        ``{"on": true}`` is the same maintenance as the embedded back office sets."""
        try:
            on = json.loads(data or "")["on"]
            if not isinstance(on, bool):
                raise TypeError(on)
        except (ValueError, KeyError, TypeError):
            return call_result.DataTransfer(status="Rejected", data=json.dumps(
                {"error": 'data must be {"on": true|false}'}))
        await self.cp.set_availability(maintenance=on)
        return call_result.DataTransfer(status="Accepted")

    def wired_elsewhere(self, data: str | None) -> str | None:
        """An open may name the bay it means (port, address, bay: the CSMS's records); if this
        bay is wired elsewhere, opening it would open another door than the caller believes."""
        try:
            meant = json.loads(data) if data else {}
        except ValueError:
            return "data is not JSON"
        if not isinstance(meant, dict):
            return "data is not a JSON object"
        bay = self.cp.bay
        here = {"port": bay.port, "address": bay.address, "bay": bay.number}
        wrong = {k: meant[k] for k in here if k in meant and meant[k] != here[k]}
        if wrong:
            return f"this bay is {here}, not {wrong}: the records disagree, the door stays shut"
        return None

    async def cp_open(self) -> tuple[bool, dict[str, Any]]:
        return await open_door(self.cp)

    async def cp_locker_status(self) -> tuple[bool, dict[str, Any]]:
        return True, (await self.cp.bay.read_door()).to_json()

    async def cp_charging_status(self) -> tuple[bool, dict[str, Any]]:
        return True, (await self.cp.read_outlet()).to_json()

    @on("UnlockConnector")
    async def on_unlock_connector(self, connector_id: int) -> Any:
        if not self.cp.unlock_opens_door or connector_id != 1:
            return call_result.UnlockConnector(status="NotSupported")
        try:
            opened, _ = await open_door(self.cp)
        except (BusError, BoardError):
            opened = False
        return call_result.UnlockConnector(status="Unlocked" if opened else "UnlockFailed")

    # -- management -----------------------------------------------------------------------------
    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str) -> Any:
        if connector_id not in (0, 1):
            return call_result.ChangeAvailability(status="Rejected")
        if type == "Operative" and self.cp.bay.maintenance:  # Accepted would promise Available
            return call_result.ChangeAvailability(status="Rejected")
        await self.cp.set_availability(operative=type == "Operative")
        scheduled = type == "Inoperative" and self.cp.bay.tx is not None
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        values = self.cp.settings.values
        wanted = key or list(values)
        known = [{"key": k, "readonly": k not in self.cp.settings.WRITABLE, "value": values[k]}
                 for k in wanted if k in values]
        unknown = [k for k in wanted if k not in values]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        return call_result.ChangeConfiguration(status=self.cp.settings.change(key, value))

    @on("ClearCache")
    def on_clear_cache(self) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        return call_result.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, type: str) -> None:
        if self.cp.bay.tx is not None:
            await self.cp.stop_transaction("HardReset" if type == "Hard" else "SoftReset")
        self.cp.bay.clear_fault()
        self.cp.reconnect()

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        if requested_message not in TRIGGERABLE or connector_id not in (None, 0, 1):
            return call_result.TriggerMessage(status="NotImplemented"
                                              if requested_message not in TRIGGERABLE else "Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if requested_message in TRIGGERABLE and connector_id in (None, 0, 1):
            self.cp.spawn(self.cp.triggered(requested_message))


async def open_door(cp: VirtualChargePoint) -> tuple[bool, dict[str, Any]]:
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
