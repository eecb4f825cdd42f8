"""Bays: the lockers as the back office assigns them, to a device (the kiosk that shows them)
and to a user (who has the bay as their own)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from csms.queries import Page
from lockers.audit import audit
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.lockers import locker_query
from lockers.backoffice.tables import BANKS, DEVICE, LOCKER, LOCKERS, USER
from lockers.errors import Conflict
from lockers.records import one, page_of, row_or_404
from lockers.scope import Viewer


def _bay(row: Any) -> dict[str, Any]:
    return {"lockerId": row.id, "identity": row.identity, "bankId": row.bankId, "bank": row.bank,
            "bay": row.bay, "deviceId": row.deviceId, "deviceCode": row.deviceCode,
            "assignedUserId": row.assignedUserId, "assignedUsername": row.assignedUsername}


class BayService(BackOfficeService):
    async def page(self, page: Page, q: str | None, bank_id: int | None, device_id: int | None,
                   assigned: bool | None) -> dict[str, Any]:
        """Bays by bank and bay; ``assigned``: only those with (or without) a user."""
        query = locker_query().order_by(BANKS.c.name, LOCKERS.c.bay)
        if assigned is not None:
            column = LOCKERS.c.assigned_user_id
            query = query.where(column.is_not(None) if assigned else column.is_(None))
        return await page_of(self.engine, page, query, q, [LOCKERS.c.identity, BANKS.c.name], _bay,
                             where=[(LOCKERS.c.bank_id, bank_id), (LOCKERS.c.device_id, device_id)])

    async def get(self, locker_id: int) -> dict[str, Any]:
        return await one(self.engine, LOCKER, locker_id, locker_query(), _bay)

    async def assign_device(self, who: Viewer, locker_id: int, device_id: int | None) -> None:
        """Show the bay on ``device_id``'s kiosk (None: on none)."""
        async with self.engine.begin() as conn:
            locker = await row_or_404(conn, LOCKER, locker_id)
            if device_id is None:
                await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=None))
                await audit(conn, who.name, "bay.unassign_device", locker_id=locker_id,
                            device_id=locker.device_id)
                return
            await row_or_404(conn, DEVICE, device_id)
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(device_id=device_id))
            await audit(conn, who.name, "bay.assign_device", locker_id=locker_id,
                        device_id=device_id, previous=locker.device_id)

    async def assign_user(self, who: Viewer, locker_id: int, user_id: int | None) -> None:
        """Give the bay to an active user (None: to nobody); ``BayAssigned`` while another user
        has it (unassign first: taking it from them must be deliberate)."""
        async with self.engine.begin() as conn:
            locker = await row_or_404(conn, LOCKER, locker_id)
            if user_id is not None:
                user = await row_or_404(conn, USER, user_id)
                if not user.active:
                    raise Conflict("UserInactive", f"user {user.username!r} is not active")
                if locker.assigned_user_id not in (None, user_id):
                    raise Conflict("BayAssigned", f"locker {locker_id} is assigned to user "
                                                  f"{locker.assigned_user_id}; unassign it first")
            await conn.execute(update(LOCKERS).where(LOCKERS.c.id == locker_id).values(
                assigned_user_id=user_id))
            await audit(conn, who.name, "bay.assign_user" if user_id else "bay.unassign_user",
                        locker_id=locker_id, device_id=locker.device_id, user_id=user_id,
                        previous=locker.assigned_user_id)
