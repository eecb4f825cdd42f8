"""A simulated OCPP 2.0.1 charging station (issue #17): the 1.6 station's state machine, meter,
faults, durable queue and logs, speaking 2.0.1.

Why a subclass and not a second station: a charging session is the same physical story in both
versions (plug, authorize, energy, unplug); only the messages differ. The shared code
(:mod:`charger_sim.transactions`, :mod:`charger_sim.core`) drives the story and calls the
methods overridden here to tell the central system: TransactionEvent Started/Updated/Ended (the
station's own transaction ids, ``seqNo`` per transaction, trigger reasons, ``remoteStartId``,
``offline`` when queued while disconnected), StatusNotification per EVSE/connector, the 2.0.1
BootNotification and Authorize. Its behaviour follows the device model
(:mod:`charger_sim.device_model`): the variables the shared code reads under their 1.6 names are
kept in step with the 2.0.1 variables they stand for (:data:`SETTINGS`), so a SetVariables of
``SampledDataCtrlr.TxUpdatedInterval`` changes the meter loop as ChangeConfiguration
``MeterValueSampleInterval`` does for a 1.6 station.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.errors import Offline
from chargepoint.outbox import Statement
from chargepoint.times import iso
from chargepoint.v201 import CONNECTOR_STATUS, STOPPED, sampled, token
from charger_sim import handlers201, handlers201_management, handlers201_shared
from charger_sim.connector import Connector, Tx
from charger_sim.device_model import Variable, standard
from charger_sim.transactions import StationTransactions
from ocppj import basic_auth
from ocppj.versions import V201, Version

# the 1.6 key the shared code reads -> the 2.0.1 variable that says it for a 2.0.1 station
SETTINGS = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId"),
    "StopTransactionOnEVSideDisconnect": ("TxCtrlr", "StopTxOnEVSideDisconnect"),
}
class Station201(StationTransactions):
    """A station answering the CSMS-initiated OCPP 2.0.1 actions of :mod:`charger_sim.handlers201`."""

    version: Version = V201
    compression = "deflate"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model = standard(self.template, self.identity)
        for key, (component, name) in SETTINGS.items():
            self._keep(key, self.model.value(component, name))
        self.model.on_change = self._changed
        self.boot_reason = "PowerUp"
        self.remote_ids: dict[int, int] = {}  # connector -> the remoteStartId its next start answers
        # connector -> the idToken of that RequestStartTransaction, as the CSMS gave it (its type
        # too: a CSMS matches tokens by value and type), then our Tx.id -> the token it runs on
        self.remote_tokens: dict[int, dict[str, Any]] = {}
        self.tx_tokens: dict[int, dict[str, Any]] = {}
        self.sent_status: dict[int, str] = {}  # connector -> the 2.0.1 status last told
        self.tx_seq: dict[str, int] = {}  # station transaction id -> its next seqNo
        self.tx_ids: dict[int, str] = {}  # our Tx.id -> the station's transaction id
        handlers201.register(self, self.handlers)
        handlers201_shared.register(self, self.handlers)
        self.upkeep = handlers201_management.Upkeep()
        handlers201_management.register(self, self.handlers)

    # -- the device model and the shared code ----------------------------------------------------
    def _keep(self, key: str, value: str) -> None:
        entry = self.config.keys.get(key)
        if entry is not None:
            entry.value = value

    def _changed(self, variable: Variable) -> None:
        for key, (component, name) in SETTINGS.items():
            if (variable.component, variable.name) == (component, name) and variable.value is not None:
                self._keep(key, variable.value)
                if key == "HeartbeatInterval":
                    self.client.interval_changed()
        self.event("variable_set", component=variable.component, variable=variable.name)

    def _auth_headers(self) -> dict[str, str]:
        password = self.model.value("SecurityCtrlr", "BasicAuthPassword")
        return {"Authorization": basic_auth.header(self.identity, password.encode())} if password else {}

    def boot_notification(self) -> dict[str, Any]:
        t = self.template
        station: dict[str, Any] = {"model": t.model, "vendorName": t.vendor, "serialNumber": self.identity[-25:],
                                   "firmwareVersion": self.firmware_version}
        modem = {k: v for k, v in (("iccid", t.iccid), ("imsi", t.imsi)) if v}
        if modem:
            station["modem"] = modem
        return {"chargingStation": station, "reason": self.boot_reason}

    def _booted(self, status: str, interval: int) -> None:
        super()._booted(status, interval)
        if status == "Accepted" and interval > 0:
            self.model.set({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}, str(interval))
            self.boot_reason = "PowerUp"

    async def _after_boot(self) -> None:
        self.sent_status.clear()
        for c in self.connectors.values():
            await self.send_status(c.id, c.status)
        await self.outbox.replay()
        await handlers201_management.firmware_after_boot(self)

    async def send_status(self, connector_id: int, status: str) -> None:
        """StatusNotification of the EVSE's connector, when its 2.0.1 status changed (2.0.1 has
        no connector 0, and Preparing, Charging, Finishing are all Occupied)."""
        if connector_id == 0:
            return
        told = CONNECTOR_STATUS.get(status, "Unavailable")
        if self.sent_status.get(connector_id) == told:
            return
        evse = self.model.find("EVSE", "AvailabilityState", connector_id)
        if evse is not None:
            evse.value = told
        with contextlib.suppress(*CALL_FAILED):
            await self.call("StatusNotification", {"timestamp": iso(self.now()), "connectorStatus": told,
                                                   "evseId": connector_id, "connectorId": 1})
            self.sent_status[connector_id] = told

    # -- authorization -------------------------------------------------------------------------
    def _token(self, id_tag: str, tx: Tx | None = None) -> dict[str, Any]:
        """``id_tag`` as an idToken: the central system's own (its type kept) when it sent it."""
        known = self.tx_tokens.get(tx.id) if tx is not None else None
        if known is None or known["idToken"] != id_tag:
            known = next((t for t in self.remote_tokens.values() if t["idToken"] == id_tag), None)
        return dict(known) if known is not None else token(id_tag)

    async def authorize(self, id_tag: str) -> str:
        try:
            result = await self.call("Authorize", {"idToken": self._token(id_tag)})
            info = result["idTokenInfo"]
            self.auth_cache[id_tag] = info
            return str(info["status"])
        except (Offline, TimeoutError):
            pass
        entry = self.local_list.get(id_tag) or self.auth_cache.get(id_tag)
        if entry is not None and self.model.get_bool("AuthCtrlr", "LocalAuthorizeOffline", True):
            return str(entry.get("status", "Invalid"))
        return "Invalid"

    # -- transactions as TransactionEvents ------------------------------------------------------
    def station_tx(self, tx: Tx) -> str:
        return self.tx_ids.setdefault(tx.id, str(uuid.uuid4()))

    def _event(self, kind: str, tx: Tx, c: Connector, trigger: str, **extra: Any) -> dict[str, Any]:
        sid = self.station_tx(tx)
        seq = self.tx_seq.get(sid, 0)
        self.tx_seq[sid] = seq + 1
        info: dict[str, Any] = {"transactionId": sid, **extra.pop("info", {})}
        payload: dict[str, Any] = {"eventType": kind, "timestamp": iso(self.now()), "triggerReason": trigger,
                                   "seqNo": seq, "transactionInfo": info, **extra}
        if kind == "Started":
            payload["evse"] = {"id": c.id, "connectorId": 1}
        if not self.booted.is_set():
            payload["offline"] = True  # queued while disconnected: sent with the others in order
        return payload

    def _kept(self, tx: Tx) -> dict[str, Any]:
        return {"id": tx.id, "station_id": self.station_tx(tx), "seq": self.tx_seq.get(self.station_tx(tx), 0),
                "id_tag": tx.id_tag, "meter_start": tx.meter_start, "started": iso(tx.started)}

    # -- TxStartPoint: a transaction begun at plug-in -------------------------------------------
    def _starts_at_plug(self) -> bool:
        """TxStartPoint EVConnected or ParkingBayOccupancy: the transaction begins when the EV is
        plugged in, its token comes later (an Updated event). Otherwise it begins once the EV is
        plugged in and authorized (PowerPathClosed, the default)."""
        return bool({"EVConnected", "ParkingBayOccupancy"} & set(self.model.members("TxCtrlr", "TxStartPoint")))

    async def plug(self, connector_id: int) -> None:
        await super().plug(connector_id)
        c = self.connector(connector_id)
        # a reserved connector waits for its owner's token: the start then uses the reservation
        if c.tx is None and c.plugged and c.operative and c.error_code == "NoError" and c.reservation is None \
                and self._starts_at_plug():
            await self._start_at_plug(c)

    async def _start_at_plug(self, c: Connector) -> None:
        c.meter.advance(time.monotonic(), False, None)
        tx = Tx(self.outbox.provisional_id(), "", self.now(), round(c.meter.energy_wh))
        c.tx = tx
        self.stats["transactions"] += 1
        payload = self._event("Started", tx, c, "CablePluggedIn", info={"chargingState": "EVConnected"})
        await self.outbox.put("TransactionEvent", payload, also=[self.outbox.state(f"tx:{c.id}", self._kept(tx))])
        self.event("transaction_started", connector=c.id, transaction_id=self.station_tx(tx), waiting="token")

    async def start_local(self, connector_id: int, id_tag: str) -> str:
        c = self.connector(connector_id)
        if c.tx is None or c.tx.id_tag:
            return await super().start_local(connector_id, id_tag)
        status = await self.authorize(id_tag)  # the transaction begun at plug-in gets its token
        if status != "Accepted":
            self.count_refusal(status, at_start=False)
            self.event("authorize_rejected", id_tag=id_tag, status=status)
            return status
        return await self.start_transaction(c, id_tag)

    async def remote_start(self, c: Connector, id_tag: str, profile: dict[str, Any] | None) -> None:
        try:
            await super().remote_start(c, id_tag, profile)
        finally:  # refused, or never plugged in: a later local start answers no RequestStart
            self.remote_ids.pop(c.id, None)
            self.remote_tokens.pop(c.id, None)

    async def send_evse_meter_values(self, c: Connector, context: str) -> None:
        """MeterValues of the EVSE (a TriggerMessage MeterValues), a transaction running or not."""
        values = sampled(c.meter.sample(self.model.members("AlignedDataCtrlr", "Measurands"), context))
        with contextlib.suppress(*CALL_FAILED):
            await self.call("MeterValues", {"evseId": c.id, "meterValue": [
                {"timestamp": iso(self.now()), "sampledValue": values}]})

    def _tokened(self, c: Connector, tx: Tx, id_tag: str) -> tuple[str, dict[str, Any]]:
        """``tx`` gets ``id_tag`` (the CSMS's token when a RequestStart named it): the trigger and
        transactionInfo of the event that says so, with the request's remoteStartId."""
        tx.id_tag = id_tag
        remote = self.remote_ids.pop(c.id, None)
        self.tx_tokens[tx.id] = self._token(id_tag)
        self.remote_tokens.pop(c.id, None)
        info: dict[str, Any] = {"chargingState": "Charging"}
        if remote is not None:
            info["remoteStartId"] = remote
        return ("RemoteStart" if remote is not None else "Authorized"), info

    async def _charging(self, c: Connector, tx: Tx, payload: dict[str, Any]) -> str:
        """Queue the event that makes ``tx`` charge, charge, and judge the CSMS's answer to it."""
        seq = await self.outbox.put("TransactionEvent", payload, also=[self.outbox.state(f"tx:{c.id}", self._kept(tx))])
        await self.set_status(c, "Charging")
        c.task = self.spawn(self._meter_loop(c, tx))
        result = await self.outbox.result(seq)
        if result is None:
            self.event("transaction_started_offline", connector=c.id, transaction_id=self.station_tx(tx))
            return "Accepted"
        status = str((result.get("idTokenInfo") or {}).get("status", "Accepted"))
        await self._judged(c, tx, self.station_tx(tx), status)
        return status

    async def _authorized(self, c: Connector, tx: Tx, id_tag: str) -> str:
        """The token of a transaction begun at plug-in: an Updated event with it, then energy."""
        trigger, info = self._tokened(c, tx, id_tag)
        return await self._charging(c, tx, self._event("Updated", tx, c, trigger, info=info,
                                                       idToken=self.tx_tokens[tx.id]))

    async def start_transaction(self, c: Connector, id_tag: str) -> str:
        if c.tx is not None and not c.tx.id_tag:
            return await self._authorized(c, c.tx, id_tag)
        now = self.now()
        c.meter.advance(time.monotonic(), False, None)
        reservation, c.reservation = c.reservation, None
        tx = Tx(self.outbox.provisional_id(), id_tag, now, round(c.meter.energy_wh))
        c.tx = tx
        self.stats["transactions"] += 1
        trigger, info = self._tokened(c, tx, id_tag)
        begin = sampled(c.meter.sample(self.model.members("SampledDataCtrlr", "TxStartedMeasurands"),
                                       "Transaction.Begin"))
        payload = self._event("Started", tx, c, trigger, info=info, idToken=self.tx_tokens[tx.id],
                              **({"meterValue": [{"timestamp": iso(now), "sampledValue": begin}]} if begin else {}))
        if reservation is not None:
            payload["reservationId"] = reservation["reservationId"]
        return await self._charging(c, tx, payload)

    async def stop_transaction(self, c: Connector, reason: str, id_tag: str | None = None) -> None:
        tx = self._take_tx(c)
        if tx is None:
            return
        stopped, trigger = STOPPED.get(reason, ("Other", "AbnormalCondition"))
        end = sampled(c.meter.sample(self.model.members("SampledDataCtrlr", "TxEndedMeasurands"), "Transaction.End"))
        payload = self._event("Ended", tx, c, trigger, info={
            "stoppedReason": stopped, "chargingState": "EVConnected" if c.plugged else "Idle"},
            **({"meterValue": [{"timestamp": iso(self.now()), "sampledValue": end}]} if end else {}),
            **({"idToken": self._token(id_tag, tx)} if id_tag else {}))
        sid = self.station_tx(tx)
        seq = await self.outbox.put("TransactionEvent", payload, also=[
            self.outbox.state(f"tx:{c.id}", None), self.outbox.state(f"meter:{c.id}", round(c.meter.energy_wh))])
        await self._after_stop(c)
        self.event("transaction_stopped", connector=c.id, transaction_id=sid, reason=stopped)
        self.tx_seq.pop(sid, None)
        self.tx_ids.pop(tx.id, None)
        self.tx_tokens.pop(tx.id, None)
        await self.outbox.result(seq)

    async def send_meter_values(self, c: Connector, context: str) -> None:
        """A running transaction's samples are an Updated TransactionEvent; without one,
        MeterValues of the EVSE."""
        if c.tx is not None:
            values = sampled(c.meter.sample(self.model.members("SampledDataCtrlr", "TxUpdatedMeasurands"), context))
            trigger = "MeterValuePeriodic" if context == "Sample.Periodic" else "Trigger"
            payload = self._event("Updated", c.tx, c, trigger, info={"chargingState": self._charging_state(c)},
                                  meterValue=[{"timestamp": iso(self.now()), "sampledValue": values}])
            await self.outbox.send("TransactionEvent", payload, also=[
                self.outbox.state(f"meter:{c.id}", round(c.meter.energy_wh)),
                self.outbox.state(f"tx:{c.id}", self._kept(c.tx))])
            return
        await self.send_evse_meter_values(c, context)

    @staticmethod
    def _charging_state(c: Connector) -> str:
        return {"Charging": "Charging", "SuspendedEV": "SuspendedEV", "SuspendedEVSE": "SuspendedEVSE"}.get(
            c.status, "EVConnected")

    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        return []  # a 2.0.1 station names its transactions: nothing to renumber

    async def reservation_expired(self, reservation_id: int) -> None:
        with contextlib.suppress(*CALL_FAILED):
            await self.call("ReservationStatusUpdate", {"reservationId": reservation_id,
                                                        "reservationUpdateStatus": "Expired"})

    def snapshot(self) -> dict[str, Any]:
        found = super().snapshot()
        for entry in found["connectors"]:  # a 2.0.1 transaction is known by the station's own id
            c = self.connectors.get(entry["connector_id"])
            if c is not None and c.tx is not None:
                entry["transaction_id"] = self.station_tx(c.tx)
        return found

    def _names(self, tx: Tx, transaction_id: int | str) -> bool:
        return self.station_tx(tx) == transaction_id  # a 2.0.1 station names its transactions

    async def _end_recovered(self, c: Connector, kept: dict[str, Any]) -> None:
        """A transaction the previous run left open ended with it: an Ended PowerLoss, with the
        last register known and the next seqNo of that transaction."""
        if "station_id" not in kept:
            return
        self.event("transaction_recovered", connector=c.id, transaction_id=kept["station_id"])
        sampled_end = [{"value": float(max(round(c.meter.energy_wh), kept["meter_start"])),
                        "measurand": "Energy.Active.Import.Register", "context": "Transaction.End",
                        "unitOfMeasure": {"unit": "Wh"}}]
        await self.outbox.put("TransactionEvent", {
            "eventType": "Ended", "timestamp": iso(self.now()), "triggerReason": "AbnormalCondition",
            "seqNo": kept["seq"], "offline": True,
            "transactionInfo": {"transactionId": kept["station_id"], "stoppedReason": "PowerLoss"},
            "meterValue": [{"timestamp": iso(self.now()), "sampledValue": sampled_end}]},
            also=[self.outbox.state(f"tx:{c.id}", None)])
