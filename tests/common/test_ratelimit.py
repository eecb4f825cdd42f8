"""The shared failure limiter (logins, bearer tokens, charge point passwords), the refusal log and
the log throttle (one line of a kind per interval, the rest counted)."""

from __future__ import annotations

import logging
import time

import pytest

from common.ratelimit import PENDING_WAIT, FailureLimiter, RefusalLog, Throttle, Throttles


def test_window_slides_and_a_success_starts_the_name_afresh() -> None:
    limiter = FailureLimiter(window=0.3)
    limits = {"user:a": 2, "ip:1": 10}
    assert limiter.retry_after(limits) is None
    limiter.failed(["user:a", "ip:1"])
    limiter.failed(["user:a", "ip:1"])
    wait = limiter.retry_after(limits)
    assert wait is not None and 0 < wait <= 0.3
    time.sleep(0.32)
    assert limiter.retry_after(limits) is None
    limiter.failed(["user:a", "ip:1"])
    limiter.failed(["user:a", "ip:1"])
    limiter.forget("user:a")  # the name, not the address
    assert limiter.retry_after({"user:a": 2}) is None and limiter.retry_after({"ip:1": 2}) is not None


def test_attempts_being_checked_count_so_a_parallel_burst_is_bounded() -> None:
    limiter = FailureLimiter(window=60)
    limits = {"id:CP": 2}
    with limiter.checking(limits), limiter.checking(limits):
        # two checks in flight hold the key at its limit: come back soon, not in a minute
        assert limiter.retry_after(limits) == PENDING_WAIT
    assert limiter.retry_after(limits) is None  # both succeeded: nothing counted
    with pytest.raises(RuntimeError), limiter.checking(limits):
        raise RuntimeError("a check abandoned (cancelled, failed) is forgotten too")
    assert limiter.retry_after(limits) is None


def test_the_number_of_keys_is_capped() -> None:
    small = FailureLimiter(window=60, max_keys=3)
    for i in range(5):
        small.failed([f"user:{i}"])
    assert small.retry_after({"user:0": 1}) is None and small.retry_after({"user:4": 1}) is not None


def test_refusals_are_one_warning_a_minute_with_their_count(caplog: pytest.LogCaptureFixture) -> None:
    refusals = RefusalLog(logging.getLogger("test.refusals"))
    with caplog.at_level(logging.DEBUG, "test.refusals"):
        for i in range(50):
            refusals.refused("wrong password for %s", f"CP-{i}")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.getMessage() for w in warnings] == [
        "wrong password for CP-0 (1 refused since the last such warning)"]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 49


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_a_throttled_line_once_per_interval_the_rest_at_debug_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    log, clock = logging.getLogger("test.throttle"), Clock()
    throttle = Throttle(10, clock=clock)
    with caplog.at_level(logging.DEBUG, "test.throttle"):
        for i in range(5):
            throttle.log(log, logging.WARNING, "trouble %d", i)
        clock.now += 10
        throttle.log(log, logging.INFO, "trouble %d", 5)
        throttle.reset()
        throttle.log(log, logging.WARNING, "over")
    assert _said(caplog) == [(logging.WARNING, "trouble 0")] + [
        (logging.DEBUG, f"trouble {i}") for i in range(1, 5)] + [
        (logging.INFO, "trouble 5 (4 more like this held back)"), (logging.WARNING, "over")]


def test_kinds_are_throttled_apart(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.throttles")
    throttles = Throttles(10, clock=Clock())
    with caplog.at_level(logging.INFO, "test.throttles"):
        for _ in range(3):
            throttles.log("a", log, logging.INFO, "kind a")
            throttles.log("b", log, logging.INFO, "kind b")
    assert [m for _, m in _said(caplog)] == ["kind a", "kind b"]
    assert throttles["a"].held == throttles["b"].held == 2
