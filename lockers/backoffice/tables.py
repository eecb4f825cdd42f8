"""The back office's records: their tables and how each is named in refusals and audit entries
(:class:`lockers.records.Resource`), plus what several of them share (revoking logins, hashing
passwords, lists stored as JSON)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from common.passwords import hash_password
from csms.store.access import ApiToken
from csms.timeutil import now_utc
from lockers.models import (
    Area,
    AuditEntry,
    Bank,
    BankType,
    Country,
    Device,
    Location,
    Locker,
    LockerType,
    Rental,
    Role,
    Shift,
    ShiftDevice,
    User,
    UserGroup,
    UserGroupMember,
    table,
)
from lockers.records import Resource

AREAS, BANKS, BANK_TYPES = table(Area), table(Bank), table(BankType)
COUNTRIES, DEVICES, LOCATIONS = table(Country), table(Device), table(Location)
LOCKERS, TYPES, ROLES = table(Locker), table(LockerType), table(Role)
SHIFTS, SHIFT_DEVICES, USERS = table(Shift), table(ShiftDevice), table(User)
GROUPS, MEMBERS, TOKENS = table(UserGroup), table(UserGroupMember), table(ApiToken)
AUDIT, RENTALS = table(AuditEntry), table(Rental)

AREA = Resource(AREAS, "area", "AreaNotFound")
BANK = Resource(BANKS, "bank", "BankNotFound", unique="name", exists="BankNameTaken",
                named="a bank named")
BANK_TYPE = Resource(BANK_TYPES, "bank type", "BankTypeNotFound")
COUNTRY = Resource(COUNTRIES, "country", "CountryNotFound")
DEVICE = Resource(DEVICES, "device", "DeviceNotFound", unique="code", exists="DeviceExists",
                  named="a device with code", taken="the device code is taken", as_json=("ports",))
GROUP = Resource(GROUPS, "group", "GroupNotFound", unique="name", exists="GroupExists",
                 named="a group", taken="the group name is taken")
LOCATION = Resource(LOCATIONS, "location", "LocationNotFound", unique="name", exists="LocationExists",
                    named="a location", taken="the location name is taken")
LOCKER = Resource(LOCKERS, "locker", "LockerNotFound", unique="identity", exists="LockerExists",
                  named="a locker", taken="the locker exists")
LOCKER_TYPE = Resource(TYPES, "locker type", "LockerTypeNotFound", unique="name",
                       exists="LockerTypeExists", named="a locker type",
                       taken="the locker type name is taken")
ROLE = Resource(ROLES, "role", "RoleNotFound", unique="name", exists="RoleExists", named="a role",
                taken="the role name is taken", as_json=("permissions",))
SHIFT = Resource(SHIFTS, "shift", "ShiftNotFound", unique="name", exists="ShiftExists",
                 named="a shift named", taken="the shift name is taken", as_json=("days",))
SHIFT_DEVICE = Resource(SHIFT_DEVICES, "shift device", "ShiftDeviceNotFound",
                        exists="ShiftDeviceExists", taken="the device is already on that shift")
USER = Resource(USERS, "user", "UserNotFound", unique="username", exists="UserExists", named="a user",
                taken="the username is taken")


async def revoke_tokens(conn: AsyncConnection, which: Any) -> None:
    """Log users (or kiosks) out: the login tokens ``which`` selects stop working at once.
    Tokens made with /api/v1/tokens have no user or device, so no clause here reaches them.
    It writes ``api_tokens`` itself rather than through ``csms.services.tokens`` because the
    revocation must commit in the same transaction as the change that causes it (a user removed,
    a password changed, a kiosk retired): done apart, a crash between the two would leave a
    removed user's tokens working."""
    await conn.execute(update(TOKENS).where(TOKENS.c.revoked_at.is_(None), which)
                       .values(revoked_at=now_utc()))


async def hashed(password: str | None) -> str | None:
    """The hash to store for a password (None: none); hashing is slow on purpose, so in a thread."""
    return await asyncio.to_thread(hash_password, password) if password else None


def json_list(raw: str | None) -> list[Any]:
    """A list stored as JSON text; anything unreadable is an empty list."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []
