"""What waits for the writes queued so far to be committed: answers, as futures or as jobs.

Why a module of its own: "answered means logged" rests on this bookkeeping alone. The writer
counts what is queued and what is committed twice over — its items and the message log's rows
(csms.store.log_rows), which skip the queue of items — and a waiter is released once both
counts have reached what they were when it came. Both only grow and both are committed oldest
first, so waiters are released from the head, in the order they came.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from csms.store.log_rows import LogRows

log = logging.getLogger(__name__)
Waiter = asyncio.Future[None] | Callable[[], None]


class Barriers:
    """The writer's counts and the waiters on them (see the module)."""

    __slots__ = ("queued", "committed", "frames", "_waiting")

    def __init__(self, frames: LogRows) -> None:
        self.queued = 0  # items ever queued
        self.committed = 0  # items ever taken into a finished batch (committed or failed)
        self.frames = frames  # the log rows, counted the same way
        self._waiting: deque[tuple[int, int, Waiter]] = deque()

    def settled(self) -> bool:
        """Whether everything queued so far is committed."""
        return self.committed >= self.queued and self.frames.committed >= self.frames.queued

    def add(self, waiter: Waiter) -> None:
        """Release ``waiter`` once what is queued now is committed."""
        self._waiting.append((self.queued, self.frames.queued, waiter))

    def release(self, everything: bool = False) -> None:
        """Release the waiters whose writes are committed (``everything``: all of them, as the
        writer stops: none is left waiting forever). A job runs before any task waiting on a
        future resumes; one that fails is logged."""
        waiting = self._waiting
        committed, logged = self.committed, self.frames.committed
        while waiting and (everything or (waiting[0][0] <= committed and waiting[0][1] <= logged)):
            waiter = waiting.popleft()[2]
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(None)
                continue
            try:
                waiter()
            except Exception:
                log.exception("a job after a commit failed")
