"""The life of one OCPP connection on the charge point side, shared by the simulator's stations
and the locker bridge's bays: boot while reading (a socket that dies during the boot ends the
session), then heartbeats and the after-boot work until the reader ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


async def booted_session(reader: asyncio.Future[Any], boot: Callable[[], Awaitable[None]],
                         heartbeats: Callable[[], Coroutine[Any, Any, None]],
                         after_boot: Callable[[], Coroutine[Any, Any, None]],
                         spawn: Callable[[Coroutine[Any, Any, None]], Any],
                         ends_quietly: tuple[type[BaseException], ...]) -> None:
    """Run until ``reader`` (the connection's message loop) ends; it is cancelled and awaited on
    the way out. The exceptions in ``ends_quietly`` just end the session."""
    heartbeat: asyncio.Task[None] | None = None
    try:
        booting = asyncio.ensure_future(boot())
        done, _ = await asyncio.wait({booting, reader}, return_when=asyncio.FIRST_COMPLETED)
        if booting not in done:
            booting.cancel()
            # it may have failed (Offline) in the same moment: collect that, not just cancel
            await asyncio.gather(booting, return_exceptions=True)
            return
        booting.result()
        heartbeat = asyncio.ensure_future(heartbeats())
        spawn(after_boot())
        await reader
    except ends_quietly:
        pass
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            # a heartbeat that failed as the socket closed: collect it, or asyncio logs it
            await asyncio.gather(heartbeat, return_exceptions=True)
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
