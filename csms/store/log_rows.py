"""The message log's rows on their way to the store: plain tuples, taken by the writer's next commit.

Why apart from the writer's other rows: every frame in and out is a row, two or more per call,
so this is the store's hottest path by far. Measured with ``bench/csms_load.py`` (1,000 charge
points, interleaved runs): the log cost ~23 µs of the server's ~92 µs a call when each row was a
dict queued as a writer item, grouped by table at commit and flattened column by column. Here a
connection appends a tuple in column order, and the writer takes them (up to ``MAX_ROWS``) at its
next commit and inserts them as they are (:meth:`csms.store.bulk.BulkStatement.execute_tuples`:
multi-row INSERTs, on SQLite in chunks of fixed sizes).

Counted apart from the writer's queue (:meth:`csms.store.writer.Writer.durable` waits for both):
an answer still leaves only once the frames logged before it are committed.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

from sqlalchemy import exc as sa_exc
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
# a value the driver cannot bind, a constraint a row breaks (asyncpg's own errors are matched by
# their class names in refused(): DataError, IntegrityError)
_REFUSALS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError,
             sa_exc.IntegrityError, sa_exc.DataError)
MAX_TRIES = 64  # commits keep_apart may spend finding refused rows (a few per row found)


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


async def keep_apart(engine: AsyncEngine, rows: list[LogRow], tries: list[int] | None = None) -> None:
    """Log rows whose commit failed with others, committed on their own.

    If the database refuses them again for what a row holds (a value it cannot take), they are
    halved until that row is found: it is dropped (logged, with its charge point and message id)
    and the others kept, within ``MAX_TRIES`` commits. If it fails for any other reason (away,
    locked, full, read-only), they are dropped at once (logged): halving 20,000 rows against a
    database that takes no writes would only hold up the answers queued behind them."""
    tries = [MAX_TRIES] if tries is None else tries
    tries[0] -= 1
    try:
        async with engine.begin() as conn:
            await LogRows(engine.dialect.paramstyle).insert(conn, rows)
        return
    except Exception as exc:
        if len(rows) == 1 or tries[0] <= 0 or not refused(exc):
            first = rows[0]
            _dropped.log(log, logging.ERROR, "%d message log rows failed and were dropped (the first: "
                         "%s, message %s)", len(rows), first[0], first[4], exc_info=True)
            return
    half = len(rows) // 2
    await keep_apart(engine, rows[:half], tries)
    await keep_apart(engine, rows[half:], tries)


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` says a value was refused (a type the driver cannot bind, a constraint),
    not the write itself: SQLAlchemy's wrapper, the driver's error and what it was raised from."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _REFUSALS) or type(seen).__name__ in ("DataError", "IntegrityError"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
