"""Last-seen times of charge points and open transactions, coalesced between commits.

Why: every frame says its charge point is alive and every meter value that its transaction is,
but a write each would double the store's work for a fact only read to the second. The writer
keeps the latest time per charge point and per transaction here and writes them at most every
``TOUCH_EVERY`` seconds, ``TOUCH_CHUNK`` a commit (:class:`csms.store.writer.Writer`).
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import BigInteger, Float, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import ChargePoint, Transaction, table

_TX = table(Transaction)
_CP = table(ChargePoint)
TOUCH_EVERY = 2.0  # seconds between last-seen updates: heartbeats need not each cost a write
# Last-seen updates per table per commit: with 10,000 charge points two seconds' touches were
# 4,000 charge points and 4,000 transactions, one commit of 0.2-0.7 s that every answer waiting
# for the store waited for (bench/sim_fleet.py). The rest go with the next commits.
TOUCH_CHUNK = 1000


class Touches:
    """The times not written yet, and when the next write is due (the event loop's clock). A
    transaction's entry is ``(when, power_w, register_wh)``."""

    __slots__ = ("charge_points", "transactions", "due")

    def __init__(self) -> None:
        self.charge_points: dict[str, Any] = {}
        self.transactions: dict[int, Any] = {}
        self.due = 0.0

    def __bool__(self) -> bool:
        return bool(self.charge_points or self.transactions)

    def transaction(self, transaction_id: int, when: Any, power_w: float | None,
                    register_wh: int | None) -> None:
        """Hold the transaction's last-heard time, and its draw and register where given: a touch
        without them (a 2.0.1 event without samples) keeps what an earlier one held."""
        held = self.transactions.get(transaction_id)
        if held is not None:
            power_w = held[1] if power_w is None else power_w
            register_wh = held[2] if register_wh is None else register_wh
        self.transactions[transaction_id] = (when, power_w, register_wh)

    def chunks(self) -> int:
        """How many commits what is held now takes (TOUCH_CHUNK a commit)."""
        return -(-max(len(self.charge_points), len(self.transactions)) // TOUCH_CHUNK)

    def take(self, now: float) -> tuple[dict[str, Any], dict[int, Any]]:
        """The next commit's share; the next write is due ``TOUCH_EVERY`` after the last share."""
        taken = _take(self.charge_points), _take(self.transactions)
        if not self:
            self.due = now + TOUCH_EVERY
        return taken


def _take(touches: dict[Any, Any]) -> dict[Any, Any]:
    """Up to TOUCH_CHUNK of ``touches``, taken out of it (the oldest first)."""
    if len(touches) <= TOUCH_CHUNK:
        taken = dict(touches)
        touches.clear()
        return taken
    taken = dict(itertools.islice(touches.items(), TOUCH_CHUNK))
    for key in taken:
        del touches[key]
    return taken


async def apply_touches(conn: AsyncConnection, touches: dict[str, Any], tx_touches: dict[int, Any]) -> None:
    """The last-seen times of a commit's charge points and transactions."""
    if touches:
        stmt = update(_CP).where(_CP.c.id == bindparam("cp")).values(last_seen=bindparam("seen"))
        await conn.execute(stmt, [{"cp": k, "seen": v} for k, v in touches.items()])
    if tx_touches:  # a draw or register not given keeps the one written before
        stmt = update(_TX).where(_TX.c.id == bindparam("tx"), _TX.c.stop_timestamp.is_(None)).values(
            last_activity_at=bindparam("seen"),
            power_w=func.coalesce(bindparam("power", type_=Float), _TX.c.power_w),
            register_wh=func.coalesce(bindparam("energy", type_=BigInteger), _TX.c.register_wh))
        await conn.execute(stmt, [{"tx": k, "seen": seen, "power": power, "energy": energy}
                                  for k, (seen, power, energy) in tx_touches.items()])
