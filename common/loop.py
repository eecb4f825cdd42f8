"""One place that runs a coroutine as a process's main loop: on uvloop where available.

uvloop answered 3-5 % more OCPP calls per second than asyncio's loop here and cut the median
round trip by about a third (bench/csms_load.py, one core).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # an install without the optional speed-up
        return asyncio.run(main)
    return uvloop.run(main)
