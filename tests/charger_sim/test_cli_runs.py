"""Issue #21, `chargebay sim` as a QA engineer runs it: piped to a log, against a CSMS that knows
only some of its id tags, one of them allowed one session at a time, and one charge point
registered with a password. The real CLI as a subprocess, its output read as it comes, against
the real stack; its figures checked against what the CSMS stored."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from tests.charger_sim.sim_cli import SimRun, number, reasons, run_sim
from tests.csms.handshakes import set_password
from tests.helpers import add_id_tag, rows

DEADLINE = 120.0  # a run of 15 s, start-up and the clean stop included, on a loaded machine
PROGRESS = re.compile(r"^\[\s*\d+ s\] connected \d+/\d+, booted \d+, charging \d+, sessions started \d+, "
                      r"rejected \d+.*, errors \d+")
# fast drivers that keep an accepted session for the rest of the run
FAST = ("--atg", "--atg-idle", "0.2-0.6", "--atg-session", "600", "--workers", "1", "--progress-every", "1")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": False}  # an unknown tag is Invalid, as at most CSMSs


async def _transactions(stack: Stack, prefix: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM transactions WHERE charge_point_id LIKE :p ORDER BY id", p=f"{prefix}-%")]


async def _invalid_authorizations(stack: Stack, prefix: str) -> int:
    """Authorize answers the CSMS gave Invalid (they make no transaction: the message log)."""
    found = await rows(stack, "SELECT count(*) AS n FROM messages WHERE charge_point_id LIKE :p AND "
                              "direction = 'out' AND action = 'Authorize' AND frame LIKE '%\"Invalid\"%'",
                       p=f"{prefix}-%")
    return int(found[0]["n"])


def _one_table(run: SimRun, count: int) -> dict[str, str]:
    assert "Traceback" not in run.out, run.out
    assert run.out.count(f"chargebay sim: {count} stations") == 1, run.out  # one table, no earlier one
    table = run.table()
    assert number(table["booted"]) == count, run.out
    return table


async def _agrees_with_the_csms(stack: Stack, prefix: str, table: dict[str, str]) -> list[dict[str, Any]]:
    """The table's sessions are the CSMS's: started = the transactions it accepted, each
    ConcurrentTx a transaction it refused, each Invalid an Authorize it refused; and the end of
    the run left nothing open."""
    txs = await _transactions(stack, prefix)
    refused = reasons(table["sessions rejected"])
    assert number(table["sessions started"]) == sum(t["id_tag_status"] == "Accepted" for t in txs), (table, txs)
    assert refused.get("ConcurrentTx", 0) == sum(t["id_tag_status"] == "ConcurrentTx" for t in txs), (table, txs)
    assert refused.get("Invalid", 0) == await _invalid_authorizations(stack, prefix), table
    assert number(table["sessions rejected"]) == sum(refused.values()), table
    assert [t for t in txs if t["stop_timestamp"] is None] == []
    return txs


async def test_a_piped_run_shows_progress_and_one_table_that_agrees_with_the_csms(
        stack: Stack, tmp_path: Path) -> None:
    """A 1.6 and 2.0.1 fleet presents a tag the CSMS allows one session at a time (from a file)
    and one it does not know (--id-tag): progress lines come while it runs, the one table counts
    the sessions started apart from those refused, by reason, as the CSMS has them, and the end
    of --duration stops the running transactions, answered."""
    await add_id_tag(stack, "QA-ONE")  # max_concurrent_tx unset: one at a time
    tags = tmp_path / "tags.txt"
    tags.write_text("# the tags this CSMS knows\nQA-ONE\n\n")
    run = await run_sim(stack.ws_url, tmp_path, "--count", "3", "--prefix", "QA", "--mix", "1.6=70,2.0.1=30",
                        "--id-tags-file", str(tags), "--id-tag", "QA-NOBODY", "--duration", "15", "--seed", "21",
                        *FAST, deadline=DEADLINE)
    assert run.code == 0, run.out
    progress = [(t, line) for t, line in run.lines if PROGRESS.match(line)]
    assert len(progress) >= 5, run.out
    assert progress[0][0] < run.ended_at - 10, run.lines  # printed while it ran, not at the end
    assert any("stopping: ending" in line for _, line in run.lines), run.out
    table = _one_table(run, 3)
    txs = await _agrees_with_the_csms(stack, "QA", table)
    refused = reasons(table["sessions rejected"])
    assert refused.get("ConcurrentTx", 0) > 0 and refused.get("Invalid", 0) > 0, run.out
    assert "note: the CSMS rejected" in run.out and "ConcurrentTx: the tag is in as many sessions" in run.out
    # the accepted session ran to the end of the run, which stopped it (Local) and got it answered
    running = [t for t in txs if t["id_tag_status"] == "Accepted"]
    assert len(running) == 1 and running[0]["stop_reason"] == "Local", txs
    assert table["stopped at the end"] == "1 transaction, all answered by the CSMS", run.out


@pytest.mark.parametrize("how", ["SIGTERM to the CLI", "Ctrl-C to the process group"])
async def test_a_signal_stops_the_running_transactions_first(stack: Stack, tmp_path: Path, how: str) -> None:
    """No --duration: SIGTERM (a service manager, `timeout`) or Ctrl-C (the whole process group)
    ends the run the same way: the transactions running are stopped and answered, then the
    stations leave, and the table says so."""
    await add_id_tag(stack, "SIG-A")
    await add_id_tag(stack, "SIG-B")
    run = await SimRun(stack.ws_url, tmp_path, ("--count", "2", "--prefix", "SIG", "--id-tag", "SIG-A",
                                                "--id-tag", "SIG-B", *FAST)).start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not [t for t in await _transactions(stack, "SIG") if t["id_tag_status"] == "Accepted"]:
        assert loop.time() < deadline and run.code is None, run.out
        await asyncio.sleep(0.2)
    if how == "SIGTERM to the CLI":
        run.signal(signal.SIGTERM)
    else:
        run.signal(signal.SIGINT, group=True)
    await run.wait(DEADLINE)
    assert run.code == 0, run.out
    table = _one_table(run, 2)
    txs = await _agrees_with_the_csms(stack, "SIG", table)
    accepted = [t for t in txs if t["id_tag_status"] == "Accepted"]
    assert {t["stop_reason"] for t in accepted} == {"Local"}, txs
    assert number(table["stopped at the end"]) == len(accepted), run.out
    assert table["stopped at the end"].endswith(", all answered by the CSMS"), run.out


async def test_the_password_gets_stations_in(stack: Stack, tmp_path: Path) -> None:
    """Charge points registered with a password (security profile 1): --password gets a 1.6 and
    a 2.0.1 station in; a wrong one gets none in, says why, and exits 1."""
    for cp in ("PW-00001", "PW-00002"):
        await set_password(stack, cp, "the-right-password-21")
    run = await run_sim(stack.ws_url, tmp_path, "--count", "2", "--prefix", "PW", "--mix", "1.6=50,2.0.1=50",
                        "--password", "the-right-password-21", "--duration", "3", "--workers", "1",
                        deadline=DEADLINE)
    assert run.code == 0, run.out
    _one_table(run, 2)
    found = await rows(stack, "SELECT id, boot_status, ocpp_version FROM charge_points "
                              "WHERE id LIKE 'PW-%' ORDER BY id")
    assert [tuple(r.values()) for r in found] == [("PW-00001", "Accepted", "1.6"), ("PW-00002", "Accepted", "2.0.1")]
    run = await run_sim(stack.ws_url, tmp_path, "--count", "2", "--prefix", "PW", "--password", "a-wrong-password-21",
                        "--duration", "4", "--workers", "1", "--progress-every", "1", deadline=DEADLINE)
    assert run.code == 1, run.out
    assert number(run.table()["booted"]) == 0, run.out
    # the progress lines say it while it happens, not only the final note
    assert "; not booted 2 (server rejected WebSocket connection: HTTP 401)" in run.out, run.out
    assert "note: 2 stations did not boot: server rejected WebSocket connection: HTTP 401 (a wrong or missing " \
           "--password?)" in run.out, run.out


NOWHERE = "ws://127.0.0.1:9/ocpp"  # refused before anything connects


async def test_bad_id_tags_are_refused_before_anything_runs(tmp_path: Path) -> None:
    run = await run_sim(NOWHERE, tmp_path, "--id-tags-file", str(tmp_path / "none.txt"), deadline=DEADLINE)
    assert run.code == 2 and "--id-tags-file: cannot read" in run.out and "Traceback" not in run.out, run.out
    run = await run_sim(NOWHERE, tmp_path, "--id-tag", "X" * 21, deadline=DEADLINE)
    assert run.code == 2 and "longer than 20 characters" in run.out, run.out
    run = await run_sim(NOWHERE, tmp_path, "--atg-idle", "soon", deadline=DEADLINE)
    assert run.code == 2 and "--atg-idle: 'soon' is not SECONDS or MIN-MAX" in run.out, run.out


async def test_the_help_shows_a_run_against_another_csms(tmp_path: Path) -> None:
    run = await run_sim(NOWHERE, tmp_path, "--help", deadline=DEADLINE)
    assert run.code == 0, run.out
    assert "--csms ws://steve-host:8180/steve/websocket/CentralSystemService/" in run.out, run.out
    assert "--password their-password" in run.out and "--id-tag TAG-A --id-tag TAG-B" in run.out, run.out
