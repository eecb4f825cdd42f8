"""Back-office roles: a name and the permissions (admin, operate, view) a login with it gets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.logins import load_permissions
from lockers.backoffice.tables import ROLE, ROLES, TOKENS, USERS, revoke_tokens
from lockers.records import create, one, page_of, patch, remove, unreferenced
from lockers.scope import Viewer


def _query() -> Select[Any]:
    count = (select(func.count()).where(USERS.c.role_id == ROLES.c.id)
             .correlate(ROLES).scalar_subquery())
    return select(ROLES, count.label("users"))


def _role(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "permissions": load_permissions(row.permissions),
            "users": row.users}


class RoleService(BackOfficeService):
    async def page(self, page: Page, q: str | None) -> dict[str, Any]:
        return await page_of(self.engine, page, _query().order_by(ROLES.c.name), q, [ROLES.c.name], _role)

    async def get(self, role_id: int) -> dict[str, Any]:
        return await one(self.engine, ROLE, role_id, _query(), _role)

    async def add(self, who: Viewer, values: dict[str, Any]) -> int:
        return await create(self.engine, who, ROLE, values)

    async def update(self, who: Viewer, role_id: int, values: dict[str, Any]) -> None:
        """Changed permissions log out the role's users: their tokens carry the old API role."""
        async def also(conn: AsyncConnection, role: Any) -> None:
            if "permissions" in values and values["permissions"] != load_permissions(role.permissions):
                await revoke_tokens(conn, TOKENS.c.user_id.in_(
                    select(USERS.c.id).where(USERS.c.role_id == role_id)))

        await patch(self.engine, who, ROLE, role_id, values, also=also)

    async def delete(self, who: Viewer, role_id: int) -> None:
        """Refused (``RoleInUse``) while users have it."""
        await remove(self.engine, who, ROLE, role_id, also=unreferenced(
            USERS.c.role_id, "RoleInUse", lambda role, users: f"{users} user(s) have role {role.name!r}"))
