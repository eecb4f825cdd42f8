"""Stopping a task that swallows a cancel (as redis-py's reads can under asyncio.timeout on
Python 3.11): shutdown must still end."""

from __future__ import annotations

import asyncio

from common.tasks import cancel_until_done


async def _stubborn(cancels: list[int]) -> None:
    """Loops like a subscription reader whose first cancel is lost inside a timed read."""
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancels.append(1)
            if len(cancels) == 1:
                continue  # swallowed
            raise


async def test_a_swallowed_cancel_is_repeated_until_the_task_ends() -> None:
    cancels: list[int] = []
    task = asyncio.create_task(_stubborn(cancels))
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_until_done(task, every=0.05)
    assert task.cancelled() and len(cancels) == 2


async def test_one_cancel_and_an_await_would_wait_for_ever() -> None:
    """The reason for the helper: the plain pattern hangs on such a task."""
    cancels: list[int] = []
    task = asyncio.create_task(_stubborn(cancels))
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done and cancels == [1]
    await cancel_until_done(task, every=0.05)


async def test_a_task_that_failed_on_its_way_out_is_not_raised_here() -> None:
    async def fails() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            raise RuntimeError("cleanup failed")
    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_until_done(task)
    assert isinstance(task.exception(), RuntimeError)
