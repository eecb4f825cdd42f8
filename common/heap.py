"""Garbage-collector settings for the long-running processes (central system, simulator workers).

Why: CPython's cyclic collector runs every 700 net allocations and, every tenth time, walks the
older generation too. A central system holding thousands of sockets allocates a few dicts per
frame, so the collector ran hundreds of times a second over the same long-lived objects (the
schemas, route tables, connection state): ~15 % of the event loop's time under bench/csms_load.py
(py-spy, issue #18). Frozen start-up objects are never walked again, and a larger young generation
lets the short-lived garbage of a frame die by reference count before a collection looks at it.
Cycles are still collected (a dropped socket's exception traceback, say), only less often.
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # allocations between young collections (CPython's default: 700)
MIDDLE = 20  # young collections per middle one (default 10)
OLD = 20  # middle collections per full one (default 10; CPython also waits for 25 % growth)


def settle(young: int = YOUNG, middle: int = MIDDLE, old: int = OLD) -> None:
    """Freeze what exists now (start-up: modules, schemas) and space collections out.

    Call it before the process takes connections: a frozen object is never collected, so a
    socket's objects frozen while it was open would stay after it closed if they form a cycle."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, middle, old)
