"""OCPP timestamps: ISO 8601 in, timezone-aware UTC datetimes out (naive ones are taken as UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from ocppj.timestamps import parse_ts

__all__ = ["iso", "now_utc", "parse_ts", "utc"]


def utc(value: datetime | None) -> datetime | None:
    """As aware UTC. Naive values are taken as UTC: SQLite gives back what was written as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    value = utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def now_utc() -> datetime:
    return datetime.now(UTC)
