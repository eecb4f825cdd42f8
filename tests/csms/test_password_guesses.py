"""Guessing charge point passwords at the websocket handshake (issue #13, item 9a): wrong
passwords are counted per charge point id and per source address, past the limits the handshake
is 429 with Retry-After and no scrypt runs, a charge point is not locked out from where it has
logged in before, and at most ``password_checks`` scrypt checks run at once.

Over real sockets: the in-process stack for the behaviour (clients bound to other loopback
addresses, 127.0.0.2 and up, to be other callers), ``chargebay serve`` for the CPU a burst costs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

import common.ratelimit
import csms.passwords
from chargebay.stack import Stack
from common.passwords import hash_password, verify_password
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.csms.handshakes import handshake, set_password
from tests.test_serve import start

STEP = 20.0  # seconds one exchange may take on a busy machine
RIGHT = "the-right-password-01"
WRONG = "a-wrong-password-0001"


def counting_checks(stack: Stack) -> list[str]:
    """Record every scrypt check the central system runs (the password it checked)."""
    checked: list[str] = []  # as text: what the handshakes presented (bytes on the wire)
    passwords = stack.central.passwords
    verify = passwords.verify

    async def counted(password: str | bytes, stored: str) -> bool:
        checked.append(password.decode() if isinstance(password, bytes) else password)
        return await verify(password, stored)

    passwords.verify = counted  # type: ignore[method-assign]
    return checked


@pytest.mark.parametrize("settings_overrides", [{"cp_password_failures_per_id": 3}])
async def test_wrong_passwords_end_in_429_before_any_scrypt(stack: Stack) -> None:
    await set_password(stack, "CP-G1", RIGHT)
    checked = counting_checks(stack)
    for _ in range(3):
        assert (await handshake(stack.ws_url, "CP-G1", WRONG))[0] == 401
    for password in (WRONG, "another-wrong-guess-1", RIGHT):  # the right one, too late
        status, headers = await handshake(stack.ws_url, "CP-G1", password)
        assert status == 429
        assert 250 <= int(headers["Retry-After"]) <= 300, headers
    assert checked == [WRONG] * 3  # the refused ones never reached scrypt
    assert stack.central.router.local_count() == 0


@pytest.mark.parametrize("settings_overrides", [{"cp_password_failures_per_id": 3,
                                                 "cp_password_failures_per_ip": 4}])
async def test_a_guesser_does_not_lock_out_charge_points_where_they_logged_in_before(
        stack: Stack) -> None:
    """The guesser at 127.0.0.2 shares its address (a NAT) with CP-NEIGHBOUR, and goes for
    CP-HOME, which connects from 127.0.0.5."""
    for cp_id in ("CP-HOME", "CP-NEIGHBOUR", "CP-NEWCOMER", "CP-OTHER"):
        await set_password(stack, cp_id, RIGHT)
    assert (await handshake(stack.ws_url, "CP-HOME", RIGHT, "127.0.0.5"))[0] == 101
    assert (await handshake(stack.ws_url, "CP-NEIGHBOUR", RIGHT, "127.0.0.2"))[0] == 101
    for cp_id in ("CP-HOME", "CP-HOME", "CP-HOME", "CP-OTHER"):
        assert (await handshake(stack.ws_url, cp_id, WRONG, "127.0.0.2"))[0] == 401
    # the guesser's address and CP-HOME's id are both at their limits now
    assert (await handshake(stack.ws_url, "CP-OTHER", WRONG, "127.0.0.2"))[0] == 429
    assert (await handshake(stack.ws_url, "CP-HOME", WRONG, "127.0.0.7"))[0] == 429
    assert (await handshake(stack.ws_url, "CP-HOME", RIGHT, "127.0.0.6"))[0] == 429  # new place
    # where they logged in before, both still get in
    assert (await handshake(stack.ws_url, "CP-HOME", RIGHT, "127.0.0.5"))[0] == 101
    assert (await handshake(stack.ws_url, "CP-NEIGHBOUR", RIGHT, "127.0.0.2"))[0] == 101
    # a charge point new behind the guesser's NAT waits for the window; elsewhere it is welcome
    assert (await handshake(stack.ws_url, "CP-NEWCOMER", RIGHT, "127.0.0.2"))[0] == 429
    assert (await handshake(stack.ws_url, "CP-NEWCOMER", RIGHT, "127.0.0.3"))[0] == 101
    # and from its own address, guesses at CP-HOME still stop at the per-id limit
    for _ in range(3):
        assert (await handshake(stack.ws_url, "CP-HOME", WRONG, "127.0.0.5"))[0] == 401
    assert (await handshake(stack.ws_url, "CP-HOME", RIGHT, "127.0.0.5"))[0] == 429


class Clock:
    """Monotonic time the test moves on by hand: the limits' window passes without waiting for
    it (and without a busy machine's delays eating into it)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("settings_overrides", [{"cp_password_failures_per_id": 2}])
async def test_the_right_password_gets_in_once_the_window_has_passed(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(common.ratelimit, "time", clock)
    await set_password(stack, "CP-G2", RIGHT)
    for _ in range(2):
        assert (await handshake(stack.ws_url, "CP-G2", WRONG))[0] == 401
    clock.now += 299  # one second before the first failure leaves the window
    status, headers = await handshake(stack.ws_url, "CP-G2", RIGHT)
    assert status == 429 and headers["Retry-After"] == "1"
    clock.now += 1
    assert (await handshake(stack.ws_url, "CP-G2", RIGHT))[0] == 101


@pytest.mark.parametrize("slots", [1, 2])
async def test_at_most_password_checks_scrypt_checks_run_at_once(
        monkeypatch: pytest.MonkeyPatch, slots: int) -> None:
    """Six guesses at six charge points from six addresses, all at once (no limit holds them
    back): they queue for ``slots`` scrypt checks."""
    running, most = 0, 0
    lock = threading.Lock()

    def slow_verify(password: str | bytes, stored: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return verify_password(password, stored)

    monkeypatch.setattr(csms.passwords, "verify_password", slow_verify)
    checker = csms.passwords.PasswordChecker(make_settings("sqlite+aiosqlite://", password_checks=slots))
    stored = hash_password(RIGHT)
    verdicts = await asyncio.gather(*(checker.authenticate(f"CP-{i}", f"10.0.0.{i}", WRONG.encode(), stored)
                                      for i in range(6)))
    assert [v.ok for v in verdicts] == [False] * 6 and most == slots


def test_defaults_leave_a_core_to_the_event_loop() -> None:
    assert csms.passwords.check_slots(0) == max(1, (psutil.cpu_count() or 2) - 1)
    assert csms.passwords.check_slots(3) == 3


# -- against chargebay serve: what a burst of guesses costs -----------------------------------------
GUESSES = 100


def scrypt_cpu() -> float:
    """CPU seconds one scrypt check takes on this machine (the median of five)."""
    stored = hash_password(RIGHT)
    times = []
    for _ in range(5):
        before = time.process_time()
        verify_password(WRONG, stored)
        times.append(time.process_time() - before)
    return sorted(times)[2]


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def test_a_burst_of_guesses_costs_the_server_a_few_scrypt_checks(tmp_path: Path) -> None:
    served = start(tmp_path, CHARGEBAY_API_TOKEN=ADMIN_TOKEN, CHARGEBAY_LOG_LEVEL="WARNING")
    try:
        base = f"http://127.0.0.1:{served.http_port}"
        r = httpx.post(f"{base}/api/v1/charge-points", json={"id": "CP-BURST", "password": RIGHT},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=STEP)
        assert r.status_code == 201, r.text
        url = f"ws://127.0.0.1:{served.ws_port}/ocpp"
        assert (await handshake(url, "CP-BURST", RIGHT, "127.0.0.9"))[0] == 101  # warmed up
        per_check = scrypt_cpu()
        gate = asyncio.Semaphore(10)

        async def guess(i: int) -> int:
            async with gate:
                return (await handshake(url, "CP-BURST", f"guess-number-{i:06d}"))[0]

        before = cpu_seconds(served.proc.pid)
        statuses = Counter(await asyncio.gather(*(guess(i) for i in range(GUESSES))))
        spent = cpu_seconds(served.proc.pid) - before
        print(f"\n{GUESSES} guesses: {dict(statuses)}; server CPU {spent:.2f} s "
              f"(one scrypt check: {per_check * 1000:.0f} ms)")
        assert statuses == {401: 10, 429: GUESSES - 10}  # the default per-id limit
        # ten checks and a hundred handshakes, against the hundred checks it took before
        assert spent < 0.4 * GUESSES * per_check, (spent, per_check)
        # and the charge point still gets in from where it connected before
        assert (await handshake(url, "CP-BURST", RIGHT, "127.0.0.9"))[0] == 101
    finally:
        code, _, err = served.stop()
    assert code == 0, err
    assert err.count("wrong password for CP-BURST") <= 2, err  # throttled: not one line per guess

