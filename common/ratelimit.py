"""Rate limits shared by every door that takes a secret, and by the log lines about them.

:class:`FailureLimiter` counts failed attempts (a wrong password, an unknown token) per key
(``user:alice``, ``ip:10.0.0.7``, ``id:CP-1``) in a sliding window, in memory: the back-office
logins, the REST API's bearer tokens and the charge points' Basic-auth passwords all use it, each
with its own instance and limits. :class:`Throttle` (and :class:`Throttles`, one per kind of
line) keeps a trouble that repeats at attack, frame or poll pace from filling the log: the central
system's per-frame and per-handshake lines and the locker bridge's poll and reconnect troubles.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

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
    """One kind of trouble logged at most once every ``every`` seconds, at DEBUG in between:
    trouble that repeats at poll, reconnect, frame or attack pace must not fill the log (33,000
    malformed frames in 14 s were 33,000 WARNINGs). The lines held back are counted, and the
    next line let through says how many there were."""

    def __init__(self, every: float = WARNING_EVERY,
                 clock: Callable[[], float] | None = None) -> None:
        self.every = every
        self.held = 0  # lines held back since the last one let through
        self._clock = clock  # None: time.monotonic, looked up at each call (tests replace it)
        self._let_through_at: float | None = None

    def allow(self) -> bool:
        """Whether this occurrence is logged at its level (else it is counted in ``held``)."""
        now = self._clock() if self._clock is not None else time.monotonic()
        if self._let_through_at is not None and now - self._let_through_at < self.every:
            self.held += 1
            return False
        self._let_through_at = now
        return True

    def level(self) -> int:
        """WARNING when this occurrence is let through, DEBUG when it is held back."""
        return logging.WARNING if self.allow() else logging.DEBUG

    def log(self, logger: logging.Logger, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        """``logger.log(level, msg, *args)``, or DEBUG when held back; a line let through after
        held-back ones ends with their count."""
        if not self.allow():
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(msg, *args, **kwargs)
            return
        if self.held:
            msg += " (%d more like this held back)"
            args += (self.held,)
            self.held = 0
        logger.log(level, msg, *args, **kwargs)

    def reset(self) -> None:
        """The trouble is over: its next occurrence is logged at once."""
        self._let_through_at = None
        self.held = 0


class Throttles:
    """A :class:`Throttle` per kind of line. The kinds must be a fixed set (a message's name, an
    HTTP status), never what a peer chooses, such as its id: the map would grow with it."""

    def __init__(self, every: float = WARNING_EVERY,
                 clock: Callable[[], float] | None = None) -> None:
        self.every = every
        self._clock = clock
        self._kinds: dict[str, Throttle] = {}

    def __getitem__(self, kind: str) -> Throttle:
        throttle = self._kinds.get(kind)
        if throttle is None:
            throttle = self._kinds[kind] = Throttle(self.every, self._clock)
        return throttle

    def log(self, kind: str, logger: logging.Logger, level: int, msg: str, *args: Any,
            **kwargs: Any) -> None:
        self[kind].log(logger, level, msg, *args, **kwargs)


class RefusalLog:
    """Refused attempts of one kind as throttled WARNINGs that say how many there were.

    Each WARNING names the latest refusal and counts those since the previous WARNING (logged at
    DEBUG meanwhile), so an attack shows up once a minute with its size, not once per guess.
    """

    def __init__(self, logger: logging.Logger, every: float = WARNING_EVERY) -> None:
        self.logger = logger
        self._throttle = Throttle(every)

    def refused(self, message: str, *args: object) -> None:
        throttle = self._throttle
        if throttle.allow():
            self.logger.warning(message + " (%d refused since the last such warning)", *args,
                                throttle.held + 1)
            throttle.held = 0
        else:
            self.logger.debug(message, *args)
