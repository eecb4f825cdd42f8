"""Background tasks of one owner (a simulated station, a locker bay): kept referenced until done,
cancelled together, and a failure logged unless it is one the owner expects (a peer that went
away is not an error)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class Background:
    def __init__(self, owner: str, expected: tuple[type[BaseException], ...],
                 log: logging.Logger) -> None:
        self.owner = owner
        self.expected = expected
        self.log = log
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any] | asyncio.Future[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, self.expected):
            self.log.error("%s: background task failed", self.owner, exc_info=exc)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    async def close(self) -> None:
        """Cancel every task and wait for them to finish."""
        pending = list(self.tasks)
        self.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def cancel_until_done(task: asyncio.Task[Any], every: float = 0.5) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again while it does not.

    Why not one ``cancel()`` and ``await task``: a cancel that lands just as a timeout inside the
    task fires can be swallowed (redis-py's reads under ``asyncio.timeout`` on Python 3.11, its
    issue #2551), and a task that loops on such reads then never ends: the await would wait for
    ever. What the task raised on its way out is its own business (logged there, not here)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit
