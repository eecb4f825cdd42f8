"""The message log's rows on their way to the store: plain tuples, one multi-row INSERT a commit.

Why apart from the writer's other rows: every frame in and out is a row, two or more per call,
so this is the store's hottest path by far. Measured with ``bench/csms_load.py`` (1,000 charge
points, interleaved runs): the log cost ~23 µs of the server's ~92 µs a call when each row was a
dict queued as a writer item, grouped by table at commit and flattened column by column. Here a
connection appends a tuple in column order, and the writer takes them all at its next commit and
inserts them as they are (:meth:`csms.store.bulk.BulkStatement.execute_tuples`).

Counted apart from the writer's queue (:meth:`csms.store.writer.Writer.durable` waits for both):
an answer still leaves only once the frames logged before it are committed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.ratelimit import Throttle
from csms.store.bulk import BulkStatement
from csms.store.models import Message, table

# (charge_point_id, ts, direction, message_type, message_id, action, frame)
LogRow = tuple[str, datetime, str, int, str | None, str | None, str]
COLUMNS = ("charge_point_id", "ts", "direction", "message_type", "message_id", "action", "frame")
MAX_ROWS = 20_000  # rows a commit takes; the rest go with the next (a commit stays short)
log = logging.getLogger(__name__)
_dropped = Throttle(10.0)


class LogRows:
    """Frames appended by the connections and not yet taken by a commit."""

    __slots__ = ("rows", "queued", "committed", "_statement")

    def __init__(self, paramstyle: str) -> None:
        self.rows: list[LogRow] = []
        self.queued = 0  # rows ever appended
        self.committed = 0  # rows ever taken into a finished commit
        self._statement = BulkStatement(table(Message), COLUMNS, (), paramstyle)

    def take(self) -> list[LogRow]:
        """The rows for the next commit (the oldest ``MAX_ROWS``)."""
        if len(self.rows) <= MAX_ROWS:
            taken, self.rows = self.rows, []
        else:
            taken, self.rows = self.rows[:MAX_ROWS], self.rows[MAX_ROWS:]
        return taken

    async def insert(self, conn: AsyncConnection, rows: list[LogRow]) -> None:
        await self._statement.execute_tuples(conn, rows)


async def keep_apart(engine: AsyncEngine, rows: list[LogRow]) -> None:
    """Log rows whose commit failed with others, committed on their own.

    If they fail again and the database still answers, a row of them is what it refuses: they are
    halved until that row is found, and the others kept. If the database does not answer, they
    are dropped (logged): trying 20,000 rows one by one against a database that is away would
    only hold up the answers queued behind them."""
    try:
        async with engine.begin() as conn:
            await LogRows(engine.dialect.paramstyle).insert(conn, rows)
        return
    except Exception:
        if len(rows) == 1 or not await _answers(engine):
            _dropped.log(log, logging.ERROR, "%d message log rows failed and were dropped", len(rows),
                         exc_info=True)
            return
    half = len(rows) // 2
    await keep_apart(engine, rows[:half])
    await keep_apart(engine, rows[half:])


async def _answers(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    except Exception:
        return False
    return True
