"""OCPP timestamps: ISO 8601 in, timezone-aware UTC datetimes out (naive ones are taken as UTC)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

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
        return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None


def utc(value: datetime | None) -> datetime | None:
    """As aware UTC. Naive values are taken as UTC: SQLite gives back what was written as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    value = utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
