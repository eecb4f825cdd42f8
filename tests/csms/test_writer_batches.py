"""The writer's batches (issue #18): a connect storm of new charge points is one multi-row INSERT
per batch, not an operation each; regrouping writes into multi-row statements applies an online
and an offline update of one charge point (updates by different keys) in queue order, and never a
row referring to a new charge point before it. (Updates by the same keys but of different columns
may still be applied shape by shape: only columns both set, like last_seen, can then be off.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from csms.store.models import ChargePoint, Connector
from csms.store.writer import Writer
from csms.timeutil import now_utc

_CP = cast(Table, ChargePoint.__table__)
_CONNECTORS = cast(Table, Connector.__table__)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


def new_cp(cp_id: str) -> dict[str, Any]:
    return {"id": cp_id, "registration_status": "Accepted", "online": False, "created_at": now_utc()}


def online(cp_id: str, flag: bool) -> dict[str, Any]:
    return {"id": cp_id, "online": flag, "node_id": "n1"}


def status(cp_id: str, value: str) -> dict[str, Any]:
    return {"charge_point_id": cp_id, "connector_id": 1, "status": value, "error_code": "NoError",
            "info": None, "vendor_id": None, "vendor_error_code": None, "timestamp": None,
            "updated_at": now_utc()}


async def test_a_storm_of_new_charge_points_is_a_few_statements_in_queue_order(engine: AsyncEngine,
                                                                               db_url: str) -> None:
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2].split()[0].upper()))
    writer = Writer(engine)
    writer.start()
    try:
        writer.update(_CP, ("id", "node_id"), online("CP-OLD", False))  # an update shape seen first
        for n in range(300):
            cp = f"CP-{n:03}"
            writer.create(_CP, new_cp(cp))
            writer.update(_CP, "id", online(cp, True))
            writer.upsert(_CONNECTORS, status(cp, "Available"), ("charge_point_id", "connector_id"))
        writer.create(_CP, {**new_cp("CP-000"), "registration_status": "Rejected"})  # a racing twin
        await writer.flush()
        storm, statements[:] = list(statements), []
        writer.update(_CP, ("id", "node_id"), online("CP-299", False))  # the offline shape seen first
        for n in range(0, 300, 3):  # gone at once: offline after online, though that shape came first
            cp = f"CP-{n:03}"
            writer.update(_CP, "id", online(cp, True))
            writer.update(_CP, ("id", "node_id"), online(cp, False))
        await writer.flush()
    finally:
        await writer.close()
    async with engine.connect() as conn:
        cps = {r.id: r for r in (await conn.execute(select(_CP))).all()}
        statuses = (await conn.execute(select(_CONNECTORS.c.status))).scalars().all()
    assert len(cps) == 300 and len(statuses) == 300  # no connector row refused for want of its charge point
    assert {cp for cp, r in cps.items() if r.online} == {f"CP-{n:03}" for n in range(299) if n % 3}
    assert cps["CP-000"].registration_status == "Accepted"  # the twin changed nothing
    # new rows first, then one statement a kind (on SQLite cut into chunks of 64 rows, whose
    # statements SQLite compiles once: csms.store.bulk.BulkStatement.sizes)
    kinds = [kind for n, kind in enumerate(storm) if n == 0 or storm[n - 1] != kind or kind == "UPDATE"]
    assert kinds == ["INSERT", "UPDATE", "UPDATE", "INSERT"], storm
    assert len(storm) <= (4 if "postgresql" in db_url else 2 + 2 * (301 // 64 + 7)), storm


async def test_datetimes_of_one_batch_are_each_written_as_themselves(engine: AsyncEngine) -> None:
    """Datetimes go to the driver as they are (on SQLite written by common.sqlite_driver's
    adapter as SQLAlchemy writes them): one object shared by many rows and many distinct ones,
    in one batch, all come back as they went in, and SQLAlchemy reads them back."""
    from datetime import UTC, datetime, timedelta

    shared = datetime(2026, 12, 5, 10, 0, 0, 1, tzinfo=UTC)
    writer = Writer(engine)
    writer.start()
    try:
        for n in range(200):
            cp = f"CP-T{n:03}"
            writer.create(_CP, {**new_cp(cp), "created_at": shared + timedelta(microseconds=n)})
            writer.upsert(_CONNECTORS, {**status(cp, "Available"), "updated_at": shared},
                          ("charge_point_id", "connector_id"))
        await writer.flush()
    finally:
        await writer.close()
    async with engine.connect() as conn:
        created = dict((await conn.execute(select(_CP.c.id, _CP.c.created_at))).all())
        updated = (await conn.execute(select(_CONNECTORS.c.updated_at))).scalars().all()
    as_utc = {cp: (t if t.tzinfo else t.replace(tzinfo=UTC)) for cp, t in created.items()}
    assert as_utc == {f"CP-T{n:03}": shared + timedelta(microseconds=n) for n in range(200)}
    assert {(t if t.tzinfo else t.replace(tzinfo=UTC)) for t in updated} == {shared}


async def test_last_seen_touches_go_out_in_chunks_and_none_is_lost(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet's two seconds of touches are spread over several commits of at most TOUCH_CHUNK
    updates each (one huge commit held every answer waiting for the store); each charge point
    ends with its latest time, touches arriving meanwhile included."""
    from csms.store import touches as touches_module

    monkeypatch.setattr(touches_module, "TOUCH_CHUNK", 40)
    sizes: list[int] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: sizes.append(len(params) if many else 1)
                 if "SET LAST_SEEN" in statement.upper() else None)
    writer = Writer(engine)
    writer.start()
    try:
        writer.insert_many(_CP, [new_cp(f"CP-{n:03}") for n in range(150)])
        await writer.flush()
        first = now_utc()
        later = first + timedelta(seconds=1)
        for n in range(150):
            writer.touch(f"CP-{n:03}", first)
        writer.touch("CP-000", later)  # touched again before its chunk went out: the latest wins
        await writer.flush()
        assert sizes == [40, 40, 40, 30]  # flush waited for every chunk
        writer.touch("CP-149", later)
        await writer.flush()
    finally:
        await writer.close()
    assert sizes == [40, 40, 40, 30, 1]
    async with engine.connect() as conn:
        seen = dict((await conn.execute(select(_CP.c.id, _CP.c.last_seen))).all())
    assert all(seen[f"CP-{n:03}"] is not None for n in range(150))
    latest = later.replace(tzinfo=None)
    assert {cp for cp, at in seen.items() if at.replace(tzinfo=None) == latest} >= {"CP-000", "CP-149"}
