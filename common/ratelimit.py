"""Rate limits shared by every door that takes a secret, and by the log lines about them.

:class:`FailureLimiter` counts failed attempts (a wrong password, an unknown token) per key
(``user:alice``, ``ip:10.0.0.7``, ``id:CP-1``) in a sliding window, in memory: the back-office
logins, the REST API's bearer tokens and the charge points' Basic-auth passwords all use it, each
with its own instance and limits. :class:`Throttle` keeps a trouble that repeats at attack (or
poll) pace from filling the log.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping

PENDING_WAIT = 1.0  # Retry-After while attempts still being checked hold a key at its limit
WARNING_EVERY = 60.0  # seconds between WARNINGs about the same trouble (Throttle)


class FailureLimiter:
    """Recent failures per key in a sliding window, and the attempts still being checked.

    An attempt whose secret is expensive to check (scrypt) is counted while it is checked
    (:meth:`checking`), so a burst of parallel guesses cannot all slip in before the first failure
    is recorded; it becomes a failure only if it fails. A cheap check (a token's SHA-256 lookup)
    records only its failures, so a busy client with a good token is never held back by its own
    requests in flight. The number of keys is capped (least recently failed dropped first), so a
    flood of made-up names cannot grow the table without bound.
    """

    def __init__(self, window: float, max_keys: int = 10_000) -> None:
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._pending: Counter[str] = Counter()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        hits = self._failures.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._failures[key]
            return None
        return hits

    def retry_after(self, limits: Mapping[str, int]) -> float | None:
        """Seconds until every key is under its limit again (None: it is now).

        Failures leave the window one by one, so the wait is until enough of them have; a key
        held at its limit only by attempts in flight is told to come back in :data:`PENDING_WAIT`.
        """
        now = time.monotonic()
        wait = 0.0
        for key, limit in limits.items():
            hits = self._recent(key, now)
            failed = len(hits) if hits is not None else 0
            if failed + self._pending[key] < limit:
                continue
            if hits is not None and failed >= limit:
                wait = max(wait, hits[failed - limit] + self.window - now)
            else:
                wait = max(wait, PENDING_WAIT)
        return wait or None

    @contextlib.contextmanager
    def checking(self, keys: Iterable[str]) -> Iterator[None]:
        """Count an attempt against ``keys`` while its secret is being checked."""
        held = list(keys)
        self._pending.update(held)
        try:
            yield
        finally:
            self._pending.subtract(held)
            for key in held:
                if self._pending[key] <= 0:
                    del self._pending[key]

    def failed(self, keys: Iterable[str]) -> None:
        """Record a failed attempt against every key."""
        now = time.monotonic()
        for key in keys:
            hits = self._failures.pop(key, None) or deque()
            hits.append(now)
            self._failures[key] = hits  # most recently failed last
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        """Start ``key`` afresh (its owner proved who it is)."""
        self._failures.pop(key, None)


class Throttle:
    """WARNING at most once every ``every`` seconds for one kind of trouble, DEBUG in between:
    trouble that repeats at poll, reconnect or attack pace must not fill the log."""

    def __init__(self, every: float = WARNING_EVERY) -> None:
        self.every = every
        self._warned_at: float | None = None

    def level(self) -> int:
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < self.every:
            return logging.DEBUG
        self._warned_at = now
        return logging.WARNING

    def reset(self) -> None:
        self._warned_at = None


class RefusalLog:
    """Refused attempts of one kind as throttled WARNINGs that say how many there were.

    Each WARNING names the latest refusal and counts those since the previous WARNING (logged at
    DEBUG meanwhile), so an attack shows up once a minute with its size, not once per guess.
    """

    def __init__(self, logger: logging.Logger, every: float = WARNING_EVERY) -> None:
        self.logger = logger
        self._throttle = Throttle(every)
        self._since_warning = 0

    def refused(self, message: str, *args: object) -> None:
        self._since_warning += 1
        level = self._throttle.level()
        if level == logging.WARNING:
            self.logger.warning(message + " (%d refused since the last such warning)", *args,
                                self._since_warning)
            self._since_warning = 0
        else:
            self.logger.debug(message, *args)
