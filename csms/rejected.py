"""What the message log keeps of the frames the central system rejects.

Every frame in and out is logged so that what a charge point said can be looked at later. A frame
we reject (a CALLERROR: not JSON, not OCPP-J, an unknown action, a schema breach, a repeated id;
or an answer to no call of ours) is kept too, but its sender alone decides how many there are and
how big: 33,000 malformed frames in 14 s made 123 MB. So, per charge point:

- a rejected frame longer than ``rejected_frame_keep`` characters is stored cut to that length,
  followed by ``…[truncated: N bytes]`` (its size on the wire), so the log still shows what it
  was; the start of a frame is what tells a firmware bug from garbage;
- at most ``rejected_frames_per_minute`` rejected frames (and our CALLERRORs to them) are stored
  per minute; the rest are answered as ever and counted in
  ``chargebay_ocpp_rejected_frames_total{stored="none"}``, not stored. The budget is kept per
  charge point (not per connection), so reconnecting does not refill it. 300 a minute is five a
  second: a buggy charge point rejected on every frame stays fully logged; a flood keeps 300 of
  its frames (at most ~1 KiB each) and our 300 answers a minute;
- the caller closes a connection that runs over budget having never sent a valid call or answer
  (1008, policy violation): it sends nothing but garbage. One that has (a real charge point with
  a bug) stays connected, its surplus answered and not stored: a charge must not end over a log.

Valid frames are never touched: the budget is looked at only on the reject path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from common.ratelimit import Throttles
from csms.metrics import REJECTED_FRAMES

log = logging.getLogger(__name__)

WINDOW = 60.0  # seconds the budget covers
MARK = "…[truncated: {} bytes]"
MESSAGE_ID_CHARS, ACTION_CHARS = 64, 48  # the message log's columns (PostgreSQL enforces them)

_FULL, _TRUNCATED, _NONE = (REJECTED_FRAMES.labels(stored=s) for s in ("full", "truncated", "none"))


def clip(value: str | None, chars: int) -> str | None:
    """A peer's string cut to a column's width (a longer one fails the whole batch on PostgreSQL)."""
    return value if value is None or len(value) <= chars else value[:chars]


class _Account:
    __slots__ = ("start", "stored", "over")

    def __init__(self, start: float) -> None:
        self.start = start
        self.stored = 0
        self.over = 0


class RejectedFrames:
    """The per-charge-point budget of rejected frames stored, and their stored form."""

    def __init__(self, per_minute: int, keep: int, throttles: Throttles,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute  # 0: no limit
        self.keep = keep  # 0: whole frames
        self._throttles = throttles
        self._clock = clock
        self._accounts: dict[str, _Account] = {}
        self._sweep_at = 0.0

    def admit(self, charge_point_id: str) -> bool:
        """Whether this charge point's next rejected frame is stored (counts it either way)."""
        if not self.per_minute:
            return True
        now = self._clock()
        if now >= self._sweep_at:  # forget charge points whose minute is over: the map stays small
            self._accounts = {k: a for k, a in self._accounts.items() if now - a.start < WINDOW}
            self._sweep_at = now + WINDOW
        account = self._accounts.get(charge_point_id)
        if account is None or now - account.start >= WINDOW:
            account = self._accounts[charge_point_id] = _Account(now)
        if account.stored < self.per_minute:
            account.stored += 1
            return True
        account.over += 1
        _NONE.inc()
        self._throttles.log("over budget", log, logging.WARNING,
                            "%s: over its budget of %d rejected frames a minute; %d more answered "
                            "but not stored in this minute", charge_point_id, self.per_minute,
                            account.over)
        return False

    def stored_form(self, frame: str) -> str:
        """The frame as the message log keeps it: whole, or its start and its size."""
        if not self.keep or len(frame) <= self.keep:
            _FULL.inc()
            return frame
        _TRUNCATED.inc()
        return frame[:self.keep] + MARK.format(len(frame.encode("utf-8", "surrogatepass")))
