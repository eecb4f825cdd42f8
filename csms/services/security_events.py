"""Security events: what charge points report (SecurityEventNotification) and what the central
system sees itself (a handshake refused below a charge point's security profile, a wrong
password, a CSR it would not sign). Each is stored and published on the event bus.

The central system's own events come at the pace of whoever provokes them (a guesser, a
misconfigured charge point retrying every second), so per charge point and type at most one is
stored per ``every`` seconds; the next one says how many were left out meanwhile. Only known
charge points get events: an unknown id costs no row.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime

from csms.events import EventBus
from csms.store.models import table
from csms.store.security_models import SecurityEvent
from csms.store.writer import Writer
from csms.timeutil import now_utc

_EVENTS = table(SecurityEvent)
EVERY = 10.0  # seconds between two stored events of one kind the central system saw per charge point
REMEMBERED = 10_000  # (charge point, type) pairs whose last record time is kept


class SecurityEvents:
    """Stores and publishes security events."""

    def __init__(self, writer: Writer, events: EventBus, every: float = EVERY) -> None:
        self._writer = writer
        self._events = events
        self._every = every
        self._last: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def reported(self, charge_point_id: str, event_type: str, timestamp: datetime,
                 tech_info: str | None) -> None:
        """A SecurityEventNotification: every one is kept (a charge point's own pace)."""
        self._store(charge_point_id, event_type, "charge_point", tech_info, None, timestamp)

    def seen(self, charge_point_id: str, event_type: str, tech_info: str,
             address: str | None = None) -> None:
        """One the central system saw; throttled per charge point and type (see the module)."""
        key = (charge_point_id, event_type)
        now = time.monotonic()
        last, left_out = self._last.get(key, (float("-inf"), 0))
        if now - last < self._every:
            self._last[key] = (last, left_out + 1)
            return
        self._last[key] = (now, 0)
        self._last.move_to_end(key)
        while len(self._last) > REMEMBERED:
            self._last.popitem(last=False)
        if left_out:
            tech_info += f" ({left_out} more since the previous record)"
        self._store(charge_point_id, event_type, "central_system", tech_info, address, now_utc())

    def _store(self, charge_point_id: str, event_type: str, source: str, tech_info: str | None,
               address: str | None, timestamp: datetime) -> None:
        self._writer.insert(_EVENTS, {
            "charge_point_id": charge_point_id, "type": event_type, "source": source,
            "tech_info": tech_info, "address": address, "timestamp": timestamp,
            "received_at": now_utc()})
        self._events.publish("security_event", charge_point_id, event=event_type, source=source,
                             tech_info=tech_info)
