"""Small helpers for reading what the central system stored."""

from __future__ import annotations

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


__all__ = ["rows", "add_id_tag", "select"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
