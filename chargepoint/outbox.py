"""Transaction messages of a charge point, on disk before they are sent.

OCPP 1.6 (section 3.16) asks a charge point to deliver StartTransaction, StopTransaction and
transaction MeterValues reliably and in order. The simulator's stations and the locker bridge's
virtual charge points share this :class:`Outbox`: every transaction message is written to the
:class:`~common.durable.DurableQueue` *before* it goes on the wire (with the state it goes with,
in one write), and leaves the disk only once the CSMS has answered it. A charge point killed at
any moment has lost nothing: what was not answered is sent again at the next start (the CSMS
recognises a message it already stored). Messages are delivered one at a time, in order; a
transaction started offline carries a provisional id the CSMS's id replaces when it numbers it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from chargepoint.errors import CallRefused
from common.durable import DurableQueue, QueueClosed, Statement

__all__ = ["DurableQueue", "Outbox", "QueueClosed", "Statement", "wire"]

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
UNCLAIMED = 64  # answers kept for senders that ask after the line has moved on


class Outbox:
    """One charge point's transaction messages, delivered in order exactly as queued.

    ``call(action, payload)`` sends a call and returns the answer; it raises one of ``transient``
    when the message did not get through (offline, timeout): the message stays queued and is
    tried again. A CALLERROR is an answer and is not resent. A StartTransaction carries its
    provisional ``transactionId`` (key ``_provisional``) that later messages use; when the CSMS
    numbers it, ``on_renumber(provisional, real)`` lets the owner update its own state and returns
    the statements that keep it on disk: they are written with the StartTransaction's removal
    from the queue, so a kill never leaves the owner's state with an id the queue has forgotten.
    Keys starting with ``_`` are bookkeeping and never sent.
    """

    def __init__(self, identity: str, queue: DurableQueue | None, call: Call,
                 transient: tuple[type[BaseException], ...], online: Callable[[], bool], *,
                 on_renumber: Callable[[int, int], list[Statement] | None] | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None,
                 on_refused: Callable[[int | str, str], Any] | None = None,
                 spawn: Callable[[Coroutine[Any, Any, None]], Any] = asyncio.ensure_future,
                 retry_interval: Callable[[], float] = lambda: 10.0, rate: float = 20.0) -> None:
        self.identity = identity
        self.queue = queue
        self.call = call
        self.transient = transient
        self.on_renumber = on_renumber
        self.on_event = on_event or (lambda kind, data: None)
        # a StartTransaction sent from the queue, its sender no longer waiting, answered with an
        # idTagInfo that is not Accepted: (transaction id, status), so the owner can stop it
        self.on_refused = on_refused
        self.spawn = spawn  # the owner's task set, so a stop cancels a replay in progress
        self.retry_interval = retry_interval
        self.rate = rate  # messages a second while a backlog drains
        self.online = online  # true while the CSMS has accepted the owner's boot
        self.stats = {"queued": 0, "replayed": 0}
        self.pending: list[tuple[int, str, dict[str, Any]]] = []  # (seq, action, payload)
        self._waiting: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        # answers that came before their sender asked for them (the line moved on meanwhile)
        self._unclaimed: dict[int, tuple[dict[str, Any] | None, BaseException | None]] = {}
        self._provisional = itertools.count(-1, -1)
        self._local_seq = itertools.count(1)  # without a queue (nothing kept)
        self._renumbered: dict[int, int] = {}  # provisional -> real, for messages built meanwhile
        self._replaying = False

    async def load(self) -> None:
        """Pick up what an earlier run left queued; provisional ids continue below its own."""
        if self.queue is None:
            return
        self.pending = await self.queue.pending(self.identity)
        lowest = min([0] + [p.get("_provisional", 0) for _, _, p in self.pending]
                     + [p.get("transactionId", 0) for _, _, p in self.pending])
        self._provisional = itertools.count(lowest - 1, -1)

    def provisional_id(self, below: int = 0) -> int:
        """A new provisional transaction id (below ``below`` too: one an earlier run kept)."""
        value = next(self._provisional)
        if value >= below:
            self._provisional = itertools.count(below - 1, -1)
            value = next(self._provisional)
        return value

    def __len__(self) -> int:
        """Messages not yet answered (all on disk)."""
        return len(self.pending)

    @property
    def backlog(self) -> int:
        """Messages waiting for their turn: the unanswered ones but the one under way."""
        return max(len(self.pending) - (1 if self._replaying else 0), 0)

    def state(self, key: str, value: Any) -> Statement:
        """A statement keeping ``value`` in this charge point's state (None forgets it), to write
        together with a message (:meth:`put`'s ``also``)."""
        return DurableQueue.state_statement(self.identity, key, value)

    async def put(self, action: str, payload: dict[str, Any], also: list[Statement] = ()  # type: ignore[assignment]
                  ) -> int:
        """Queue a message durably (with the statements ``also``, in the same write) and start
        delivering it when the CSMS is reachable; return its key for :meth:`result`."""
        self._resolve(payload)
        if self.queue is not None:
            seq = await self.queue.push(self.identity, action, payload, list(also))
            if self._resolve(payload):  # renumbered during the push
                await self.queue.update(seq, payload)
        else:
            seq = next(self._local_seq)
        self.pending.append((seq, action, payload))
        self.stats["queued"] += 1
        # on its way at once: whoever queued it may be cancelled before it asks for the answer
        self.kick()
        return seq

    async def result(self, seq: int) -> dict[str, Any] | None:
        """The CSMS's answer to the message ``seq``, once its turn came (the messages before it
        went first); None when the CSMS is not reachable now, or a message in line fails to get
        through meanwhile: it waits in the queue, on disk. Raises
        :class:`~chargepoint.errors.CallRefused` for a CALLERROR answer."""
        if seq in self._unclaimed:
            result, error = self._unclaimed.pop(seq)
            if error is not None:
                raise error
            return result
        queued = next((a for s, a, _ in self.pending if s == seq), None)
        if queued is None:
            return None
        if not self.online():
            self.on_event("queued", {"action": queued})
            return None
        waiter: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiting[seq] = waiter
        self.kick()
        return await waiter

    async def send(self, action: str, payload: dict[str, Any], also: list[Statement] = ()  # type: ignore[assignment]
                   ) -> dict[str, Any] | None:
        """:meth:`put`, then :meth:`result`: the answer when it went out now, None when it waits
        in the queue (on disk either way)."""
        return await self.result(await self.put(action, payload, also))

    def kick(self) -> None:
        """Deliver what is queued, if the CSMS is reachable and no delivery is under way."""
        if self.pending and self.online() and not self._replaying:
            self._replaying = True  # under way from now: the first message counts as sent
            task = self.spawn(self._deliver())
            if isinstance(task, asyncio.Future):  # cancelled before it ran: nothing under way
                task.add_done_callback(self._not_delivering)

    def _not_delivering(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            self._replaying = False

    def _settle(self, seq: int, result: dict[str, Any] | None,
                error: BaseException | None = None, final: bool = False) -> None:
        waiter = self._waiting.pop(seq, None)
        if waiter is None or waiter.done():
            if final:  # answered before its sender asked: keep it for a while
                self._unclaimed[seq] = (result, error)
                while len(self._unclaimed) > UNCLAIMED:
                    self._unclaimed.pop(next(iter(self._unclaimed)))
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)

    async def replay(self) -> None:
        """Send the queued messages in order while online, throttled while a backlog drains;
        fix provisional ids; take each off the disk once answered."""
        if self._replaying or not self.pending:
            return
        self._replaying = True
        await self._deliver()

    async def _deliver(self) -> None:
        """The one delivery loop (:meth:`replay` or :meth:`kick` started it)."""
        try:
            while self.pending and self.online():
                seq, action, payload = self.pending[0]
                self._resolve(payload)
                error: CallRefused | None = None
                try:
                    result: dict[str, Any] | None = await self.call(action, wire(payload))
                except self.transient:
                    # the line is stuck until the CSMS answers again: every sender waiting goes
                    # on (its message stays queued, on disk) rather than wait for the retry
                    for waiting in list(self._waiting):
                        self._settle(waiting, None)
                    await asyncio.sleep(self.retry_interval())
                    continue
                except CallRefused as exc:
                    self.on_event("replay_rejected", {"action": action, "error": str(exc)[:200]})
                    result, error = None, exc
                kept: list[Statement] = []
                if action == "StartTransaction" and result is not None:
                    provisional = payload.get("_provisional")
                    if provisional is not None:
                        kept = await self.renumber(provisional, result["transactionId"])
                self.pending.pop(0)
                self.stats["replayed"] += 1
                refused = None if seq in self._waiting or result is None else _refusal(action, payload, result)
                if refused is not None and self.on_refused is not None:
                    self.on_refused(*refused)
                self._settle(seq, result, error, final=True)
                if self.queue is not None:
                    await self.queue.remove(seq, kept)
                if self.pending:
                    await asyncio.sleep(1.0 / self.rate)
        finally:
            self._replaying = False
            for seq in list(self._waiting):  # offline now: the senders go on, messages stay
                self._settle(seq, None)

    def _resolve(self, payload: dict[str, Any]) -> bool:
        """Put the real id in place of a provisional one the CSMS has numbered already (a
        message can be built, or be on its way to the queue, while the number arrives)."""
        real = self._renumbered.get(payload.get("transactionId"))  # type: ignore[arg-type]
        if real is None:
            return False
        payload["transactionId"] = real
        return True

    def real_id(self, transaction_id: int) -> int:
        """The CSMS's id for a provisional one it has numbered (else the id itself)."""
        return self._renumbered.get(transaction_id, transaction_id)

    async def renumber(self, provisional: int, real: int) -> list[Statement]:
        """The CSMS numbered a transaction: use its id in the queued messages, on disk too;
        return the owner's statements that keep its new id (see the class)."""
        if self._renumbered.get(provisional) == real:
            return []
        self._renumbered[provisional] = real
        kept = (self.on_renumber(provisional, real) or []) if self.on_renumber else []
        for seq, _, queued in self.pending:
            if queued.get("transactionId") == provisional:
                queued["transactionId"] = real
                if self.queue is not None:
                    await self.queue.update(seq, queued)
        return kept


def wire(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as sent: without the owner's bookkeeping keys (``_provisional``)."""
    return {k: v for k, v in payload.items() if not k.startswith("_")}


def _refusal(action: str, payload: dict[str, Any], result: dict[str, Any]) -> tuple[int | str, str] | None:
    """(transaction id, status) of a start the central system refused in its answer: a 1.6
    StartTransaction's idTagInfo, a 2.0.1 TransactionEvent's idTokenInfo (the station's own id)."""
    if action == "StartTransaction":
        status, transaction_id = result.get("idTagInfo", {}).get("status"), result["transactionId"]
    elif action == "TransactionEvent" and "idTokenInfo" in result:
        status, transaction_id = result["idTokenInfo"].get("status"), payload["transactionInfo"]["transactionId"]
    else:
        return None
    return None if status == "Accepted" else (transaction_id, str(status))


def kept_version(pending: list[tuple[int, str, dict[str, Any]]], kept_tx: list[dict[str, Any]]) -> str | None:
    """The OCPP version an earlier run's state was written in ("1.6", "2.0.1"), None when it
    says nothing: queued 1.6 transaction messages or a transaction kept without a station id
    are 1.6, a queued TransactionEvent or a kept transaction with its station id 2.0.1. A run in
    the other version can neither send those messages nor end that transaction (the central
    system knows it by the other version's ids): its owner keeps the old version, or refuses to
    run, rather than drop or garble them."""
    actions = {action for _, action, _ in pending}
    if "TransactionEvent" in actions or any(tx.get("station_id") for tx in kept_tx):
        return "2.0.1"
    if actions & {"StartTransaction", "StopTransaction"} or kept_tx:
        return "1.6"
    return None
