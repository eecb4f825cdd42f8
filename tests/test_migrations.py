"""Tables come only from Alembic migrations, and the migrations match the models exactly."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import api.models  # noqa: F401
import charger_sim.models  # noqa: F401
import csms.store.models  # noqa: F401
import locker_bridge.sites.models  # noqa: F401
from common.db import Base, create_engine


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
