"""The back-office logins' side of the records: who may log in with what, the token a login gets
and the audit entries logins leave.

Rate limiting and the password check stay with the REST route (they are about the request: its
address, the process's limiter and password-check slots); what is looked up, what a role's
permissions grant and what is recorded are the back office's, so they live here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from csms.services.tokens import create_token
from csms.timeutil import iso, now_utc
from lockers.audit import audit
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import DEVICES, ROLES, USERS
from lockers.errors import Forbidden

ADMIN_TOKEN_TTL = timedelta(hours=8)  # a working day
KIOSK_TOKEN_TTL = timedelta(hours=24)  # the kiosk app logs in again once a day

# The fixed set of role permissions, strongest first, and the API role each one grants.
PERMISSIONS = ("admin", "operate", "view")
API_ROLE = {"admin": "admin", "operate": "operator", "view": "viewer"}


def api_role(permissions: list[str]) -> str | None:
    """The strongest API role the permissions grant (None: they grant no access)."""
    for permission in PERMISSIONS:
        if permission in permissions:
            return API_ROLE[permission]
    return None


def load_permissions(raw: str | None) -> list[str]:
    """A role's stored permission list; anything unreadable grants nothing."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [p for p in value if p in PERMISSIONS] if isinstance(value, list) else []


class LoginService(BackOfficeService):
    """Look up who logs in, record how it went, issue the token."""

    async def user_named(self, username: str) -> Any:
        """The user a login names, with its role's name and permissions and its password hash (None:
        no such user)."""
        query = (select(USERS.c.id, USERS.c.username, USERS.c.name, USERS.c.active,
                        USERS.c.password_hash, ROLES.c.name.label("role"), ROLES.c.permissions)
                 .select_from(USERS.outerjoin(ROLES, ROLES.c.id == USERS.c.role_id))
                 .where(USERS.c.username == username))
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first()


    async def device_coded(self, code: str) -> Any:
        """The device a kiosk login names, with its password hash (None: no such device)."""
        query = select(DEVICES.c.id, DEVICES.c.code, DEVICES.c.name, DEVICES.c.password_hash).where(
            DEVICES.c.code == code)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first()


    async def failed(self, name: str, kind: str, ip: str, device_id: int | None) -> None:
        """Record a failed login (the name tried is the actor: there is no one else to name)."""
        async with self.engine.begin() as conn:
            await audit(conn, name, "auth.login_failed", kind=kind, ip=ip, device_id=device_id)


    async def _issue(self, name: str, role: str, ttl: timedelta, action: str, *,
                     user_id: int | None = None, device_id: int | None = None,
                     **details: Any) -> dict[str, Any]:
        """A login's token (named ``name``, for ``ttl``), audited as ``action``: ``{token, expiresAt}``."""
        expires = now_utc() + ttl
        _, token = await create_token(self.engine, name, role, user_id=user_id, device_id=device_id,
                                      expires_at=expires)
        async with self.engine.begin() as conn:
            await audit(conn, name, action, device_id=device_id, **details)
        return {"token": token, "expiresAt": iso(expires)}


    async def admin_token(self, user: Any, ip: str) -> dict[str, Any]:
        """The token of a user whose password held (``user`` as :func:`user_named` found it), with
        who logged in; ``Forbidden`` for an inactive user or one whose role grants no access."""
        if not user.active:
            raise Forbidden("UserInactive", f"user {user.username!r} is not active")
        permissions = load_permissions(user.permissions)
        role = api_role(permissions)
        if role is None:
            raise Forbidden("NoPermissions", f"user {user.username!r} has no role granting "
                                             "admin, operate or view")
        issued = await self._issue(user.username, role, ADMIN_TOKEN_TTL, "auth.admin_login",
                              user_id=user.id, ip=ip, apiRole=role)
        return {**issued, "user": {"id": user.id, "username": user.username, "name": user.name,
                                   "role": user.role, "permissions": permissions, "apiRole": role}}


    async def kiosk_token(self, device: Any, ip: str) -> dict[str, Any]:
        """The kiosk token of a device whose password held, bound to it (it reaches only its lockers)."""
        issued = await self._issue(f"kiosk:{device.code}", "kiosk", KIOSK_TOKEN_TTL,
                              "auth.kiosk_login", device_id=device.id, ip=ip)
        return {**issued, "device": {"id": device.id, "code": device.code, "name": device.name}}
