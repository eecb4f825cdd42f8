"""A simulated station's transactions and its driver's actions: plug, authorize, start, meter,
stop; and the faults a test can cause.

Every transaction message goes through the durable outbox (on disk before it is sent); the
station's own state for a transaction (``tx:{connector}``, ``meter:{connector}``) is written in the
same write, so a station killed at any moment recovers exactly (see ``StationCore._recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.errors import Offline
from chargepoint.outbox import Statement
from chargepoint.times import iso
from charger_sim.connector import Connector, Tx
from charger_sim.core import StationCore, kept


class StationTransactions(StationCore):
    def _renumber(self, provisional: int, real: int) -> list[Statement]:
        """The CSMS numbered a transaction: use its id on the connector too (and on disk)."""
        statements: list[Statement] = []
        for c in self.connectors.values():
            if c.tx is not None and c.tx.id == provisional:
                c.tx.id = real
                statements.append(self.outbox.state(f"tx:{c.id}", kept(c.tx)))
        return statements

    # -- authorization -----------------------------------------------------------------------
    async def authorize(self, id_tag: str) -> str:
        """Ask the CSMS; offline, use the local list, the cache, or AllowOfflineTxForUnknownId."""
        try:
            result = await self.call("Authorize", {"idTag": id_tag})
            info = result["idTagInfo"]
            self.auth_cache[id_tag] = info
            return str(info["status"])
        except (Offline, TimeoutError):
            pass
        entry = self.local_list.get(id_tag) or self.auth_cache.get(id_tag)
        if entry is not None:
            return str(entry.get("status", "Invalid"))
        return "Accepted" if self.config.get_bool("AllowOfflineTxForUnknownId") else "Invalid"

    # -- the driver's actions ----------------------------------------------------------------
    def connector(self, connector_id: int) -> Connector:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"{self.identity} has no connector {connector_id}") from None

    async def plug(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        if c.plugged:
            return
        c.plugged = True
        c.meter.plug_in()
        c.plugged_event.set()
        self.event("plugged", connector=c.id)
        if c.tx is None and c.status in ("Available", "Finishing"):
            await self.set_status(c, c.idle_status)

    async def unplug(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        if not c.plugged:
            return
        if c.tx is not None and self.config.get_bool("StopTransactionOnEVSideDisconnect"):
            await self.stop_transaction(c, "EVDisconnected")
        c.plugged = False
        c.plugged_event.clear()
        c.meter.unplug()
        self.event("unplugged", connector=c.id)
        if c.tx is None:
            await self.set_status(c, c.idle_status)

    async def start_local(self, connector_id: int, id_tag: str) -> str:
        """A driver presents ``id_tag`` at the connector (plugging in first if needed). Returns
        Accepted when a transaction runs, else why not (Busy, or the CSMS's idTagInfo status at
        the Authorize or the StartTransaction)."""
        c = self.connector(connector_id)
        if c.tx is not None or c.status in ("Faulted", "Unavailable"):
            return "Busy"
        status = await self.authorize(id_tag)
        if status != "Accepted":
            self.count_refusal(status, at_start=False)
            self.event("authorize_rejected", id_tag=id_tag, status=status)
            return status
        await self.plug(connector_id)
        return await self.start_transaction(c, id_tag)

    async def stop_local(self, connector_id: int, id_tag: str | None = None,
                         reason: str = "Local") -> bool:
        c = self.connector(connector_id)
        if c.tx is None:
            return False
        await self.stop_transaction(c, reason, id_tag)
        return True

    async def remote_start(self, c: Connector, id_tag: str, profile: dict[str, Any] | None) -> None:
        """After RemoteStartTransaction was accepted: authorize, wait for the plug, start."""
        if self.config.get_bool("AuthorizeRemoteTxRequests"):
            if await self.authorize(id_tag) != "Accepted":
                await self.set_status(c, c.idle_status)
                return
        if not c.plugged:
            await self.set_status(c, "Preparing")
            if self.template.plug_in_delay is not None:
                self.spawn(self._driver_plugs_in(c.id, self.template.plug_in_delay))
            timeout = self.config.get_int("ConnectionTimeOut", 60)
            try:
                await asyncio.wait_for(c.plugged_event.wait(), timeout)
            except TimeoutError:
                self.event("connection_timeout", connector=c.id)
                await self.set_status(c, c.idle_status)
                return
        if profile is not None:
            self.profiles.set(c.id, profile, tx_id=None if profile.get("transactionId") is None
                              else profile["transactionId"])
        await self.start_transaction(c, id_tag)

    async def _driver_plugs_in(self, connector_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.plug(connector_id)

    # -- transactions --------------------------------------------------------------------------
    async def start_transaction(self, c: Connector, id_tag: str) -> str:
        """Start a transaction (on disk with its StartTransaction before anything is sent).
        Returns the CSMS's idTagInfo status, or Accepted when it was queued (offline)."""
        now = self.now()
        c.meter.advance(time.monotonic(), False, None)
        reservation = c.reservation
        c.reservation = None
        tx = Tx(self.outbox.provisional_id(), id_tag, now, round(c.meter.energy_wh))
        c.tx = tx
        self.stats["transactions"] += 1
        payload: dict[str, Any] = {"connectorId": c.id, "idTag": id_tag, "meterStart": tx.meter_start,
                                   "timestamp": iso(now), "_provisional": tx.id}
        if reservation is not None:
            payload["reservationId"] = reservation["reservationId"]
        seq = await self.outbox.put("StartTransaction", payload,
                                    also=[self.outbox.state(f"tx:{c.id}", kept(tx))])
        await self.set_status(c, "Charging")
        c.task = self.spawn(self._meter_loop(c, tx))
        result = await self.outbox.result(seq)
        if result is None:
            self.event("transaction_started_offline", connector=c.id, provisional_id=tx.id)
            return "Accepted"
        status = str(result["idTagInfo"].get("status"))
        await self._judged(c, tx, tx.id, status)
        return status

    async def _judged(self, c: Connector, tx: Tx, shown_id: int | str, status: str) -> None:
        """The CSMS's verdict on a started transaction: counted, and a refusal acted on."""
        self.event("transaction_started", connector=c.id, transaction_id=shown_id, status=status)
        if status != "Accepted":
            self.count_refusal(status, at_start=True)
            if c.tx is tx:
                await self._refuse(c)

    async def _refuse(self, c: Connector) -> None:
        """The CSMS did not accept the tag of the running transaction (OCPP 1.6 4.8): stop it,
        or with StopTransactionOnInvalidId false keep it and deliver no more energy."""
        if c.tx is None or c.tx.refused:  # stopped already (the answer came two ways)
            return
        if self.config.get_bool("StopTransactionOnInvalidId"):
            await self.stop_transaction(c, "DeAuthorized")
        else:
            c.tx.refused = True
            await self.reassess(c)

    def _refused_later(self, transaction_id: int | str, status: str) -> None:
        """A start that went out from the queue was refused (1.6 StartTransaction, 2.0.1
        TransactionEvent: :meth:`_names` says which transaction the id is)."""
        for c in self.connectors.values():
            if c.tx is not None and self._names(c.tx, transaction_id):
                self.count_refusal(status, at_start=True)
                self.event("transaction_refused", connector=c.id, transaction_id=transaction_id,
                           status=status)
                self.spawn(self._refuse(c))

    async def reservation_expired(self, reservation_id: int) -> None:
        """A reservation ran out unused (1.6 says nothing of it; a 2.0.1 station does)."""

    def _names(self, tx: Tx, transaction_id: int | str) -> bool:
        return tx.id == transaction_id

    def _take_tx(self, c: Connector) -> Tx | None:
        """The connector's transaction, taken off it with its meter loop stopped (None: none)."""
        tx = c.tx
        if tx is None:
            return None
        c.tx = None
        if c.task is not None:
            c.task.cancel()
            c.task = None
        c.meter.advance(time.monotonic(), False, None)
        return tx

    async def _after_stop(self, c: Connector) -> None:
        """What follows any end of a transaction on the connector: its TxProfiles go, a
        scheduled availability change applies, the status says what is left."""
        self.profiles.clear_tx_profiles(c.id)
        if c.scheduled_operative is not None:
            c.operative, c.scheduled_operative = c.scheduled_operative, None
        await self.set_status(c, "Finishing" if c.plugged and c.operative and c.error_code == "NoError"
                              else c.idle_status)

    async def stop_transaction(self, c: Connector, reason: str, id_tag: str | None = None) -> None:
        tx = self._take_tx(c)
        if tx is None:
            return
        now = self.now()
        payload: dict[str, Any] = {
            "transactionId": tx.id, "meterStop": round(c.meter.energy_wh), "timestamp": iso(now),
            "reason": reason,
            "transactionData": [{"timestamp": iso(now), "sampledValue": c.meter.sample(
                self.config.get("StopTxnSampledData").split(","), "Transaction.End")}],
        }
        if id_tag:
            payload["idTag"] = id_tag
        seq = await self.outbox.put("StopTransaction", payload, also=[
            self.outbox.state(f"tx:{c.id}", None),
            self.outbox.state(f"meter:{c.id}", payload["meterStop"])])
        await self._after_stop(c)
        self.event("transaction_stopped", connector=c.id, transaction_id=tx.id, reason=reason)
        await self.outbox.result(seq)

    def limit_w(self, c: Connector) -> float | None:
        tx = c.tx
        return self.profiles.limit_w(c.id, self.now(), tx.started if tx else None,
                                     tx.id if tx else None)

    async def reassess(self, c: Connector) -> None:
        """Recompute power and Charging/SuspendedEV/SuspendedEVSE after anything changed."""
        if c.tx is None:
            return
        limit = 0.0 if c.tx.refused else self.limit_w(c)
        c.meter.advance(time.monotonic(), True, limit)
        if limit is not None and limit <= 0:
            status = "SuspendedEVSE"
        elif c.meter.vehicle is not None and c.meter.vehicle.wanted_power() <= 0:
            status = "SuspendedEV"
        else:
            status = "Charging"
        await self.set_status(c, status)

    async def _meter_loop(self, c: Connector, tx: Tx) -> None:
        """Sample every MeterValueSampleInterval on a fixed schedule (no drift); the first
        sample is offset by up to 10 % so a fleet's connectors don't all report at once."""
        loop = asyncio.get_running_loop()
        await self.reassess(c)
        interval = self.config.get_int("MeterValueSampleInterval", 60)
        due = loop.time() + interval * (1 + 0.1 * self.rng.random())
        while c.tx is tx:
            interval = self.config.get_int("MeterValueSampleInterval", 60)
            if interval <= 0:
                await asyncio.sleep(30)
                due = loop.time()
                continue
            await asyncio.sleep(max(due - loop.time(), 0))
            due = max(due + interval, loop.time())
            if c.tx is not tx:
                return
            await self.reassess(c)
            await self.send_meter_values(c, "Sample.Periodic")

    async def send_meter_values(self, c: Connector, context: str) -> None:
        measurands = self.config.get("MeterValuesSampledData").split(",")
        payload: dict[str, Any] = {"connectorId": c.id, "meterValue": [
            {"timestamp": iso(self.now()), "sampledValue": c.meter.sample(measurands, context)}]}
        if c.tx is not None:
            payload["transactionId"] = c.tx.id
            await self.outbox.send("MeterValues", payload, also=[
                self.outbox.state(f"meter:{c.id}", round(c.meter.energy_wh))])
        else:
            with contextlib.suppress(*CALL_FAILED):
                await self.call("MeterValues", payload)

    # -- faults --------------------------------------------------------------------------------
    async def fault_connector(self, connector_id: int, error_code: str, info: str | None = None) -> None:
        c = self.connector(connector_id)
        c.error_code, c.info = error_code, info
        if c.tx is not None:
            await self.stop_transaction(c, "Other")
        await self.set_status(c, "Faulted")

    async def clear_fault(self, connector_id: int) -> None:
        c = self.connector(connector_id)
        c.error_code, c.info = "NoError", None
        await self.set_status(c, c.idle_status)

    async def power_loss(self, outage_s: float = 2.0) -> None:
        """Power goes: the socket dies, transactions end with PowerLoss (sent after the reboot)."""
        self.refuse_until = time.monotonic() + outage_s
        self.drop_connection()
        self.booted.clear()
        for c in self.connectors.values():
            if c.tx is not None:
                await self.stop_transaction(c, "PowerLoss")
