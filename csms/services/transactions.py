"""The transaction service: what the central system does around the store's transaction facts.

It keeps each recent transaction's window (its charge point, start, and once ended its stop and
meterStop) so that a MeterValues arriving for a transaction is placed in or outside it without a
read per frame; it ends what the charge points cannot (superseded, rebooted, stale, closed by an
operator, see :mod:`csms.store.endings`) and tells the event bus and the window cache about every
ending, whoever ended it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.energy.meter import draw_watts
from csms.events import EventBus
from csms.services.errors import Conflict, Invalid, NotFound
from csms.store.endings import (
    REGISTER,
    Ended,
    after_boot,
    charge_points_with_open,
    close_by_operator,
    last_reading,
    open_connectors,
    register_wh,
    sweep_stale,
)
from csms.store.id_tag_book import TagBook
from csms.store.models import Transaction, TransactionEvent, table
from csms.store.transactions import id_tag_info, tag_info
from csms.store.writer import Writer
from csms.timeutil import iso, now_utc, utc

log = logging.getLogger(__name__)
_TX = table(Transaction)
_EVENTS = table(TransactionEvent)
WINDOWS = 100_000  # transactions whose window is remembered (a miss costs one read)



def meter_now(samples: list[dict[str, Any]]) -> tuple[float | None, int | None]:
    """The draw (W) and energy register (Wh) one meter value gives (None for what it lacks): an
    open transaction keeps them, for the dashboard's totals and the site gauges."""
    energy = None
    for sample in samples:
        if sample["measurand"] in (REGISTER, None) and sample["phase"] is None:
            wh = register_wh(sample["value"], sample["unit"])
            energy = int(wh) if wh is not None else energy
    return draw_watts(samples), energy

@dataclass(slots=True)
class Window:
    charge_point_id: str
    start: datetime
    stop: datetime | None = None
    meter_stop: int | None = None
    # its latest energy register and when it was read: a charge point that reports the register
    # alone (1.6's default MeterValuesSampledData) has its draw from the register's rise
    reading: tuple[datetime, int] | None = None

    def rate(self, at: datetime, register: int) -> float | None:
        """The draw (W) since the previous register reading, and this one remembered; None for
        the first, or for readings out of order."""
        last, self.reading = self.reading, (at, register)
        if last is None or at <= last[0] or register < last[1]:
            return None
        return (register - last[1]) * 3600.0 / (at - last[0]).total_seconds()

    def holds(self, charge_point_id: str, element: dict[str, Any]) -> bool:
        """Is one meterValue element (a timestamp and its samples) inside this transaction?"""
        if charge_point_id != self.charge_point_id:
            return False
        if self.stop is None:
            return True
        if element["timestamp"] > self.stop:
            return False
        for sample in element["samples"]:
            if sample["measurand"] in (None, REGISTER) and sample["phase"] is None:
                wh = register_wh(sample["value"], sample["unit"])
                if wh is not None and self.meter_stop is not None and wh > self.meter_stop:
                    return False
        return True


class TransactionService:
    def __init__(self, engine: AsyncEngine, writer: Writer, events: EventBus,
                 stale_after: float, accept_unknown_id_tags: bool = False) -> None:
        self._engine = engine
        self._writer = writer
        self._events = events
        self.stale_after = stale_after
        self.accept_unknown_id_tags = accept_unknown_id_tags
        self._windows: OrderedDict[int, Window | None] = OrderedDict()
        self.tags = TagBook(engine)  # what tags say: kept by IdTagService, read by every verdict
        self._may_have_open: set[str] = set()  # charge points that may have open transactions
        self._starts_noted = 0  # starts added to it so far (a read that overlapped one discards nothing)
        # told (charge point, transaction) of every end, however it ended (load management)
        self.stop_listeners: list[Callable[[str, int], None]] = []
        events.watch_remote(self._changed_elsewhere)
        events.watch_remote(self.tags.changed_elsewhere)

    # -- windows ---------------------------------------------------------------------------
    def _remember(self, transaction_id: int, window: Window | None) -> None:
        self._windows[transaction_id] = window
        self._windows.move_to_end(transaction_id)
        if len(self._windows) > WINDOWS:
            self._windows.popitem(last=False)

    def _changed_elsewhere(self, event: dict[str, Any]) -> None:
        """Another node started, stopped or closed a transaction: its window is read afresh."""
        transaction_id = event.get("transaction_id")
        if isinstance(transaction_id, int):
            self._windows.pop(transaction_id, None)
        if event.get("type") == "transaction_started" and isinstance(event.get("charge_point_id"), str):
            self._may_have_open.add(event["charge_point_id"])
            self._starts_noted += 1

    def started(self, transaction_id: int, charge_point_id: str, start: datetime) -> None:
        self._remember(transaction_id, Window(charge_point_id, start))
        self._may_have_open.add(charge_point_id)
        self._starts_noted += 1

    async def preload(self) -> None:
        """Note the charge points with open transactions (at start: a reconnect storm's boots
        of the others then read nothing, see :meth:`open_connectors`)."""
        async with self._engine.connect() as conn:
            self._may_have_open.update(await charge_points_with_open(conn))

    def stopped(self, transaction_id: int, charge_point_id: str, stop: datetime,
                meter_stop: int) -> None:
        window = self._windows.get(transaction_id)
        if window is None:
            window = Window(charge_point_id, stop)
        window.stop, window.meter_stop = stop, meter_stop
        self._remember(transaction_id, window)
        for listener in self.stop_listeners:
            listener(charge_point_id, transaction_id)

    async def window(self, transaction_id: int) -> Window | None:
        """The window of a transaction (None: the central system does not know it)."""
        if transaction_id in self._windows:
            self._windows.move_to_end(transaction_id)
            return self._windows[transaction_id]
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(
                _TX.c.charge_point_id, _TX.c.start_timestamp, _TX.c.stop_timestamp,
                _TX.c.meter_stop).where(_TX.c.id == transaction_id))).first()
        window = None if row is None else Window(row.charge_point_id, utc(row.start_timestamp),  # type: ignore[arg-type]
                                                 utc(row.stop_timestamp), row.meter_stop)
        self._remember(transaction_id, window)
        return window

    async def place(self, charge_point_id: str, transaction_id: int,
                    elements: list[dict[str, Any]]) -> None:
        """Flag the samples of MeterValues for ``transaction_id`` that fall outside its window
        (``outside_tx``), and note that an open transaction was heard of."""
        window = await self.window(transaction_id)
        latest: dict[str, Any] | None = None  # the last element inside the window
        for element in elements:
            if window is not None and window.holds(charge_point_id, element):
                latest = element
                continue
            for sample in element["samples"]:
                sample["outside_tx"] = True
        if latest is not None and window is not None and window.stop is None:
            power_w, register = meter_now(latest["samples"])
            if register is not None:
                rise = window.rate(latest["timestamp"], register)
                power_w = rise if power_w is None else power_w
            self._writer.touch_transaction(transaction_id, now_utc(), power_w, register)
            if latest["samples"]:  # the charge point page's live figures
                self._events.publish("meter", charge_point_id, transaction_id=transaction_id,
                                     connector_id=latest["samples"][0]["connector_id"],
                                     power_w=power_w, energy_wh=register,
                                     timestamp=iso(latest["timestamp"]))  # the sample's own time

    async def authorize(self, id_tag: str) -> dict[str, Any]:
        """The ``idTagInfo`` an Authorize of ``id_tag`` is answered (no query for a kept tag)."""
        return tag_info(await self.tags.row(id_tag), self.accept_unknown_id_tags)

    async def start_status(self, id_tag: str) -> str:
        """What a StartTransaction with ``id_tag`` would be answered now (Accepted, Invalid,
        Blocked, Expired, ConcurrentTx): a remote start for a tag that is not Accepted would only
        switch an outlet on to switch it off again."""
        async with self._engine.connect() as conn:
            info = await id_tag_info(conn, id_tag, self.accept_unknown_id_tags, for_start=True,
                                     stale_after=self.stale_after, book=self.tags)
        return str(info["status"])

    async def open_on(self, charge_point_id: str) -> list[dict[str, Any]]:
        """The transactions the central system holds open for a charge point, with the last
        energy register it knows of each: what a charge point that lost its memory asks for."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(_TX).where(
                _TX.c.charge_point_id == charge_point_id, _TX.c.stop_timestamp.is_(None))
                .order_by(_TX.c.id))).all()
            found = []
            for tx in rows:
                last, _ = await last_reading(conn, tx)
                entry = {"transactionId": tx.id, "connectorId": tx.connector_id,
                         "idTag": tx.id_tag, "meterStart": tx.meter_start,
                         "timestamp": iso(tx.start_timestamp), "lastMeterWh": last}
                if tx.station_transaction_id is not None:  # OCPP 2.0.1: its own id, its next seqNo
                    top = (await conn.execute(select(func.max(_EVENTS.c.seq_no)).where(
                        _EVENTS.c.transaction_id == tx.id))).scalar()
                    entry.update(stationTransactionId=tx.station_transaction_id,
                                 nextSeqNo=0 if top is None else int(top) + 1)
                found.append(entry)
        return found

    # -- endings ---------------------------------------------------------------------------
    def ended(self, endings: list[Ended]) -> None:
        """Transactions ended by the central system: caches and the event stream know."""
        for e in endings:
            self.stopped(e.transaction_id, e.charge_point_id, e.stop_timestamp, e.meter_stop)
            log.info("%s: transaction %d ended (%s) at %d Wh", e.charge_point_id,
                     e.transaction_id, e.end_source, e.meter_stop)
            self._events.publish("transaction_stopped", e.charge_point_id, **e.event())

    async def open_connectors(self, charge_point_id: str) -> set[int]:
        """The connectors with open transactions, read once at a boot: only these may have
        something for :meth:`after_boot` to end (a boot storm's every connector would otherwise
        be a writer operation, run one after another). A charge point that started none since
        this node began, here or (as the event bus tells) at another node, had none open then
        either: nothing to read. What a lost event could hide is only this cleanup; a later
        start on the connector (superseded) or the stale sweep ends the transaction."""
        if charge_point_id not in self._may_have_open:
            return set()
        starts = self._starts_noted
        async with self._engine.connect() as conn:
            found = await open_connectors(conn, charge_point_id)
        if not found and starts == self._starts_noted:  # no start noted meanwhile: its read may miss it
            self._may_have_open.discard(charge_point_id)
        return found

    async def after_boot(self, charge_point_id: str, connector_id: int, booted_at: datetime) -> None:
        """End what the charge point ran on the connector before it booted."""
        self.ended(await self._writer.run(after_boot(charge_point_id, connector_id, booted_at)))

    async def sweep(self) -> int:
        """End the transactions that are no longer live (the periodic job)."""
        endings = await self._writer.run(sweep_stale(now_utc(), self.stale_after))
        if endings:
            log.warning("%d stale transaction(s) ended: nothing heard of them for %g s",
                        len(endings), self.stale_after)
        self.ended(endings)
        return len(endings)

    async def close(self, transaction_id: int, actor: str, reason: str,
                    meter_stop: int | None = None) -> Ended:
        """An operator ends a transaction its charge point will never stop; :class:`NotFound`
        for an unknown one, :class:`Conflict` for one that has ended already, :class:`Invalid`
        for a meter_stop below the transaction's meter_start (refused, not clamped)."""
        detail = f"{reason} (closed at {iso(now_utc())})"
        outcome, ended = await self._writer.run(
            close_by_operator(transaction_id, actor, detail, meter_stop))
        if ended is None:
            message = f"transaction {transaction_id} is {outcome.replace('_', ' ')}"
            if outcome == "unknown":
                raise NotFound("TransactionNotFound", message)
            if outcome == "below_start":
                raise Invalid("MeterStopBelowStart", f"meter_stop {meter_stop} Wh is below "
                              f"transaction {transaction_id}'s meter_start")
            raise Conflict("TransactionNotActive", message)
        log.warning("%s: transaction %d closed by %s: %s (meter_stop %d Wh%s)", ended.charge_point_id,
                    transaction_id, actor, reason, ended.meter_stop,
                    "" if meter_stop is None else ", given by the operator")
        self.ended([ended])
        return ended
