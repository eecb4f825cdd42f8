"""What a simulated station answers: the core profile, reservations, the local list and triggers.

Each answer is a camelCase dict built from the station's state (:mod:`chargepoint.handlers`).
Work that follows an answer (a transaction, status notifications) runs in a background task: a
call awaited inside a handler would deadlock the connection (OCPP-J reads one message at a time).
Smart charging, firmware, diagnostics and the security whitepaper are in
:mod:`charger_sim.management`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers
from charger_sim.transactions import StationTransactions

Payload = dict[str, Any]
Trigger = Callable[[StationTransactions, int | None], Awaitable[Any]]


def later(st: StationTransactions, coro: Awaitable[Any]) -> None:
    """Work after an answer; losing the connection meanwhile is not an error."""
    st.spawn(_quietly(coro))


async def _quietly(coro: Awaitable[Any]) -> None:
    with contextlib.suppress(*CALL_FAILED):
        await coro


def register(st: StationTransactions, on: Handlers) -> None:
    """Answer the core profile's calls, reservations and the local list for ``st``."""

    @on.on("RemoteStartTransaction")
    def remote_start(p: Payload) -> Payload:
        id_tag, connector_id = p["idTag"], p.get("connectorId")
        candidates = ([st.connectors.get(connector_id)] if connector_id is not None
                      else list(st.connectors.values()))
        target = next((c for c in candidates if c is not None and c.tx is None
                       and c.status in ("Available", "Preparing", "Finishing")
                       or (c is not None and c.reservation is not None
                           and c.reservation["idTag"] == id_tag and c.tx is None)), None)
        if target is None:
            return {"status": "Rejected"}
        later(st, st.remote_start(target, id_tag, p.get("chargingProfile")))
        return {"status": "Accepted"}

    @on.on("RemoteStopTransaction")
    def remote_stop(p: Payload) -> Payload:
        c = next((c for c in st.connectors.values() if c.tx and c.tx.id == p["transactionId"]), None)
        if c is None:
            return {"status": "Rejected"}
        later(st, st.stop_transaction(c, "Remote"))
        return {"status": "Accepted"}

    @on.on("Reset")
    def reset(p: Payload) -> Payload:
        later(st, _reset(st, p["type"]))
        return {"status": "Accepted"}

    @on.on("ChangeAvailability")
    def change_availability(p: Payload) -> Payload:
        connector_id = p["connectorId"]
        if connector_id != 0 and connector_id not in st.connectors:
            return {"status": "Rejected"}
        targets = list(st.connectors.values()) if connector_id == 0 else [st.connectors[connector_id]]
        operative = p["type"] == "Operative"
        scheduled = False
        for c in targets:
            if c.tx is not None and c.operative != operative:
                c.scheduled_operative = operative
                scheduled = True
            else:
                c.operative = operative
                later(st, st.set_status(c, c.idle_status))
        if connector_id == 0 and not scheduled:
            later(st, st.send_status(0, st.station_status()))
        return {"status": "Scheduled" if scheduled else "Accepted"}

    @on.on("ChangeConfiguration")
    def change_configuration(p: Payload) -> Payload:
        status = st.config.change(p["key"], p["value"])
        if status == "Accepted" and p["key"] == "HeartbeatInterval":
            st.client.interval_changed()  # the new interval from now, not after the old one ran out
        return {"status": status}

    @on.on("GetConfiguration")
    def get_configuration(p: Payload) -> Payload:
        known, unknown = st.config.report(p.get("key"))
        return {"configurationKey": known, "unknownKey": unknown or None}

    @on.on("ClearCache")
    def clear_cache(p: Payload) -> Payload:
        st.auth_cache.clear()
        return {"status": "Accepted"}

    @on.on("DataTransfer")
    def data_transfer(p: Payload) -> Payload:
        if p["vendorId"] != st.template.vendor:
            return {"status": "UnknownVendorId"}
        return {"status": "Accepted", "data": p.get("data")}

    @on.on("UnlockConnector")
    def unlock_connector(p: Payload) -> Payload:
        c = st.connectors.get(p["connectorId"])
        if c is None:
            return {"status": "NotSupported"}
        if c.tx is not None:
            later(st, st.stop_transaction(c, "UnlockCommand"))
        return {"status": "Unlocked"}

    @on.on("TriggerMessage")
    def trigger_message(p: Payload) -> Payload:
        requested, connector_id = p["requestedMessage"], p.get("connectorId")
        if connector_id is not None and connector_id not in st.connectors:
            return {"status": "Rejected"}
        if requested not in TRIGGERS:
            return {"status": "NotImplemented"}
        later(st, TRIGGERS[requested](st, connector_id))
        return {"status": "Accepted"}

    _reservations(st, on)


def _reservations(st: StationTransactions, on: Handlers) -> None:
    @on.on("ReserveNow")
    def reserve_now(p: Payload) -> Payload:
        c = st.connectors.get(p["connectorId"])
        reservation_id = p["reservationId"]
        if c is None:
            return {"status": "Rejected"}
        if c.status == "Faulted":
            return {"status": "Faulted"}
        if c.status == "Unavailable":
            return {"status": "Unavailable"}
        if c.tx is not None or c.plugged or (c.reservation and c.reservation["reservationId"] != reservation_id):
            return {"status": "Occupied"}
        c.reservation = {"reservationId": reservation_id, "idTag": p["idTag"], "expiryDate": p["expiryDate"]}
        later(st, st.set_status(c, "Reserved"))
        later(st, _expire(st, c.id, reservation_id, p["expiryDate"]))
        return {"status": "Accepted"}

    @on.on("CancelReservation")
    def cancel_reservation(p: Payload) -> Payload:
        for c in st.connectors.values():
            if c.reservation and c.reservation["reservationId"] == p["reservationId"]:
                c.reservation = None
                later(st, st.set_status(c, c.idle_status))
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    @on.on("SendLocalList")
    def send_local_list(p: Payload) -> Payload:
        version, update_type = p["listVersion"], p["updateType"]
        if update_type == "Differential" and version <= st.local_list_version:
            return {"status": "VersionMismatch"}
        if update_type == "Full":
            st.local_list = {}
        for entry in p.get("localAuthorizationList") or []:
            info = entry.get("idTagInfo")
            if info is None:
                st.local_list.pop(entry["idTag"], None)
            else:
                st.local_list[entry["idTag"]] = info
        st.local_list_version = version
        return {"status": "Accepted"}

    @on.on("GetLocalListVersion")
    def get_local_list_version(p: Payload) -> Payload:
        return {"listVersion": st.local_list_version}


async def _reset(st: StationTransactions, kind: str) -> None:
    await asyncio.sleep(0.1)
    for c in st.connectors.values():
        if c.tx is not None:
            await st.stop_transaction(c, "HardReset" if kind == "Hard" else "SoftReset")
    st.event("reset", type=kind)
    st.reconnect()


async def _expire(st: StationTransactions, connector_id: int, reservation_id: int, expiry: str) -> None:
    end = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    await asyncio.sleep(max((end - st.now()).total_seconds(), 0))
    c = st.connectors[connector_id]
    if c.reservation and c.reservation["reservationId"] == reservation_id:
        c.reservation = None
        await st.set_status(c, c.idle_status)
        await st.reservation_expired(reservation_id)


async def _trigger_status(st: StationTransactions, connector_id: int | None) -> None:
    if connector_id in (None, 0):
        await st.send_status(0, st.station_status())
    for c in st.connectors.values():
        if connector_id in (None, 0, c.id):
            await st.send_status(c.id, c.status)


async def _trigger_meter(st: StationTransactions, connector_id: int | None) -> None:
    for c in st.connectors.values():
        if connector_id in (None, 0, c.id):
            await st.send_meter_values(c, "Trigger")


TRIGGERS: dict[str, Trigger] = {
    "BootNotification": lambda st, _: st.call("BootNotification", st.boot_notification()),
    "Heartbeat": lambda st, _: st.call("Heartbeat", {}),
    "StatusNotification": _trigger_status,
    "MeterValues": _trigger_meter,
    "DiagnosticsStatusNotification": lambda st, _: st.call("DiagnosticsStatusNotification",
                                                           {"status": "Idle"}),
    "FirmwareStatusNotification": lambda st, _: st.call("FirmwareStatusNotification", {"status": "Idle"}),
}
