"""Tables come only from Alembic migrations, and the migrations match the models exactly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Integer, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import charger_sim.models  # noqa: F401
import csms.store.access  # noqa: F401
import csms.store.alert_models  # noqa: F401
import csms.store.energy_models  # noqa: F401
import csms.store.models  # noqa: F401
import csms.store.security_models  # noqa: F401
import lockers.models  # noqa: F401
from chargebay.migrate import alembic_config, upgrade, upgrade_sync
from common.db import Base, create_engine
from tests.conftest import POSTGRES, _pg, _pg_database


async def test_migrations_create_exactly_the_models(db_url: str) -> None:
    """``db_url`` is migrated (SQLite, or PostgreSQL in the second pass of make test)."""
    def diff(conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


def test_no_code_creates_tables_outside_migrations() -> None:
    root = Path(__file__).resolve().parents[1]
    offenders = [str(p) for pkg in ("api", "chargebay", "charger_sim", "common", "csms", "locker_bridge")
                 for p in (root / pkg).rglob("*.py") if "create_all(" in p.read_text()]
    assert offenders == []


# -- ids are never given twice (issue #13, item 11) ----------------------------------------------
# Row ids nobody refers to: the central system's append-only logs (their rows are read by charge
# point and time, never looked up, deleted or audited by id; AUTOINCREMENT would cost every one
# of thousands of inserts a second an extra write) and the one-row integration settings.
INTERNAL_IDS = {"messages", "message_pending", "meter_values", "status_history", "notifications", "stop_records",
                "security_events", "integration_settings", "load_group_samples"}


def _sqlite_tables(path: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))


def test_every_id_people_or_the_audit_log_refer_to_is_never_reused(tmp_path: Path) -> None:
    """Every table with an integer id but the internal ones is AUTOINCREMENT on SQLite, in the
    models and in the database the migrations build."""
    referred = {t.name for t in Base.metadata.tables.values()
                if [c.name for c in t.primary_key.columns] == ["id"]
                and isinstance(t.c.id.type, Integer) and t.name not in INTERNAL_IDS}
    assert {"lockers", "banks", "devices", "users", "audit_log", "rentals", "api_tokens",
            "transactions"} <= referred
    models = {name for name in referred
              if Base.metadata.tables[name].dialect_kwargs.get("sqlite_autoincrement")}
    assert models == referred
    upgrade_sync(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    built = {name for name, sql in _sqlite_tables(tmp_path / "x.db").items() if "AUTOINCREMENT" in sql}
    assert built == referred


def _sqlite_schema(path: Path) -> dict[str, Any]:
    """What compare_metadata does not look at: AUTOINCREMENT, foreign-key actions, and indexes
    with their uniqueness and partial WHERE (autoindex names differ after a rebuild: left out)."""
    schema: dict[str, Any] = {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                    "AND name NOT IN ('alembic_version', 'sqlite_sequence')"):
            fks = sorted(tuple(r[2:7]) for r in db.execute(f"PRAGMA foreign_key_list('{name}')"))
            indexes = set()
            for _, index, unique, _, partial in db.execute(f"PRAGMA index_list('{name}')"):
                columns = tuple(r[2] for r in db.execute(f"PRAGMA index_info('{index}')"))
                clause = None
                if partial:
                    [sql_of_index] = db.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                                (index,)).fetchone()
                    clause = " ".join(sql_of_index.split(" WHERE ", 1)[1].split())
                indexes.add((unique, columns, clause))
            schema[name] = {"autoincrement": "AUTOINCREMENT" in sql, "fks": fks,
                            "columns": sorted(r[1:] for r in db.execute(f"PRAGMA table_info('{name}')")),
                            "indexes": indexes}
    return schema


def test_sqlite_schema_built_by_the_migrations_is_the_models_own(tmp_path: Path) -> None:
    upgrade_sync(f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'models.db'}")
    Base.metadata.create_all(engine)
    engine.dispose()
    migrated, models = _sqlite_schema(tmp_path / "migrated.db"), _sqlite_schema(tmp_path / "models.db")
    assert migrated.keys() == models.keys()
    assert {t: s for t, s in migrated.items() if s != models[t]} == {
        t: models[t] for t, s in migrated.items() if s != models[t]}


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: SQLite, or PostgreSQL in the second pass of make test."""
    if not POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"cb_upgrade_{os.getpid()}"
    _pg(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    yield _pg_database(POSTGRES, name)
    _pg(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


T = {name: Base.metadata.tables[name] for name in (
    "banks", "lockers", "rentals", "lock_groups", "lock_group_members", "audit_log", "users")}


async def _history_before_0007(engine: AsyncEngine) -> None:
    """A site used under revision 0006: three lockers, the newest deleted (audited as the back
    office does); seven lock groups, all deleted; a user renting locker 2."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(T["banks"].insert().values(name="BANK-A", port="COM2", address=1))
        for bay in (1, 2, 3):
            await conn.execute(T["lockers"].insert().values(
                identity=f"BANK-A-{bay:02d}", bank_id=1, bay=bay, out_of_service=False,
                broken_lock=False, created_at=now))
        await conn.execute(T["users"].insert().values(username="ann", name="Ann", active=True,
                                                      created_at=now))
        await conn.execute(T["rentals"].insert().values(locker_id=2, user_id=1, created_at=now))
        await conn.execute(T["lock_group_members"].delete())
        for n in range(1, 8):
            await conn.execute(T["lock_groups"].insert().values(name=f"group {n}"))
        await conn.execute(T["lock_groups"].delete())
        await conn.execute(T["lockers"].delete().where(T["lockers"].c.id == 3))
        await conn.execute(T["audit_log"].insert(), [
            {"at": now, "actor": "admin", "action": "locker.delete", "locker_id": 3,
             "details": '{"identity": "BANK-A-03"}'},
            {"at": now, "actor": "admin", "action": "lockgroup.delete", "locker_id": None,
             "details": '{"groupid": 7, "name": "group 7"}'},
            {"at": now, "actor": "board", "action": "door.opened", "locker_id": None,
             "details": "not json"}])


async def _snapshot(engine: AsyncEngine) -> dict[str, list[Any]]:
    async with engine.connect() as conn:
        return {name: [tuple(r) for r in await conn.execute(select(t).order_by(*t.primary_key))]
                for name, t in T.items()}


async def test_upgrade_keeps_rows_and_ids_and_gives_no_id_ever_used_again(empty_url: str) -> None:
    """0006 -> 0007 on a database in use: every row and id stays (no rental cascades away with
    the rebuilt lockers table), foreign keys still hold, and the next locker and lock group get
    ids above any ever used, also ids only the audit log remembers (SQLite forgot them)."""
    await upgrade(empty_url, "0006")
    engine = create_engine(empty_url)
    try:
        await _history_before_0007(engine)
        before = await _snapshot(engine)
        await engine.dispose()
        await upgrade(empty_url)
        assert await _snapshot(engine) == before
        async with engine.begin() as conn:
            assert (await conn.execute(select(T["rentals"].c.locker_id))).scalars().all() == [2]
            new_locker = await conn.execute(T["lockers"].insert().values(
                identity="BANK-A-04", bank_id=1, bay=4, out_of_service=False, broken_lock=False,
                created_at=datetime.now(UTC)))
            new_group = await conn.execute(T["lock_groups"].insert().values(name="group 8"))
        assert new_locker.inserted_primary_key[0] == 4
        assert new_group.inserted_primary_key[0] == 8
        with pytest.raises(IntegrityError):  # the references are still enforced
            async with engine.begin() as conn:
                await conn.execute(T["rentals"].insert().values(
                    locker_id=99, created_at=datetime.now(UTC)))
    finally:
        await engine.dispose()


def test_0007_refuses_to_rebuild_with_foreign_keys_on(tmp_path: Path) -> None:
    """Dropping a table that others reference would delete their rows (ON DELETE CASCADE)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade_sync(url, "0006")
    cfg = alembic_config(url)
    with pytest.raises(RuntimeError, match="foreign keys off"):
        with contextlib.closing(sqlalchemy.create_engine(url.replace("+aiosqlite", "")).connect()) as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


async def _frames(engine: AsyncEngine, *cps: str) -> None:
    async with engine.begin() as conn:
        for cp in cps:
            await conn.execute(sqlalchemy.text(
                "INSERT INTO messages (charge_point_id, ts, direction, message_type, message_id, action, frame) "
                "VALUES (:cp, :ts, 'in', 2, '1', 'Heartbeat', '[2,\"1\",\"Heartbeat\",{}]')"),
                {"cp": cp, "ts": datetime.now(UTC)})


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sqlalchemy.text(sql))]


async def test_0015_moves_the_log_index_out_and_back_keeping_every_frame_findable(empty_url: str) -> None:
    """0014 -> 0015 on a log in use indexes every frame already there; the trigger notes new ones
    as pending (on this dialect); 0015 -> 0014 gives the plain index back and leaves no trigger;
    up again, every frame is indexed once."""
    await upgrade(empty_url, "0014")
    engine = create_engine(empty_url)
    try:
        await _frames(engine, "CP-A", "CP-B", "CP-A")
        await engine.dispose()
        await upgrade(empty_url)
        assert await _rows(engine, "SELECT charge_point_id, id FROM message_index ORDER BY id") == [
            ("CP-A", 1), ("CP-B", 2), ("CP-A", 3)]
        await _frames(engine, "CP-C")
        assert await _rows(engine, "SELECT id, charge_point_id FROM message_pending") == [(4, "CP-C")]
        await engine.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "0014")
        await _frames(engine, "CP-D")  # no trigger left behind to fail on a missing table
        tables = {name for (name,) in await _rows(engine, (
            "SELECT name FROM sqlite_master" if empty_url.startswith("sqlite")
            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
        assert not {"message_index", "message_pending"} & tables
        indexes = {name for (name,) in await _rows(engine, (
            "SELECT name FROM sqlite_master WHERE type = 'index'" if empty_url.startswith("sqlite")
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'messages'"))}
        assert "ix_messages_cp_id" in indexes
        await engine.dispose()
        await upgrade(empty_url)
        assert await _rows(engine, "SELECT charge_point_id, id FROM message_index ORDER BY id") == [
            ("CP-A", 1), ("CP-B", 2), ("CP-A", 3), ("CP-C", 4), ("CP-D", 5)]
    finally:
        await engine.dispose()
