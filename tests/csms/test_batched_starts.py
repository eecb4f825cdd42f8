"""StartTransactions a writer batch holds side by side run as one operation (issue #18,
csms.store.starts): a few statements for the batch instead of three per start, and for every
start the result it would have had run alone, in queue order — the same transaction ids, statuses
(ConcurrentTx, Invalid, Blocked, replays, superseded connectors, a reservation used) and rows. Runs
on SQLite and, in make test's PostgreSQL pass, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import create_engine
from csms.store.id_tag_book import TagBook
from csms.store.models import ChargePoint, IdTag, Transaction, table
from csms.store.security_models import Reservation
from csms.store.starts import StartRequest, StartResult, start_transaction
from csms.store.writer import Writer
from tests.conftest import fresh_database

_TX = table(Transaction)
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
Step = Callable[[AsyncConnection], Awaitable[Any]]


@pytest.fixture
def second_db_url(tmp_path: Path, migrated_template: Path | str) -> Iterator[str]:
    (tmp_path / "second").mkdir()
    yield from fresh_database(tmp_path / "second", migrated_template)


@asynccontextmanager
async def store(url: str) -> AsyncIterator[tuple[AsyncEngine, Writer, TagBook]]:
    """A writer on ``url`` with eight charge points, tags of every kind and one reservation."""
    engine = create_engine(url)
    writer = Writer(engine)
    writer.start()
    try:
        for n in range(8):
            writer.create(table(ChargePoint), {"id": f"CP{n}", "registration_status": "Accepted",
                                               "online": True, "created_at": T0})
        for tag, status, expiry, most in (("ONE", "Accepted", None, None), ("TWO", "Accepted", None, 2),
                                          ("BLOCKED", "Blocked", None, None),
                                          ("OLD", "Accepted", T0 - timedelta(days=1), None)):
            writer.insert(table(IdTag), {"id_tag": tag, "status": status, "expiry_date": expiry,
                                         "parent_id_tag": None, "max_concurrent_tx": most, "created_at": T0})
        writer.insert(table(Reservation), {"id": 7, "charge_point_id": "CP5", "connector_id": 1, "id_tag": "ONE",
                                           "parent_id_tag": None, "expiry_date": T0 + timedelta(days=9),
                                           "status": "Accepted", "created_at": T0})
        await writer.flush()
        yield engine, writer, TagBook(engine)
    finally:
        await writer.close()
        await engine.dispose()


def start(book: TagBook, cp: int, connector: int, tag: str, minute: int, reservation: int | None = None) -> Step:
    return start_transaction(StartRequest(f"CP{cp}", connector, tag, 1000 * minute, T0 + timedelta(minutes=minute),
                                          reservation), accept_unknown=False, stale_after=0, book=book)


def stop_open_on(cp: int, connector: int) -> Step:
    """An operation of another kind (an operator ending a transaction) between two starts."""
    async def op(conn: AsyncConnection) -> int:
        done = await conn.execute(update(_TX).where(
            _TX.c.charge_point_id == f"CP{cp}", _TX.c.connector_id == connector, _TX.c.stop_timestamp.is_(None),
        ).values(stop_timestamp=T0, meter_stop=0, end_source="operator"))
        return int(done.rowcount)
    return op


def scenario(book: TagBook) -> list[Step]:
    return [
        start(book, 0, 1, "ONE", 1),          # Accepted
        start(book, 1, 1, "ONE", 2),          # ConcurrentTx: ONE allows one live transaction
        start(book, 2, 1, "TWO", 3),          # Accepted
        start(book, 3, 1, "TWO", 4),          # Accepted: TWO allows two
        start(book, 4, 1, "TWO", 5),          # ConcurrentTx
        start(book, 4, 2, "NOBODY", 6),       # Invalid (unknown tags are not accepted here)
        start(book, 6, 1, "BLOCKED", 7),      # Blocked
        start(book, 6, 2, "OLD", 8),          # Expired
        start(book, 0, 1, "ONE", 1),          # a replay of the first: its id, Accepted
        start(book, 2, 1, "NOBODY", 9),       # Invalid, and supersedes CP2's TWO on connector 1 ...
        start(book, 7, 1, "TWO", 10),         # ... so TWO has one live transaction left: Accepted
        stop_open_on(0, 1),                   # ends the first ONE transaction ...
        start(book, 7, 2, "ONE", 11),         # ... so ONE starts again: Accepted
        start(book, 5, 1, "ONE", 12, 7),      # ConcurrentTx (CP7's): the reservation stays
        start(book, 5, 2, "NOBODY", 13),      # Invalid
    ]


async def rows(engine: AsyncEngine, name: str) -> list[tuple[Any, ...]]:
    t = _TX if name == "transactions" else table(Reservation)
    columns = [c for c in t.c if c.name not in ("created_at", "last_activity_at", "ended_at")]
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(select(*columns).order_by(t.c.id))]


def shape(result: Any) -> Any:
    if isinstance(result, StartResult):
        return (result.transaction_id, result.info["status"], result.replayed,
                [(e.transaction_id, e.end_source) for e in result.superseded])
    return result


async def test_a_batch_of_starts_answers_and_stores_what_they_would_one_by_one(
        db_url: str, second_db_url: str) -> None:
    async with store(db_url) as (engine, writer, book):
        steps = scenario(book)
        statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        # queued before the writer runs again: one batch (the statement count below shows it)
        batched = [shape(r) for r in await asyncio.gather(*(writer.run(step) for step in steps))]
        batched_rows = await rows(engine, "transactions"), await rows(engine, "reservations")
    async with store(second_db_url) as (engine, writer, book):
        alone = [shape(await writer.run(step)) for step in scenario(book)]
        alone_rows = await rows(engine, "transactions"), await rows(engine, "reservations")
    assert batched == alone
    assert batched_rows == alone_rows
    assert [r[1] for r in batched if isinstance(r, tuple)] == [
        "Accepted", "ConcurrentTx", "Accepted", "Accepted", "ConcurrentTx", "Invalid", "Blocked", "Expired",
        "Accepted", "Invalid", "Accepted", "Accepted", "ConcurrentTx", "Invalid"]
    first, replay, superseding = batched[0], batched[8], batched[9]
    assert replay[0] == first[0] and replay[2] is True
    assert superseding[3] == [(batched[2][0], "superseded")]
    assert batched[11] == 1  # the operation between them ended one transaction
    assert not [s for s in statements if s.lstrip().upper().startswith("SAVEPOINT")]


async def test_two_hundred_new_starts_are_a_few_statements(db_url: str) -> None:
    async with store(db_url) as (engine, writer, book):
        for n in range(200):
            writer.create(table(ChargePoint), {"id": f"S{n}", "registration_status": "Accepted", "online": True,
                                               "created_at": T0})
        await writer.flush()
        statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        results = await asyncio.gather(*(writer.run(start_transaction(StartRequest(
            f"S{n}", 1, "TWO" if n == 0 else f"TAG{n}", 5, T0, None), True, 0, book)) for n in range(200)))
    assert [r.info["status"] for r in results] == ["Accepted"] * 200
    assert [r.transaction_id for r in results] == sorted({r.transaction_id for r in results})
    # the connectors' lookup, the tags, TWO's open transactions, one multi-row INSERT
    assert len(statements) == 4, statements
