"""The process settings behind the central system's speed (issue #18): the collector's, SQLite's."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from common import heap
from common.db import WAL_PAGES, create_engine


def test_settle_freezes_what_exists_and_spaces_collections_out() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    made_at_start_up = [[n] for n in range(1000)]  # lists: objects the collector tracks
    try:
        heap.settle()
        assert gc.get_freeze_count() >= frozen_before + len(made_at_start_up)
        assert gc.get_threshold() == (heap.YOUNG, heap.MIDDLE, heap.OLD)
        heap.settle(50_000, 50, 100)  # the simulator's workers' own
        assert gc.get_threshold() == (50_000, 50, 100)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_the_writer_engine_checkpoints_less_often(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    for pages in (WAL_PAGES, 10_000):
        engine = create_engine(url, wal_pages=pages)
        try:
            async with engine.connect() as conn:
                assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == pages
                limit = (await conn.exec_driver_sql("PRAGMA journal_size_limit")).scalar()
                assert limit == 2 * pages * 4096
                assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        finally:
            await engine.dispose()


async def test_the_stack_gives_only_its_writer_the_long_log(db_url: str) -> None:
    from chargebay.stack import WRITER_WAL_PAGES, running
    from tests.conftest import make_settings

    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's write-ahead log: PostgreSQL has no such setting")
    async with running(make_settings(db_url), migrate=False) as stack:
        central = stack.central
        async with central.writer.engine.connect() as conn:
            pages = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert pages == WRITER_WAL_PAGES > WAL_PAGES
        async with central.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == WAL_PAGES
