"""An answer sent by the writer as the batch holding its log row ends (csms.store.writer.Writer.after_commit).

Why: with durable answers every CALLRESULT waits until its frame's log row is committed. Waiting
in the connection's task meant a future, a suspension and a wake-up per answer, ~12 % of the
server's CPU under bench/csms_load.py. Here the task hands the frame over and goes back to
reading (a charge point sends its next call only once answered), and the writer writes it to
the socket as websockets' own ``send`` does before it waits for the buffer to drain; a
connection whose charge point does not read falls back to waiting (csms.connection.HANDED_MAX).
During a fragmented message (websockets' own, never chargebay's) ``send`` itself does it, in a
task, and waits its turn.
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
    """Write ``frame`` to ``ws`` now, as ``ws.send`` does before it drains (the connection, not
    this, holds back a charge point that does not read: csms.connection.HANDED_MAX)."""
    if ws.protocol.state is not State.OPEN:
        return  # closed or closing: ``send`` would raise ConnectionClosed, which an answer ignores
    # a fragmented message being sent (never by chargebay): ``send`` waits for its end. The
    # attribute is websockets 16's; 14 and 15 name it fragmented_send_waiter.
    if getattr(ws, "send_in_progress", None) is None and getattr(ws, "fragmented_send_waiter", None) is None:
        try:
            ws.protocol.send_text(frame.encode())
            ws.send_data()
        except Exception as exc:  # what ``send`` does with a failing write: the connection is over
            log.debug("sending an answer failed", exc_info=True)
            keep_cause = getattr(ws, "set_connection_exc", None)
            if keep_cause is not None:
                keep_cause(exc)
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
