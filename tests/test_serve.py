"""`chargebay serve` as a user runs it: a real process, real ports, real signals."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from chargebay.banner import when_quiet
from tests.conftest import ADMIN_TOKEN
from tests.helpers import free_port

CLI = str(Path(sys.executable).parent / "chargebay")


class Served:
    def __init__(self, proc: subprocess.Popen[str], ws_port: int, http_port: int, cwd: Path) -> None:
        self.proc, self.ws_port, self.http_port, self.cwd = proc, ws_port, http_port, cwd

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


def start(cwd: Path, *args: str, **env: str) -> Served:
    ws_port, http_port = free_port(), free_port()
    # as `make run` does: the state in ./var of where it runs
    full_env = {**os.environ, "CHARGEBAY_LOG_LEVEL": "INFO", "CHARGEBAY_DATA_DIR": str(cwd / "var"),
                **env}
    full_env.pop("CHARGEBAY_API_TOKEN", None) if "CHARGEBAY_API_TOKEN" not in env else None
    proc = subprocess.Popen([CLI, "serve", "--ws-port", str(ws_port), "--http-port", str(http_port), *args],
                            cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=1).status_code == 200:
                return Served(proc, ws_port, http_port, cwd)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("serve did not come up")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = start(tmp_path)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


async def test_serve_migrates_answers_health_metrics_and_shuts_down_cleanly(served: Served) -> None:
    health = httpx.get(f"http://127.0.0.1:{served.http_port}/health").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["connected_charge_points"] == 0 and health["version"]
    uri = f"ws://127.0.0.1:{served.ws_port}/ocpp/CP-SERVE"
    async with websockets.connect(uri, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[0] == 3
        await ws.send(json.dumps([2, "2", "Nope", {}]))
        assert json.loads(await ws.recv())[2] == "NotImplemented"
        assert httpx.get(f"http://127.0.0.1:{served.http_port}/health").json()[
            "connected_charge_points"] == 1
        metrics = httpx.get(f"http://127.0.0.1:{served.http_port}/metrics").text
        assert "chargebay_connected_charge_points 1.0" in metrics
        assert 'chargebay_ocpp_messages_total{action="Heartbeat",direction="in"} 1.0' in metrics
        assert 'chargebay_ocpp_callerrors_total{code="NotImplemented",direction="out"} 1.0' in metrics
        assert "chargebay_store_write_seconds_bucket" in metrics
        assert "chargebay_outbound_call_seconds" in metrics
        code, out, err = await asyncio.to_thread(served.stop)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1001
    assert code == 0, err
    assert "shown only this once" in out
    db = sqlite3.connect(served.cwd / "var" / "chargebay.db")
    frames = db.execute("SELECT direction, action FROM messages ORDER BY id").fetchall()
    assert frames == [("in", "Heartbeat"), ("out", "Heartbeat"), ("in", "Nope"), ("out", "Nope")]
    assert db.execute("SELECT online FROM charge_points").fetchall() == [(0,)]


def test_generated_token_is_printed_only_on_first_start(tmp_path: Path) -> None:
    first = start(tmp_path)
    _, out1, _ = first.stop()
    second = start(tmp_path)
    _, out2, _ = second.stop()
    token = out1.split("shown only this once:")[1].split()[0]
    assert token.startswith("cb_") and "shown only this once" not in out2
    # each start ends with where things are; the first says how to log in with the token, a
    # later one how to mint a token
    for out in (out1, out2):
        assert "chargebay is up" in out and f"dashboard   http://127.0.0.1:{second.http_port}/" in out2
        assert f"database    sqlite+aiosqlite:///{tmp_path / 'var'}" in out, out
    assert "Log in to the dashboard with it" in out1
    # the later start's line mints a token as printed, from a shell whose PATH lacks the venv
    # (make run's: the command is then printed as its path)
    line = next(found for found in out2.splitlines() if "token create --role admin" in found).strip()
    assert line.startswith(f"CHARGEBAY_DATA_DIR={tmp_path / 'var'} "), line
    bare = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEBAY_")}
    bare["PATH"] = os.pathsep.join(p for p in bare.get("PATH", "").split(os.pathsep)
                                   if Path(p).resolve() != Path(CLI).resolve().parent)
    elsewhere = tmp_path / "another-terminal"  # a second terminal opens somewhere else
    elsewhere.mkdir()
    made = subprocess.run(["bash", "-c", line], cwd=elsewhere, env=bare, capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("cb_")


def test_json_logs(tmp_path: Path) -> None:
    s = start(tmp_path, CHARGEBAY_LOG_FORMAT="json", CHARGEBAY_API_TOKEN=ADMIN_TOKEN)
    _, _, err = s.stop()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert any("OCPP central system on" in line["msg"] for line in lines)


def test_db_upgrade_command(tmp_path: Path) -> None:
    env = {**os.environ, "CHARGEBAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    done = subprocess.run([CLI, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tables = {r[0] for r in sqlite3.connect(tmp_path / "x.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"charge_points", "connectors", "transactions", "meter_values", "messages",
            "id_tags", "status_history", "alembic_version"} <= tables


def test_node_id_option_names_this_node(tmp_path: Path) -> None:
    served = start(tmp_path, "--node-id", "node-7")
    try:
        assert httpx.get(f"http://127.0.0.1:{served.http_port}/health").json()["node_id"] == "node-7"
    finally:
        code, _, err = served.stop()
    assert code == 0, err


@pytest.mark.parametrize("token", ["t", "test-admin-token", "x" * 31])
def test_a_short_api_token_stops_serve_with_one_line(tmp_path: Path, token: str) -> None:
    """A CHARGEBAY_API_TOKEN under 32 characters can be guessed: serve refuses to start, with one
    line that names the variable (not its value) and exit code 2."""
    env = {**os.environ, "CHARGEBAY_API_TOKEN": token}
    done = subprocess.run([CLI, "serve", "--ws-port", str(free_port()), "--http-port", str(free_port())],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: CHARGEBAY_API_TOKEN: must be at least 32"), lines
    assert "Traceback" not in done.stderr and done.stdout == ""
    if len(token) > 1:
        assert token not in done.stderr


def test_serve_prunes_the_message_log_on_its_own(tmp_path: Path) -> None:
    """One process, no Redis: the scheduler runs anyway and prunes frames past the retention."""
    env = {**os.environ, "CHARGEBAY_DATA_DIR": str(tmp_path / "var")}  # where start() serves from
    done = subprocess.run([CLI, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "var" / "chargebay.db")
    for age, cp in ((3, "CP-OLD"), (0, "CP-NEW")):
        ts = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(time.time() - age * 86400))
        db.executemany("INSERT INTO messages (charge_point_id, ts, direction, message_type, frame) "
                       "VALUES (?, ?, 'in', 2, '[]')", [(cp, ts)] * 100)
    db.commit()
    served = start(tmp_path, CHARGEBAY_MESSAGE_RETENTION_DAYS="2",
                   CHARGEBAY_MESSAGE_PRUNE_INTERVAL="0.5")
    try:
        deadline = time.monotonic() + 20
        while db.execute("SELECT count(*) FROM messages WHERE charge_point_id = 'CP-OLD'").fetchone()[0]:
            assert time.monotonic() < deadline, "the old frames were not pruned"
            time.sleep(0.2)
    finally:
        _, _, err = served.stop()
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 100
    assert "message log: 100 frame(s) older than" in err


async def test_the_banner_waits_for_the_start_up_lines_to_end() -> None:
    """when_quiet returns only once nothing was logged for its quiet time (a bay booting after
    the API is up logs, and the banner must come after it), and returns anyway at its cap."""
    noisy = logging.getLogger("chargebay.test.noisy")
    stamps: list[float] = []  # when each record was handled (this handler runs before when_quiet's)

    class Stamp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stamps.append(time.monotonic())

    async def chatter(times: int) -> None:
        for _ in range(times):
            noisy.warning("booting")
            await asyncio.sleep(0.2)

    stamp = Stamp()
    logging.getLogger().addHandler(stamp)
    try:
        talking = asyncio.create_task(chatter(5))
        await when_quiet(quiet_s=0.5)
        returned = time.monotonic()
        await talking
        before = [t for t in stamps if t <= returned]
        assert before and returned - before[-1] >= 0.5
        started = time.monotonic()
        forever = asyncio.create_task(chatter(10))
        await when_quiet(quiet_s=10.0, at_most=0.3)  # never quiet that long: the cap
        assert time.monotonic() - started < 5.0
        await forever
    finally:
        logging.getLogger().removeHandler(stamp)
