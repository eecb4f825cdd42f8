"""Back-office user groups and their members (a user is in a group at most once)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page, jsonable
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import GROUP, GROUPS, MEMBERS, USERS
from lockers.errors import NotFound
from lockers.records import free, log, one, page_of, patch, remove, row_or_404, write
from lockers.scope import Viewer


def _query() -> Select[Any]:
    count = (select(func.count()).where(MEMBERS.c.group_id == GROUPS.c.id)
             .correlate(GROUPS).scalar_subquery())
    return select(GROUPS.c.id, GROUPS.c.name, GROUPS.c.description, count.label("memberCount"))


async def _add_members(conn: AsyncConnection, group_id: int, user_ids: list[int]) -> list[int]:
    """Add the users not yet in the group (``NotFound`` ``UserNotFound`` naming any unknown);
    the added."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    known = {r.id for r in await conn.execute(select(USERS.c.id).where(USERS.c.id.in_(wanted)))}
    missing = [u for u in wanted if u not in known]
    if missing:
        raise NotFound("UserNotFound", f"no user(s) {missing}", userIds=missing)
    present = {r.user_id for r in await conn.execute(select(MEMBERS.c.user_id).where(
        MEMBERS.c.group_id == group_id, MEMBERS.c.user_id.in_(wanted)))}
    added = [u for u in wanted if u not in present]
    if added:
        await conn.execute(MEMBERS.insert(), [{"group_id": group_id, "user_id": u} for u in added])
    return added


class GroupService(BackOfficeService):
    async def page(self, page: Page, q: str | None) -> dict[str, Any]:
        """Groups by name, with their member count; ``q`` in the name or description."""
        return await page_of(self.engine, page, _query().order_by(GROUPS.c.name), q,
                             [GROUPS.c.name, GROUPS.c.description])

    async def get(self, group_id: int) -> dict[str, Any]:
        """The group with its members (by username)."""
        group = await one(self.engine, GROUP, group_id, _query())
        async with self.engine.connect() as conn:
            members = (await conn.execute(
                select(USERS.c.id, USERS.c.username, USERS.c.name, USERS.c.active)
                .join(MEMBERS, MEMBERS.c.user_id == USERS.c.id)
                .where(MEMBERS.c.group_id == group_id).order_by(USERS.c.username))).all()
        return {**group, "members": [jsonable(m) for m in members]}

    async def add(self, who: Viewer, name: str, description: str | None, user_ids: list[int]) -> int:
        """Add a group with its first members; its id."""
        async def work(conn: AsyncConnection) -> int:
            await free(conn, GROUP, name)
            result = await conn.execute(GROUPS.insert().values(name=name, description=description))
            inserted = result.inserted_primary_key
            assert inserted is not None  # an INSERT of one row has one
            group_id = int(inserted[0])
            added = await _add_members(conn, group_id, user_ids)
            await log(conn, who, GROUP, "add", group_id, name=name, userIds=added)
            return group_id

        return await write(self.engine, work, GROUP.duplicate(name))

    async def update(self, who: Viewer, group_id: int, values: dict[str, Any]) -> None:
        await patch(self.engine, who, GROUP, group_id, values)

    async def delete(self, who: Viewer, group_id: int) -> None:
        await remove(self.engine, who, GROUP, group_id)

    async def add_members(self, who: Viewer, group_id: int, user_ids: list[int]) -> None:
        """Users already in the group are left as they are (and not audited again)."""
        async with self.engine.begin() as conn:
            await row_or_404(conn, GROUP, group_id)
            added = await _add_members(conn, group_id, user_ids)
            if added:
                await log(conn, who, GROUP, "member_add", group_id, userIds=added)

    async def remove_member(self, who: Viewer, group_id: int, user_id: int) -> None:
        async with self.engine.begin() as conn:
            await row_or_404(conn, GROUP, group_id)
            result = await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == group_id,
                                                              MEMBERS.c.user_id == user_id))
            if not result.rowcount:
                raise NotFound("MemberNotFound", f"user {user_id} is not in group {group_id}")
            await log(conn, who, GROUP, "member_remove", group_id, user_id=user_id)
