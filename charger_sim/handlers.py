"""The OCPP side of a simulated station: every CSMS-initiated 1.6 action, answered sensibly.

One :class:`Link` per websocket connection (the `ocpp` library's ``ChargePoint``); the station it
serves holds the state. Work that follows an answer (a transaction, status notifications, a
firmware sequence) runs in background tasks: awaiting a call inside a handler would deadlock the
connection (the library reads one message at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.messages import MessageType
from ocpp.v16 import ChargePoint, call_result
from websockets.exceptions import ConnectionClosed

from charger_sim.station import Offline, iso

if TYPE_CHECKING:
    from charger_sim.station import Station

STEP_S = 1.0  # pace of firmware / diagnostics / log status sequences
_call_ids = itertools.count(1)
_SWALLOW = (Offline, asyncio.TimeoutError, OCPPError, ConnectionClosed)


class Link(ChargePoint):
    def __init__(self, station: Station, ws: Any) -> None:
        super().__init__(station.identity, ws, response_timeout=30)
        self.station = station

    # -- frame log and fault hooks -------------------------------------------------------------
    async def _send(self, message: str) -> None:
        self.station.log.append((iso(datetime.now(timezone.utc)), "out", message))
        await super()._send(message)

    async def route_message(self, raw_msg: str) -> None:
        st = self.station
        st.log.append((iso(datetime.now(timezone.utc)), "in", raw_msg))
        if raw_msg.startswith("[2"):
            if st.drop_responses and st.rng.random() < st.drop_responses:
                st.event("response_dropped")
                return
            if st.response_delay:
                await asyncio.sleep(st.response_delay)
        await super().route_message(raw_msg)

    async def close(self) -> None:
        await self._connection.close(1000, "station stopped")

    async def send_call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a camelCase payload as it is and return the camelCase answer.

        The library's ``call()`` converts camelCase -> snake_case -> camelCase and validates with
        uncompiled jsonschema on every call (about half the simulator's CPU at fleet scale); the
        simulator builds its payloads itself, so it frames them directly.
        """
        uid = str(next(_call_ids))
        frame = orjson.dumps([MessageType.Call, uid, action, payload]).decode()
        loop = asyncio.get_running_loop()
        async with self._call_lock:
            await self._send(frame)
            deadline = loop.time() + timeout
            while True:
                msg = await asyncio.wait_for(self._response_queue.get(), max(deadline - loop.time(), 0))
                if msg is None:
                    raise Offline(self.station.identity)
                if msg.unique_id == uid:
                    break
        if msg.message_type_id == MessageType.CallError:
            raise msg.to_exception()
        return msg.payload  # type: ignore[no-any-return]

    def lost(self) -> None:
        """The socket is gone: wake a call waiting for its answer."""
        self._response_queue.put_nowait(None)

    def later(self, coro: Any) -> None:
        self.station.spawn(_quietly(coro))

    # -- core ----------------------------------------------------------------------------------
    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None) -> Any:
        st = self.station
        candidates = ([st.connectors.get(connector_id)] if connector_id is not None
                      else list(st.connectors.values()))
        target = next((c for c in candidates if c is not None and c.tx is None
                       and c.status in ("Available", "Preparing", "Finishing")
                       or (c is not None and c.reservation is not None
                           and c.reservation["idTag"] == id_tag and c.tx is None)), None)
        if target is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.later(st.remote_start(target, id_tag, _camel(charging_profile)))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> Any:
        st = self.station
        c = next((c for c in st.connectors.values() if c.tx and c.tx.id == transaction_id), None)
        if c is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.later(st.stop_transaction(c, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        self.later(self._reset(type))
        return call_result.Reset(status="Accepted")

    async def _reset(self, kind: str) -> None:
        st = self.station
        await asyncio.sleep(0.1)
        for c in st.connectors.values():
            if c.tx is not None:
                await st.stop_transaction(c, "HardReset" if kind == "Hard" else "SoftReset")
        st.event("reset", type=kind)
        st.reconnect()

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.ChangeAvailability(status="Rejected")
        targets = list(st.connectors.values()) if connector_id == 0 else [st.connectors[connector_id]]
        operative = type == "Operative"
        scheduled = False
        for c in targets:
            if c.tx is not None and c.operative != operative:
                c.scheduled_operative = operative
                scheduled = True
            else:
                c.operative = operative
                self.later(st.set_status(c, c.idle_status))
        if connector_id == 0 and not scheduled:
            self.later(st.send_status(0, st.station_status()))
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        return call_result.ChangeConfiguration(status=self.station.config.change(key, value))

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known, unknown = self.station.config.report(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ClearCache")
    def on_clear_cache(self) -> Any:
        self.station.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None) -> Any:
        if vendor_id != self.station.template.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id: int) -> Any:
        st = self.station
        c = st.connectors.get(connector_id)
        if c is None:
            return call_result.UnlockConnector(status="NotSupported")
        if c.tx is not None:
            self.later(st.stop_transaction(c, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        if connector_id is not None and connector_id not in self.station.connectors:
            return call_result.TriggerMessage(status="Rejected")
        if requested_message not in _TRIGGERS:
            return call_result.TriggerMessage(status="NotImplemented")
        self.later(_TRIGGERS[requested_message](self.station, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    # -- reservations and the local list --------------------------------------------------------
    @on("ReserveNow")
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None) -> Any:
        st = self.station
        c = st.connectors.get(connector_id)
        if c is None:
            return call_result.ReserveNow(status="Rejected")
        if c.status == "Faulted":
            return call_result.ReserveNow(status="Faulted")
        if c.status == "Unavailable":
            return call_result.ReserveNow(status="Unavailable")
        if c.tx is not None or c.plugged or (c.reservation and c.reservation["reservationId"] != reservation_id):
            return call_result.ReserveNow(status="Occupied")
        c.reservation = {"reservationId": reservation_id, "idTag": id_tag, "expiryDate": expiry_date}
        self.later(st.set_status(c, "Reserved"))
        self.later(self._expire(c.id, reservation_id, expiry_date))
        return call_result.ReserveNow(status="Accepted")

    async def _expire(self, connector_id: int, reservation_id: int, expiry: str) -> None:
        st = self.station
        end = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
        await asyncio.sleep(max((end - st.now()).total_seconds(), 0))
        c = st.connectors[connector_id]
        if c.reservation and c.reservation["reservationId"] == reservation_id:
            c.reservation = None
            await st.set_status(c, c.idle_status)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> Any:
        st = self.station
        for c in st.connectors.values():
            if c.reservation and c.reservation["reservationId"] == reservation_id:
                c.reservation = None
                self.later(st.set_status(c, c.idle_status))
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None) -> Any:
        st = self.station
        entries = local_authorization_list or []
        if update_type == "Differential" and list_version <= st.local_list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            st.local_list = {}
        for entry in entries:
            info = entry.get("id_tag_info")
            if info is None:
                st.local_list.pop(entry["id_tag"], None)
            else:
                st.local_list[entry["id_tag"]] = info
        st.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> Any:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version)

    # -- smart charging --------------------------------------------------------------------------
    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        c = st.connectors.get(connector_id)
        status = st.profiles.set(connector_id, _camel(cs_charging_profiles),
                                 c.tx.id if c is not None and c.tx else None)
        if status == "Accepted":
            for conn in st.connectors.values():
                self.later(st.reassess(conn))
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None) -> Any:
        st = self.station
        status = st.profiles.clear(id, connector_id, charging_profile_purpose, stack_level)
        for conn in st.connectors.values():
            self.later(st.reassess(conn))
        return call_result.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        c = st.connectors.get(connector_id)
        tx = c.tx if c is not None else None
        schedule = st.profiles.composite(connector_id, duration, charging_rate_unit, st.now(),
                                         tx.started if tx else None, tx.id if tx else None)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id,
            schedule_start=schedule["startSchedule"], charging_schedule=schedule)

    # -- firmware and diagnostics --------------------------------------------------------------
    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                           retry_interval: int | None = None) -> Any:
        self.later(self._firmware(retrieve_date, ["Downloading", "Downloaded", "Installing",
                                                  "Installed"], signed=False))
        return call_result.UpdateFirmware()

    async def _firmware(self, when: str, steps: list[str], signed: bool,
                        request_id: int | None = None) -> None:
        st = self.station
        start = datetime.fromisoformat(when.replace("Z", "+00:00"))
        await asyncio.sleep(min(max((start - st.now()).total_seconds(), 0), 3600))
        for status in steps:
            if signed:
                await st.call("SignedFirmwareStatusNotification",
                              {"status": status, "requestId": request_id})
            else:
                await st.call("FirmwareStatusNotification", {"status": status})
            await asyncio.sleep(STEP_S)
        st.firmware_version = st.template.firmware_version + "+update"
        st.event("firmware_installed", version=st.firmware_version)
        st.reconnect()

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        self.later(self._upload("DiagnosticsStatusNotification", {}))
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.station.identity}.log")

    async def _upload(self, action: str, extra: dict[str, Any]) -> None:
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(STEP_S)
            await self.station.call(action, {"status": status, **extra})

    # -- security whitepaper ---------------------------------------------------------------------
    @on("ExtendedTriggerMessage")
    def on_extended_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        trigger = _EXTENDED.get(requested_message) or _TRIGGERS.get(requested_message)
        if trigger is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        self.later(trigger(self.station, connector_id))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str) -> Any:
        self.station.certificates["ChargePointCertificate"] = certificate_chain
        return call_result.CertificateSigned(status="Accepted")

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        self.station.certificates[certificate_type + ":" + _digest(certificate)] = certificate
        return call_result.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: str) -> Any:
        ids = [_hash_data(cert) for key, cert in self.station.certificates.items()
               if key.startswith(certificate_type + ":")]
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=ids)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> Any:
        certs = self.station.certificates
        for key, cert in list(certs.items()):
            if _hash_data(cert)["serialNumber"] == certificate_hash_data.get("serial_number"):
                del certs[key]
                return call_result.DeleteCertificate(status="Accepted")
        return call_result.DeleteCertificate(status="NotFound")

    @on("GetLog")
    def on_get_log(self, log_type: str, request_id: int, log: dict[str, Any], **_: Any) -> Any:
        self.later(self._upload("LogStatusNotification", {"requestId": request_id}))
        return call_result.GetLog(status="Accepted", filename=f"{log_type}-{self.station.identity}.log")

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        self.later(self._firmware(firmware["retrieve_date_time"], [
            "Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"],
            signed=True, request_id=request_id))
        return call_result.SignedUpdateFirmware(status="Accepted")


def _camel(data: Any) -> Any:
    """The library hands handlers snake_case; charging profiles are kept as on the wire."""
    return None if data is None else snake_to_camel_case(data)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _hash_data(cert: str) -> dict[str, str]:
    digest = _digest(cert)
    return {"hashAlgorithm": "SHA256", "issuerNameHash": digest[:64], "issuerKeyHash": digest[:64],
            "serialNumber": digest[:16]}


async def _quietly(coro: Any) -> None:
    """Background work after an answer: losing the connection meanwhile is not an error."""
    with contextlib.suppress(*_SWALLOW):
        await coro


async def _trigger_status(st: Station, connector_id: int | None) -> None:
    if connector_id in (None, 0):
        await st.send_status(0, st.station_status())
    for c in st.connectors.values():
        if connector_id in (None, 0, c.id):
            await st.send_status(c.id, c.status)


async def _trigger_meter(st: Station, connector_id: int | None) -> None:
    for c in st.connectors.values():
        if connector_id in (None, 0, c.id):
            await st.send_meter_values(c, "Trigger")


async def _trigger_sign(st: Station, _: int | None) -> None:
    await st.call("SignCertificate", {"csr": f"-----BEGIN CERTIFICATE REQUEST-----\n{st.identity}\n"
                                             "-----END CERTIFICATE REQUEST-----"})


_TRIGGERS: dict[str, Any] = {
    "BootNotification": lambda st, _: st.call("BootNotification", st.boot_notification()),
    "Heartbeat": lambda st, _: st.call("Heartbeat", {}),
    "StatusNotification": _trigger_status,
    "MeterValues": _trigger_meter,
    "DiagnosticsStatusNotification": lambda st, _: st.call("DiagnosticsStatusNotification",
                                                           {"status": "Idle"}),
    "FirmwareStatusNotification": lambda st, _: st.call("FirmwareStatusNotification", {"status": "Idle"}),
}
_EXTENDED: dict[str, Any] = {
    "LogStatusNotification": lambda st, _: st.call("LogStatusNotification", {"status": "Idle"}),
    "SignChargePointCertificate": _trigger_sign,
}


