"""Access grants of the smart-lock API (seed 003): who may open a lock, and when.

A grant is a window (``from <= now < until``, a missing bound open-ended) in which one user may
have a lock opened for them. Granting, revoking and every check of a user's access, allowed or
refused, are written to the audit log in the same database transaction, so the log says why a
door was (not) opened even when the open never happens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.timeutil import now_utc, utc
from lockers.audit import audit
from lockers.errors import Forbidden, NotFound
from lockers.locks import lock_or_404, vendor_date
from lockers.models import LockGrant, User, table
from lockers.scope import Viewer

GRANTS = table(LockGrant)
USERS = table(User)


def valid_now(grant: Any, now: datetime) -> bool:
    """Whether ``now`` is within the grant's window."""
    start, end = utc(grant.valid_from), utc(grant.valid_until)
    return (start is None or start <= now) and (end is None or now < end)


def _window(grant: Any) -> str:
    start, end = vendor_date(grant.valid_from), vendor_date(grant.valid_until)
    return f"from {start or 'always'} until {end or 'revoked'}"


class Grants:
    """Grants on the locks a viewer may see (a kiosk: its own device's), and the access check
    an unlock for a user makes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def grant(self, lockid: str, viewer: Viewer, userid: int, start: datetime | None,
                    end: datetime | None, who: str) -> tuple[str, Any, str]:
        """(the lock's identity, the new grant's row, the user's name); the window is the
        caller's to check (``start`` before ``end``)."""
        async with self.engine.begin() as conn:
            row = await lock_or_404(conn, lockid, viewer)
            user = (await conn.execute(select(USERS.c.id, USERS.c.username)
                                       .where(USERS.c.id == userid))).first()
            if user is None:
                raise NotFound("UserNotFound", f"no user {userid}")
            created = await conn.execute(GRANTS.insert().values(
                locker_id=row.id, user_id=user.id, valid_from=start, valid_until=end, created_at=now_utc()))
            key = created.inserted_primary_key
            assert key is not None  # an INSERT of one row has one
            grant_id = int(key[0])
            await audit(conn, who, "lock.grant", locker_id=row.id, device_id=row.device_id,
                        grantid=grant_id, userid=user.id, username=user.username,
                        valid_from=start, valid_until=end)
            grant = (await conn.execute(select(GRANTS).where(GRANTS.c.id == grant_id))).one()
        return row.identity, grant, user.username

    async def of_lock(self, lockid: str, viewer: Viewer) -> tuple[str, list[Any]]:
        """(the lock's identity, its grants in the order given, each with its user's ``username``)."""
        async with self.engine.connect() as conn:
            row = await lock_or_404(conn, lockid, viewer)
            grants = (await conn.execute(
                select(GRANTS, USERS.c.username).join(USERS, USERS.c.id == GRANTS.c.user_id)
                .where(GRANTS.c.locker_id == row.id).order_by(GRANTS.c.id))).all()
        return row.identity, list(grants)

    async def revoke(self, lockid: str, grantid: int, viewer: Viewer, who: str) -> str:
        """Delete a grant of that lock; the lock's identity."""
        async with self.engine.begin() as conn:
            row = await lock_or_404(conn, lockid, viewer)
            grant = (await conn.execute(select(GRANTS).where(
                GRANTS.c.id == grantid, GRANTS.c.locker_id == row.id))).first()
            if grant is None:
                raise NotFound("GrantNotFound", f"no grant {grantid} on lock {lockid!r}")
            await conn.execute(delete(GRANTS).where(GRANTS.c.id == grantid))
            await audit(conn, who, "lock.revoke", locker_id=row.id, device_id=row.device_id,
                        grantid=grantid, userid=grant.user_id)
        return str(row.identity)

    async def check(self, lock: Any, userid: int, who: str) -> int:
        """May this user have this lock opened now? Audited (``lock.access``) either way and the
        entry kept; refused with :class:`Forbidden` ``AccessDenied`` and the reason if not; the
        id of the grant that allows it if so.

        Being the locker's assigned user is not enough: only a grant whose window holds now is."""
        now = now_utc()
        async with self.engine.begin() as conn:
            user = (await conn.execute(select(USERS.c.id, USERS.c.username, USERS.c.active)
                                       .where(USERS.c.id == userid))).first()
            if user is None:
                raise NotFound("UserNotFound", f"no user {userid}")
            grants = (await conn.execute(select(GRANTS).where(
                GRANTS.c.locker_id == lock.id, GRANTS.c.user_id == userid).order_by(GRANTS.c.id))).all()
            valid = next((g for g in grants if valid_now(g, now)), None)
            if not user.active:
                reason = f"user {userid} is disabled"
            elif valid is not None:
                reason = None
            elif not grants:
                reason = f"user {userid} has no access to lock {lock.identity!r}"
            else:
                windows = "; ".join(_window(g) for g in grants)
                reason = (f"user {userid}'s access to lock {lock.identity!r} is outside its time window "
                          f"(now {vendor_date(now)} UTC; access {windows})")
            await audit(conn, who, "lock.access", locker_id=lock.id, device_id=lock.device_id,
                        userid=userid, username=user.username, allowed=reason is None,
                        grantid=valid.id if valid is not None else None, reason=reason)
        if reason is not None:  # after the commit: the refusal is in the log
            raise Forbidden("AccessDenied", reason, lockid=lock.identity)
        assert valid is not None  # no reason: a grant valid now
        return int(valid.id)
