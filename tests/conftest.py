"""Shared fixtures: a real stack on ephemeral ports over a real SQLite file."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chargebay.migrate import upgrade_sync
from chargebay.stack import Stack, running
from common.settings import Settings

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the migrations once; each test gets a copy of the resulting file."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    target = tmp_path / "chargebay.db"
    shutil.copy(migrated_template, target)
    return f"sqlite+aiosqlite:///{target}"


def make_settings(db_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(database_url=db_url, host="127.0.0.1", ws_port=0, http_port=0,
                                api_token=ADMIN_TOKEN, heartbeat_interval=300)
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with indirect parametrisation) to change the settings."""
    return {}


@pytest.fixture
async def stack(db_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Stack]:
    async with running(make_settings(db_url, **settings_overrides), migrate=False) as s:
        yield s
