"""Tables come only from Alembic migrations, and the migrations match the models exactly."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import api.models  # noqa: F401
import charger_sim.models  # noqa: F401
import csms.store.models  # noqa: F401
from chargebay.migrate import upgrade_sync
from common.db import Base


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    upgrade_sync(f"sqlite+aiosqlite:///{tmp_path}/m.db")
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []


def test_no_code_creates_tables_outside_migrations() -> None:
    root = Path(__file__).resolve().parents[1]
    offenders = [str(p) for pkg in ("api", "chargebay", "charger_sim", "common", "csms", "locker_bridge")
                 for p in (root / pkg).rglob("*.py") if "create_all(" in p.read_text()]
    assert offenders == []
