"""Run the Alembic migrations programmatically, from `chargebay db upgrade` and at `serve` start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import create_engine, is_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    engine: AsyncEngine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if is_sqlite(url):
                await foreign_keys_off(conn)
            async with conn.begin():
                def _run(sync_conn: object) -> None:
                    cfg = alembic_config(url)
                    cfg.attributes["connection"] = sync_conn
                    command.upgrade(cfg, revision)

                await conn.run_sync(_run)
    finally:
        await engine.dispose()  # the connection never goes back to work with its keys off


async def foreign_keys_off(conn: AsyncConnection) -> None:
    """SQLite rebuilds a table by copying, dropping and renaming it (Alembic's batch mode); with
    foreign keys on, dropping a table that others reference deletes their rows (ON DELETE
    CASCADE). The pragma only takes effect outside a transaction, so it comes first; the
    migrations that rebuild check the references themselves (PRAGMA foreign_key_check)."""
    await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    await conn.commit()


def upgrade_sync(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(url, revision))
