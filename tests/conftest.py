"""Shared fixtures: a real stack on ephemeral ports over a real SQLite file."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chargebay.migrate import upgrade_sync
from chargebay.stack import Stack, running
from common.settings import Settings
from tests import answers_log
from tests.helpers import free_port

ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij"  # CHARGEBAY_API_TOKEN: 32 or more
# Whatever a test starts (a subprocess, a bridge, a fleet) keeps its state here unless the test
# says otherwise: never in the user's own data directory.
os.environ.setdefault("CHARGEBAY_DATA_DIR", tempfile.mkdtemp(prefix="chargebay-tests-"))
answers_log.log_for_the_elsewhere_check()
answers_log.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On a whole run (make test), every status the OpenAPI walk leaves to another test must have
    been answered by some test of the run (tests/api/walk_elsewhere.py)."""
    if not os.environ.get("CHARGEBAY_CHECK_ELSEWHERE") or hasattr(session.config, "workerinput") or exitstatus:
        return
    unseen = answers_log.elsewhere_unseen()
    if unseen:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "statuses the OpenAPI walk leaves to other tests that no test drew:\n  " + "\n  ".join(unseen)
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# With CHARGEBAY_TEST_POSTGRES_URL (a server URL whose user may create databases, e.g.
# postgresql+asyncpg://chargebay:chargebay@127.0.0.1:5432/postgres) every test gets its own
# PostgreSQL database cloned from a migrated template; without it, its own SQLite file.
POSTGRES = os.environ.get("CHARGEBAY_TEST_POSTGRES_URL")
_databases = itertools.count()


def _pg(url: str, *statements: str) -> None:
    """Run statements on the server's maintenance database (CREATE/DROP DATABASE)."""
    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | str]:
    """Run the migrations once; each test gets a copy of the resulting database."""
    if POSTGRES:
        name = f"cb_template_{os.getpid()}"
        _pg(POSTGRES, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        upgrade_sync(_pg_database(POSTGRES, name))
        yield name
        _spares.close()
        _pg(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    yield path


class _SpareDatabases:
    """PostgreSQL databases for tests, each cloned from the migrated template one test ahead, on a
    thread of its own: a clone takes ~0.6 s of the server's time (CREATE DATABASE ... TEMPLATE
    copies every file), which then overlaps the test before instead of holding up each test's
    setup; the drops go the same way. One thread: clones of one template never run at once
    (PostgreSQL refuses a template that another clone is reading)."""

    def __init__(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-databases")
        self._spare: concurrent.futures.Future[str] | None = None
        self._drops: list[concurrent.futures.Future[None]] = []

    def _clone(self, template: str) -> str:
        name = f"cb_test_{os.getpid()}_{next(_databases)}"
        _pg(POSTGRES or "", f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def take(self, template: str) -> str:
        spare, self._spare = self._spare, None
        name = spare.result() if spare is not None else self._thread.submit(self._clone, template).result()
        self._spare = self._thread.submit(self._clone, template)
        return name

    def drop(self, name: str) -> None:
        self._drops.append(self._thread.submit(_pg, POSTGRES or "", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        """Drop the spare and wait for every drop (before the template itself is dropped); a
        drop that failed fails the session's teardown, as it failed its test's before."""
        if self._spare is not None:
            self.drop(self._spare.result())
            self._spare = None
        self._thread.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()


_spares = _SpareDatabases()


def fresh_database(directory: Path, migrated_template: Path | str) -> Iterator[str]:
    """A migrated database of its own (a copy of the template), dropped afterwards on PostgreSQL;
    the body of the ``db_url`` fixtures, whatever their scope."""
    if POSTGRES:
        name = _spares.take(str(migrated_template))
        yield _pg_database(POSTGRES, name)
        _spares.drop(name)
        return
    target = directory / "chargebay.db"
    shutil.copy(migrated_template, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path | str) -> Iterator[str]:
    yield from fresh_database(tmp_path, migrated_template)


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """The settings of a test stack: its own data directory (never the user's), ephemeral ports."""
    base: dict[str, Any] = dict(database_url=db_url, host="127.0.0.1", ws_port=0, http_port=0,
                                api_token=ADMIN_TOKEN, heartbeat_interval=300,
                                data_dir=tempfile.mkdtemp(prefix="chargebay-test-"))
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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian package) of the test session's own, on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail("redis-server missing in CI (scripts/services.sh installs it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI does)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)

