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
