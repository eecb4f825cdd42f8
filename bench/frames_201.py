"""The OCPP 2.0.1 mix of bench/loadgen.py: Heartbeat, TransactionEvent and MeterValues.

Each charge point runs one transaction after another: a TransactionEvent Started (with an id
token, so the central system judges it), Updated events carrying the energy register, and an
Ended after every ``UPDATES_PER_SESSION`` updates; between them clock-aligned MeterValues of its
EVSE and Heartbeats. seqNo increases over all of a charge point's events, as the spec asks; the
transaction ids carry a per-run tag so a second run on the same database makes new transactions.
Frames are built from pre-made pieces like loadgen's 1.6 ones, to keep the generator cheap.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import orjson

CALL = 2
BOOT_PAYLOAD = {"chargingStation": {"vendorName": "chargebay-bench", "model": "loadgen-201"},
                "reason": "PowerUp"}
TOKEN = {"idToken": "BENCH-201", "type": "ISO14443"}
UPDATES_PER_SESSION = 20
RUN = os.urandom(3).hex()


class Session:
    """One charge point's transaction: its id, the next seqNo, its register."""

    __slots__ = ("energy_wh", "number", "seq", "updates")

    def __init__(self) -> None:
        self.number = 0
        self.seq = 0
        self.updates = -1  # -1: no transaction running; the next event starts one
        self.energy_wh = 0


class Frames201:
    """Builds the 2.0.1 Call frames (see the module)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._second = -1
        self._now = ""
        self._sessions: dict[int, Session] = {}

    def next_id(self) -> str:
        return str(next(self._ids))

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._now = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._now

    def boot(self, message_id: str) -> bytes:
        return orjson.dumps([CALL, message_id, "BootNotification", BOOT_PAYLOAD])

    def step(self, index: int, step: int, message_id: str) -> bytes:
        """The ``step``-th call of charge point ``index``: Heartbeat, TransactionEvent, MeterValues."""
        kind = step % 3
        if kind == 0:
            return b'[2,"%b","Heartbeat",{}]' % message_id.encode()
        session = self._sessions.get(index)
        if session is None:
            session = self._sessions[index] = Session()
        if kind == 1:
            return self._transaction_event(index, session, message_id)
        sampled = [{"value": session.energy_wh, "measurand": "Energy.Active.Import.Register",
                    "context": "Sample.Clock"}]
        payload = {"evseId": 1, "meterValue": [{"timestamp": self.now(), "sampledValue": sampled}]}
        return orjson.dumps([CALL, message_id, "MeterValues", payload])

    def _transaction_event(self, index: int, session: Session, message_id: str) -> bytes:
        session.energy_wh += 25
        payload: dict[str, Any] = {"timestamp": self.now(), "seqNo": session.seq,
                                   "transactionInfo": {"transactionId": f"B{RUN}-{index}-{session.number}"}}
        session.seq += 1
        meter = [{"timestamp": payload["timestamp"], "sampledValue": [
            {"value": session.energy_wh, "measurand": "Energy.Active.Import.Register"},
            {"value": 11000, "measurand": "Power.Active.Import"}]}]
        if session.updates < 0:
            payload.update(eventType="Started", triggerReason="Authorized", idToken=TOKEN,
                           evse={"id": 1, "connectorId": 1})
            payload["meterValue"] = [{"timestamp": payload["timestamp"], "sampledValue": [
                {"value": session.energy_wh, "measurand": "Energy.Active.Import.Register",
                 "context": "Transaction.Begin"}]}]
            session.updates = 0
        elif session.updates >= UPDATES_PER_SESSION:
            payload.update(eventType="Ended", triggerReason="EVDeparted", meterValue=meter)
            payload["transactionInfo"]["stoppedReason"] = "EVDisconnected"
            session.updates, session.number = -1, session.number + 1
        else:
            payload.update(eventType="Updated", triggerReason="MeterValuePeriodic", meterValue=meter)
            session.updates += 1
        return orjson.dumps([CALL, message_id, "TransactionEvent", payload])
