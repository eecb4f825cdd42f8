"""Back-office users: who may log in to the back office, with which role; a change to what a
login was issued on (password, role, name, activity) logs the user out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from csms.timeutil import iso, now_utc
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import ROLE, ROLES, TOKENS, USER, USERS, hashed, revoke_tokens
from lockers.records import create, one, page_of, patch, remove, row_or_404
from lockers.scope import Viewer


def _query() -> Select[Any]:
    return (select(USERS, ROLES.c.name.label("role"))
            .select_from(USERS.outerjoin(ROLES, ROLES.c.id == USERS.c.role_id)))


def _user(row: Any) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "name": row.name, "email": row.email,
            "phone": row.phone, "roleId": row.role_id, "role": row.role, "active": row.active,
            "hasPassword": row.password_hash is not None, "createdAt": iso(row.created_at)}


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a user change: never a password."""
    out = {k: v for k, v in values.items() if k not in ("password", "password_hash")}
    if "password" in values or "password_hash" in values:
        out["password"] = "set" if values.get("password", values.get("password_hash")) else "removed"
    return out


class UserService(BackOfficeService):
    async def page(self, page: Page, q: str | None, role_id: int | None,
                   active: bool | None) -> dict[str, Any]:
        """Users by username; ``q`` in the username, name or e-mail."""
        return await page_of(self.engine, page, _query().order_by(USERS.c.username), q,
                             [USERS.c.username, USERS.c.name, USERS.c.email], _user,
                             where=[(USERS.c.role_id, role_id), (USERS.c.active, active)])

    async def get(self, user_id: int) -> dict[str, Any]:
        return await one(self.engine, USER, user_id, _query(), _user)

    async def add(self, who: Viewer, body: dict[str, Any]) -> int:
        """Add the user ``body`` describes (its password, if any, stored hashed); its id."""
        values = {**{k: v for k, v in body.items() if k != "password"},
                  "password_hash": await hashed(body.get("password")), "created_at": now_utc()}
        return await create(self.engine, who, USER, values,
                            check=lambda conn: row_or_404(conn, ROLE, body.get("roleId")),
                            details=_audited(body))

    async def update(self, who: Viewer, user_id: int, values: dict[str, Any]) -> None:
        """Change the fields ``values`` sets. A new password, role or username, or deactivation,
        logs the user out (their tokens are revoked): a token must not outlive the facts it was
        issued on."""
        values = dict(values)
        if "password" in values:
            values["password_hash"] = await hashed(values.pop("password"))

        async def also(conn: AsyncConnection, user: Any) -> None:
            if "roleId" in values:
                await row_or_404(conn, ROLE, values["roleId"])
            if ("password_hash" in values or values.get("active") is False
                    or values.get("roleId", user.role_id) != user.role_id
                    or values.get("username", user.username) != user.username):
                await revoke_tokens(conn, TOKENS.c.user_id == user_id)

        await patch(self.engine, who, USER, user_id, values, also=also, details=_audited(values))

    async def delete(self, who: Viewer, user_id: int) -> None:
        """Their bays and rentals are kept without a user; their grants and memberships go, and
        they are logged out."""
        await remove(self.engine, who, USER, user_id,
                     also=lambda conn, _: revoke_tokens(conn, TOKENS.c.user_id == user_id))
