"""What the locker-domain routes share: the site service, scoped locker lookup, the actor name.

A kiosk token (from the kiosk login) reaches only the lockers of its own device; to it, any
other locker does not exist (404), so a kiosk cannot probe the rest of the site.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from lockers.models import Locker, table
from lockers.service import SiteService

LOCKERS = table(Locker)


def sites(request: Request) -> SiteService:
    return request.app.state.sites  # type: ignore[no-any-return]


def actor(caller: Caller) -> str:
    """The audit log's "who": the token's name (a login's token is named after its user)."""
    return caller.name


def scoped(query: Any, caller: Caller) -> Any:
    """Limit a query over lockers to what the caller may see."""
    if caller.role == "kiosk":
        if caller.device_id is None:  # a kiosk token always names its device; never match NULL
            return query.where(false())
        return query.where(LOCKERS.c.device_id == caller.device_id)
    return query


async def locker_or_404(conn: AsyncConnection, locker_id: int, caller: Caller) -> Any:
    row = (await conn.execute(scoped(select(LOCKERS).where(LOCKERS.c.id == locker_id), caller))).first()
    if row is None:
        raise ApiError(404, "LockerNotFound", f"no locker {locker_id}")
    return row
