"""Alembic environment: one history for every chargebay table, run on the async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import charger_sim.models  # noqa: F401  (registers tables on the shared metadata)
import csms.store.access  # noqa: F401
import csms.store.alert_models  # noqa: F401
import csms.store.energy_models  # noqa: F401
import csms.store.models  # noqa: F401
import csms.store.security_models  # noqa: F401
import lockers.models  # noqa: F401
from chargebay.migrate import foreign_keys_off
from common.db import Base, create_engine, is_sqlite

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(config.get_main_option("sqlalchemy.url") or ""),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_engine(url)
    async with engine.connect() as conn:
        if is_sqlite(url):
            await foreign_keys_off(conn)
        await conn.run_sync(_configure)
    await engine.dispose()


def _run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_online())


_run()
