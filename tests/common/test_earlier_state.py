"""Review of #13: an upgrade must not silently start on empty state beside what an earlier version
left in ./var (a database, a bridge state file with unsent transaction messages)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import Settings, earlier_state, warn_of_earlier_state


def leave_earlier_state(where: Path) -> None:
    (where / "var").mkdir()
    (where / "var" / "chargebay.db").write_bytes(b"")
    (where / "var" / "bridge-outbox.db").write_bytes(b"")


def test_state_left_in_var_is_found_unless_it_is_the_data_directory(tmp_path: Path) -> None:
    leave_earlier_state(tmp_path)
    assert earlier_state(tmp_path / "elsewhere", cwd=tmp_path) == [
        tmp_path / "var" / "chargebay.db", tmp_path / "var" / "bridge-outbox.db"]
    assert earlier_state(tmp_path / "var", cwd=tmp_path) == []  # make run's data directory
    assert earlier_state(tmp_path / "elsewhere", cwd=tmp_path / "var") == []


def test_each_file_is_named_with_the_way_to_keep_using_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    leave_earlier_state(tmp_path)
    monkeypatch.chdir(tmp_path)
    log = logging.getLogger("test-earlier")
    with caplog.at_level(logging.WARNING, "test-earlier"):
        warn_of_earlier_state(Settings(data_dir=tmp_path / "new"), log)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and all(f"CHARGEBAY_DATA_DIR={tmp_path / 'var'}" in line for line in said)
    caplog.clear()
    with caplog.at_level(logging.WARNING, "test-earlier"):  # a database of its own: only the bridge's
        warn_of_earlier_state(Settings(data_dir=tmp_path / "new",
                                       database_url="postgresql+asyncpg://u:p@db/x"), log)
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == [str(tmp_path / "var" / "bridge-outbox.db")]


def test_the_bridge_command_warns_at_start(tmp_path: Path) -> None:
    """The real ``chargebay bridge`` from a directory with an earlier ./var: the warning comes
    before anything else (a config it cannot read ends it at once, which is all this needs)."""
    leave_earlier_state(tmp_path)
    env = {**os.environ, "CHARGEBAY_DATA_DIR": str(tmp_path / "new")}
    done = subprocess.run([str(Path(sys.executable).parent / "chargebay"), "bridge", "--config",
                           str(tmp_path / "missing.yaml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert "bridge-outbox.db is state from an earlier version" in out, out
