"""An answer sent by the writer as the batch holding its log row ends (csms.store.writer.Writer.after_commit).

Why: with durable answers every CALLRESULT waits until its frame's log row is committed. Waiting
in the connection's task meant a future, a suspension and a wake-up per answer, ~12 % of the
server's CPU under bench/csms_load.py. Here the task hands the frame over and goes back to
reading (a charge point sends its next call only once answered), and the writer writes it to
the socket as websockets' own ``send`` would when nothing holds it up: the connection open, no
fragmented message in progress, the transport not paused by flow control. Otherwise ``send``
itself does it, in a task, and waits its turn.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

log = logging.getLogger(__name__)
_sending: set[asyncio.Task[None]] = set()  # sends left to websockets, held until done


def deliver(ws: ServerConnection, frame: str) -> None:
    """Write ``frame`` to ``ws`` now if it can take it as ``ws.send`` would; else send it later."""
    if ws.protocol.state is not State.OPEN:
        return  # closed or closing: ``send`` would raise ConnectionClosed, which an answer ignores
    if getattr(ws, "send_in_progress", True) is None and not ws.paused and not ws.transport.is_closing():
        try:
            ws.protocol.send_text(frame.encode())
            ws.send_data()
        except Exception:  # what ``send`` does with a failing write: the connection is over
            log.debug("sending an answer failed", exc_info=True)
            ws.transport.abort()
        return
    task = asyncio.ensure_future(_send(ws, frame))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


async def _send(ws: ServerConnection, frame: str) -> None:
    try:
        await ws.send(frame)
    except ConnectionClosed:
        pass
