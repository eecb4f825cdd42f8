"""One connection kept open for the single writer (csms.store.writer)."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class HeldConnection:
    """The writer's connection, kept from commit to commit (a checkout from the pool, its return
    and their bookkeeping were ~5 % of a REST command's CPU), opened anew once it broke."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        conn = self._conn
        if conn is not None and (conn.closed or conn.invalidated):
            await self.close()
            conn = None
        if conn is None:
            conn = self._conn = await self._engine.connect()
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped all the same
                await conn.close()
