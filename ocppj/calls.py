"""Message-id bookkeeping, without sockets: new ids, the one outstanding call, ids seen before.

OCPP-J lets each side have one call outstanding at a time, answered by a frame carrying its id.
:class:`Outstanding` holds that call: :meth:`~Outstanding.begin` refuses a second one,
:meth:`~Outstanding.match` says whether an answer is the one awaited (anything else is an
unexpected answer: the caller drops it, logging it as it sees fit). What waits for the answer (a
future, a queue) is the caller's business, kept opaque here as ``waiter``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Generic, TypeVar

W = TypeVar("W")
RECENT_IDS = 16  # message ids remembered per connection to refuse a repeated one


class CallInProgress(RuntimeError):
    """A second call while one is outstanding: OCPP-J allows one per side and connection."""


class MessageIds:
    """Outbound message ids: ``prefix`` and a counter (short: OCPP-J allows 36 characters).

    A process shares one of these between its connections; a prefix random per process keeps
    ids of several processes apart in a shared message log.
    """

    __slots__ = ("prefix", "_counter")

    def __init__(self, prefix: str = "", start: int = 1) -> None:
        self.prefix = prefix
        self._counter: Iterator[int] = itertools.count(start)

    def next(self) -> str:
        return f"{self.prefix}{next(self._counter)}"


class Pending(Generic[W]):
    """The call awaiting its answer: its id, its action and whatever waits for the answer."""

    __slots__ = ("message_id", "action", "waiter")

    def __init__(self, message_id: str, action: str, waiter: W) -> None:
        self.message_id = message_id
        self.action = action
        self.waiter = waiter


class Outstanding(Generic[W]):
    """The one-outstanding-call rule of one connection."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: Pending[W] | None = None

    def begin(self, message_id: str, action: str, waiter: W) -> Pending[W]:
        """Make this call the outstanding one; :class:`CallInProgress` if one is already."""
        if self.pending is not None:
            raise CallInProgress(f"call {self.pending.message_id} ({self.pending.action}) is "
                                 "still outstanding")
        self.pending = Pending(message_id, action, waiter)
        return self.pending

    def match(self, message_id: str | None) -> Pending[W] | None:
        """The outstanding call ``message_id`` answers, or None: an unexpected answer (to no
        call, to one that timed out, or to another connection's)."""
        pending = self.pending
        if pending is None or message_id is None or pending.message_id != message_id:
            return None
        return pending

    def end(self) -> Pending[W] | None:
        """The call is over (answered, timed out or abandoned): the next one may begin."""
        pending, self.pending = self.pending, None
        return pending


class RecentIds:
    """The last :data:`RECENT_IDS` message ids a peer used, to refuse one used again."""

    __slots__ = ("_ids", "_size")

    def __init__(self, size: int = RECENT_IDS) -> None:
        # a dict as an ordered set: found by hash, not by comparing with each id in turn (the
        # scan of a deque was ~3 % of a 1.6 call's CPU, bench/csms_load.py), oldest first
        self._ids: dict[str, None] = {}
        self._size = size

    def repeated(self, message_id: str) -> bool:
        """True if ``message_id`` was used lately; otherwise remember it and say False."""
        ids = self._ids
        if message_id in ids:
            return True
        ids[message_id] = None
        if len(ids) > self._size:
            del ids[next(iter(ids))]
        return False
