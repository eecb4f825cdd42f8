"""What an open did, in the gateway's terms: success, or why not as a stable code and the kind of
refusal it is (the board's fault is :class:`~lockers.errors.Unavailable`, the rest
:class:`~lockers.errors.Conflict`).

Every open goes through :meth:`lockers.service.SiteService.open` (the bridge's bus queue, a
read-back, the audit log); a locker with ``broken_lock`` whose sensor still reads "closed" is a
success that says so (``sensor_ignored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockers.bays import OpenResult
from lockers.errors import Conflict, Refused, Unavailable
from lockers.service import SiteService


@dataclass(frozen=True)
class Opened:
    """One open's outcome: ``code`` and ``kind`` are None on success."""

    locker_id: int
    transaction_id: int | None
    result: OpenResult
    code: str | None
    message: str
    kind: type[Refused] | None


def outcome(result: OpenResult) -> tuple[type[Refused] | None, str | None, str]:
    """(kind of refusal, stable code, message) for what an open did; no kind on success."""
    if result.success:
        if result.sensor_ignored:
            return None, None, "lock fired; the door sensor still reads closed and is ignored (brokenLock)"
        return None, None, "door opened"
    if not result.driven:
        return Conflict, "LockerNotDriven", result.error or "no locker bridge drives this locker"
    if result.door is not None:
        return Conflict, "DoorDidNotOpen", "the board acknowledged the open but the door still reads closed"
    if (result.error or "").startswith("board unavailable"):
        return Unavailable, "BoardUnavailable", result.error or "the board did not answer"
    return Conflict, "BoardRefused", result.error or "the board refused to open"


async def open_locker(sites: SiteService, locker: Any, actor: str,
                      transaction_id: int | None = None) -> Opened:
    """Open ``locker`` (a row with ``id``, ``identity``, ``device_id``, ``broken_lock``) through
    its bridge, audited as ``actor``'s."""
    result = await sites.open(locker, actor)
    kind, code, message = outcome(result)
    return Opened(locker.id, transaction_id, result, code, message, kind)
