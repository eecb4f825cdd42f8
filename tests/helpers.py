"""Small helpers for reading what the central system stored."""

from __future__ import annotations

import os
import random
import socket
from typing import Any

from sqlalchemy import select, text

from chargebay.stack import Stack


async def rows(stack: Stack, sql: str, **params: Any) -> list[Any]:
    """Commit pending writes, then run a read query on the real database."""
    await stack.central.writer.flush()
    async with stack.central.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).mappings())


async def add_id_tag(stack: Stack, id_tag: str, status: str = "Accepted", **extra: Any) -> None:
    from csms.store.models import IdTag
    from csms.timeutil import now_utc

    async with stack.central.engine.begin() as conn:
        await conn.execute(IdTag.__table__.insert().values(
            id_tag=id_tag, status=status, created_at=now_utc(), **extra))
    stack.central.transactions.tags.forget(id_tag)  # written past IdTagService: say so


__all__ = ["rows", "add_id_tag", "select"]


_HANDED_OUT: set[int] = set()
_RANGE = (20000, 32000)  # shared by the xdist workers, below Linux's ephemeral range (32768-60999)


def free_port() -> int:
    """A port a child process can bind a moment later. Not one the kernel picked (``bind(0)``):
    that comes from the ephemeral range, where any outgoing connection or port-0 listener of
    this or another test may take it before the child binds. Instead a port below that range,
    from a block of its own per xdist worker, never handed out twice, and free right now."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    block = (_RANGE[1] - _RANGE[0]) // max(workers, 1)  # as many blocks as workers: none shared
    first = _RANGE[0] + (int(worker) if worker.isdigit() else 0) * block
    start = random.randrange(block)
    for step in range(block):
        port = first + (start + step) % block
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port left in {first}-{first + block - 1}")
