"""What part of the site a caller may see: a kiosk reaches only the lockers of its own device, a
device key (which only sends its device's heartbeats) none.

Why here and not in the REST layer: every query of lockers a vendor API answers is scoped the
same way, and the queries live in the back office's services. To a kiosk any other locker does
not exist (404), so a kiosk cannot probe the rest of the site.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.errors import NotFound
from lockers.models import Locker, table

LOCKERS = table(Locker)


class Viewer(Protocol):
    """Who asks, as far as scoping goes (the REST layer's caller is one)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def device_id(self) -> int | None: ...


def scoped(query: Any, viewer: Viewer) -> Any:
    """Limit a query over lockers to what the viewer may see."""
    if viewer.role == "device":  # no route lets one in; should one ever, it sees no locker
        return query.where(false())
    if viewer.role == "kiosk":
        if viewer.device_id is None:  # a kiosk token always names its device; never match NULL
            return query.where(false())
        return query.where(LOCKERS.c.device_id == viewer.device_id)
    return query


async def locker_or_404(conn: AsyncConnection, locker_id: int, viewer: Viewer) -> Any:
    """The locker's row if the viewer may see it; else :class:`NotFound` ``LockerNotFound``."""
    row = (await conn.execute(scoped(select(LOCKERS).where(LOCKERS.c.id == locker_id), viewer))).first()
    if row is None:
        raise NotFound("LockerNotFound", f"no locker {locker_id}")
    return row
