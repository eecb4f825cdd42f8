"""OCPP timestamps: RFC 3339 in, timezone-aware UTC datetimes out; and back to the wire form.

Here, not in the central system, because schema validation checks every ``date-time`` with the
same parser the handlers use (a timestamp the schema accepts must never fail a handler), and the
charge-point side writes the timestamps the central system reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# RFC 3339 date-time; the offset may be missing (taken as UTC): chargers in the field omit it.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def parse_ts(value: str | None) -> datetime | None:
    """An OCPP timestamp as aware UTC; ValueError for anything that is not RFC 3339.

    A leap second (``:60``) is read as the last microsecond of its minute.
    """
    if value is None:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    text = value.upper()
    if match.group(1) == "60":
        offset = text[match.end(2):] if match.group(2) else text[19:]
        text = text[:17] + "59.999999" + offset
    try:
        ts = datetime.fromisoformat(text)
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def is_date_time(value: str) -> bool:
    """Whether ``value`` is a timestamp :func:`parse_ts` reads: what a schema's ``date-time``
    format means here (the fast check and the compiled schema both ask this)."""
    try:
        parse_ts(value)
    except ValueError:
        return False
    return True


def wire_time(ts: datetime | None = None) -> str:
    """``ts`` (default now) as a charge point sends it: UTC, milliseconds, ``Z``."""
    ts = datetime.now(UTC) if ts is None else ts.astimezone(UTC)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
