"""Timestamps as a charge point writes them, on its own clock (a simulated station's may be off)."""

from __future__ import annotations

from datetime import datetime

from ocppj.timestamps import wire_time

__all__ = ["iso"]


def iso(ts: datetime | None = None) -> str:
    """``ts`` (default now) in UTC with milliseconds and ``Z``: what the central system reads."""
    return wire_time(ts)
