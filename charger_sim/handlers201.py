"""What a simulated OCPP 2.0.1 station answers (issue #17): remote start and stop, resets,
availability, unlocking, triggers, its device model (GetBaseReport, GetReport, GetVariables,
SetVariables), the authorization cache and DataTransfer.

As for 1.6 (:mod:`charger_sim.handlers`), work that follows an answer (a session, a report
chain, a reboot) runs after the answer is sent (a :class:`~chargepoint.handlers.Reply`'s
``then``, or a background task): OCPP-J reads one message at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers, Reply
from charger_sim.device_model import chunked
from charger_sim.handlers import later
from charger_sim.handlers201_management import trigger_firmware, trigger_log, trigger_sign

if TYPE_CHECKING:
    from charger_sim.station201 import Station201

Payload = dict[str, Any]
IDLE = ("Available", "Preparing", "Finishing")


async def notify_report(st: Station201, request_id: int, data: list[dict[str, Any]]) -> None:
    """A report as a NotifyReport chain (seqNo from 0, tbc on all but the last part)."""
    parts = chunked(data, st.model.get_int("DeviceDataCtrlr", "ItemsPerMessage", 20))
    generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for seq, part in enumerate(parts):
        payload: Payload = {"requestId": request_id, "generatedAt": generated, "seqNo": seq,
                            "tbc": seq < len(parts) - 1}
        if part:
            payload["reportData"] = part
        with contextlib.suppress(*CALL_FAILED):
            await st.call("NotifyReport", payload)


async def reset(st: Station201, kind: str) -> None:
    """Immediate: the running transactions end (ImmediateReset), then the reboot; OnIdle: the
    reboot once none runs."""
    while kind == "OnIdle" and any(c.tx is not None for c in st.connectors.values()):
        await asyncio.sleep(0.5)
    for c in st.connectors.values():
        if c.tx is not None:
            await st.stop_transaction(c, "HardReset")
    st.event("reset", type=kind)
    st.boot_reason = "RemoteReset"
    st.reconnect()


async def _boot(st: Station201, targets: list[Any]) -> None:
    st.boot_reason = "Triggered"
    await st.call("BootNotification", st.boot_notification())


async def _statuses(st: Station201, targets: list[Any]) -> None:
    for c in targets:
        st.sent_status.pop(c.id, None)  # told again, changed or not
        await st.send_status(c.id, c.status)


async def _meters(st: Station201, targets: list[Any]) -> None:
    """TriggerMessage MeterValues: MeterValues of each EVSE, charging or not."""
    for c in targets:
        await st.send_evse_meter_values(c, "Trigger")


async def _transaction_events(st: Station201, targets: list[Any]) -> None:
    """TriggerMessage TransactionEvent: an Updated event of each running transaction."""
    for c in targets:
        if c.tx is not None:
            await st.send_meter_values(c, "Trigger")


async def _heartbeat(st: Station201, targets: list[Any]) -> None:
    await st.call("Heartbeat", {})


TRIGGERS = {"BootNotification": _boot, "Heartbeat": _heartbeat, "StatusNotification": _statuses,
            "MeterValues": _meters, "TransactionEvent": _transaction_events,
            "FirmwareStatusNotification": trigger_firmware,
            "LogStatusNotification": trigger_log,
            "SignChargingStationCertificate": trigger_sign("ChargingStationCertificate"),
            "SignV2GCertificate": trigger_sign("V2GCertificate")}


def register(st: Station201, on: Handlers) -> None:
    _sessions(st, on)
    _device_model(st, on)

    @on.on("Reset")
    def on_reset(p: Payload) -> Payload:
        if p.get("evseId") is not None:
            return {"status": "Rejected"}  # an EVSE alone is not reset here: the whole station is
        running = any(c.tx is not None for c in st.connectors.values())
        later(st, reset(st, p["type"]))
        return {"status": "Scheduled" if running and p["type"] == "OnIdle" else "Accepted"}

    @on.on("ChangeAvailability")
    def change_availability(p: Payload) -> Payload:
        evse = (p.get("evse") or {}).get("id")
        if evse is not None and evse not in st.connectors:
            return {"status": "Rejected"}
        operative = p["operationalStatus"] == "Operative"
        scheduled = False
        for c in (st.connectors.values() if evse is None else [st.connectors[evse]]):
            if c.tx is not None and c.operative != operative:
                c.scheduled_operative, scheduled = operative, True
            else:
                c.operative = operative
                later(st, st.set_status(c, c.idle_status))
        return {"status": "Scheduled" if scheduled else "Accepted"}

    @on.on("UnlockConnector")
    def unlock(p: Payload) -> Payload:
        c = st.connectors.get(p["evseId"])
        if c is None or p["connectorId"] != 1:
            return {"status": "UnknownConnector"}
        if c.tx is not None:
            return {"status": "OngoingAuthorizedTransaction"}
        return {"status": "Unlocked"}

    @on.on("TriggerMessage")
    def trigger(p: Payload) -> Payload | Reply:
        evse = (p.get("evse") or {}).get("id")
        if evse is not None and evse not in st.connectors:
            return {"status": "Rejected"}
        targets = [c for c in st.connectors.values() if evse in (None, c.id)]
        kind = p["requestedMessage"]
        running = [c for c in targets if c.tx is not None]
        if kind not in TRIGGERS or kind == "TransactionEvent" and not running:
            return {"status": "NotImplemented" if kind not in TRIGGERS else "Rejected"}

        async def then() -> None:  # once the answer is on the wire
            with contextlib.suppress(*CALL_FAILED):
                await TRIGGERS[kind](st, targets)
        return Reply({"status": "Accepted"}, then)

    @on.on("ClearCache")
    def clear_cache(p: Payload) -> Payload:
        st.auth_cache.clear()
        return {"status": "Accepted"}

    @on.on("DataTransfer")
    def data_transfer(p: Payload) -> Payload:
        return {"status": "UnknownVendorId"}


def _sessions(st: Station201, on: Handlers) -> None:
    @on.on("RequestStartTransaction")
    def request_start(p: Payload) -> Payload:
        id_tag, evse = p["idToken"]["idToken"], p.get("evseId")
        candidates = [st.connectors.get(evse)] if evse is not None else list(st.connectors.values())
        # a connector free, or holding a transaction begun at plug-in that waits for its token
        target = next((c for c in candidates if c is not None and c.operative and (
            c.tx is not None and not c.tx.id_tag
            or c.tx is None and (c.status in IDLE or c.reservation is not None and c.reservation["idTag"] == id_tag))),
            None)
        if target is None:
            return {"status": "Rejected"}
        st.remote_ids[target.id] = p["remoteStartId"]
        st.remote_tokens[target.id] = p["idToken"]
        later(st, st.remote_start(target, id_tag, p.get("chargingProfile")))
        return {"status": "Accepted"}

    @on.on("RequestStopTransaction")
    def request_stop(p: Payload) -> Payload:
        c = next((c for c in st.connectors.values()
                  if c.tx is not None and st.station_tx(c.tx) == p["transactionId"]), None)
        if c is None:
            return {"status": "Rejected"}
        later(st, st.stop_transaction(c, "Remote"))
        return {"status": "Accepted"}

    @on.on("GetTransactionStatus")
    def transaction_status(p: Payload) -> Payload:
        queued = len(st.outbox) > 0
        wanted = p.get("transactionId")
        if wanted is None:
            return {"messagesInQueue": queued}
        ongoing = any(c.tx is not None and st.station_tx(c.tx) == wanted for c in st.connectors.values())
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued}


def _device_model(st: Station201, on: Handlers) -> None:
    @on.on("GetBaseReport")
    def base_report(p: Payload) -> Reply:
        data = st.model.report(p["reportBase"])
        return Reply({"status": "Accepted"}, lambda: notify_report(st, p["requestId"], data))

    @on.on("GetReport")
    def get_report(p: Payload) -> Payload | Reply:
        data = st.model.select(p.get("componentCriteria"), p.get("componentVariable"))
        if not data:
            return {"status": "EmptyResultSet"}
        return Reply({"status": "Accepted"}, lambda: notify_report(st, p["requestId"], data))

    @on.on("GetVariables")
    def get_variables(p: Payload) -> Payload:
        results = []
        for d in p["getVariableData"]:
            outcome = st.model.get(d["component"], d["variable"], d.get("attributeType", "Actual"))
            result: Payload = {"attributeStatus": outcome.status, "component": d["component"],
                               "variable": d["variable"]}
            if outcome.value is not None:
                result["attributeValue"] = outcome.value
            if "attributeType" in d:
                result["attributeType"] = d["attributeType"]
            results.append(result)
        return {"getVariableResult": results}

    @on.on("SetVariables")
    def set_variables(p: Payload) -> Payload:
        results = []
        for d in p["setVariableData"]:
            outcome = st.model.set(d["component"], d["variable"], d["attributeValue"],
                                   d.get("attributeType", "Actual"))
            result: Payload = {"attributeStatus": outcome.status, "component": d["component"],
                               "variable": d["variable"]}
            if "attributeType" in d:
                result["attributeType"] = d["attributeType"]
            results.append(result)
        return {"setVariableResult": results}
