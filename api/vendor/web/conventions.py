"""What the locker back-office route modules (seed 000 "Web") share: roles, request fields, list
parameters and the records they manage (:mod:`api.vendor.web.lockers`, ``locker_people``,
``locker_places``).

Conventions:

- Bodies and answers use camelCase, as the vendor's API does; lists take ``page``/``page_size``
  and a ``q`` search (case-insensitive substring) and answer ``{items, total, page, page_size}``.
- Errors are ``{code, message}``: 404 ``<Thing>NotFound`` (also for an id named in a body), 409 for
  duplicates and for changes the current state forbids, 422 ``ValidationError``.
- Every change is written to the audit log in the same database transaction, the caller as actor.
- Roles: admin everything; operator manages devices, bays, lockers, banks, locker types, shifts,
  groups and locations; viewer (and operator) reads everything, users and roles included (never a
  password hash); only admins change users and roles; integrator tokens have no back-office
  access; kiosk tokens read only their own device's lockers (``/api/admin/lockers``).
- Lockers and the bridge are one truth: a locker added here (or a bank moved to a port the bridge
  has) is driven by the bridge at once, through :meth:`SiteService.drive`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.auth import Caller, require
from api.crud import Resource
from api.deps import Page, page_params
from common.passwords import hash_password
from csms.store.access import ApiToken
from csms.timeutil import now_utc
from lockers.models import (
    Area,
    Bank,
    BankType,
    Country,
    Device,
    Location,
    Locker,
    LockerType,
    Role,
    Shift,
    ShiftDevice,
    User,
    UserGroup,
    table,
)

AREAS, BANKS, BANK_TYPES = table(Area), table(Bank), table(BankType)
COUNTRIES, DEVICES, LOCATIONS = table(Country), table(Device), table(Location)
LOCKERS, TYPES, ROLES = table(Locker), table(LockerType), table(Role)
SHIFTS, SHIFT_DEVICES, USERS = table(Shift), table(ShiftDevice), table(User)
GROUPS, TOKENS = table(UserGroup), table(ApiToken)

MAX_ID = 2**63 - 1

# -- the records ---------------------------------------------------------------------------------
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

# -- roles ---------------------------------------------------------------------------------------
Reader = Annotated[Caller, Depends(require("operator", "viewer"))]
Operator = Annotated[Caller, Depends(require("operator"))]
Admin = Annotated[Caller, Depends(require("admin"))]
LockerReader = Annotated[Caller, Depends(require("operator", "viewer", "kiosk"))]

# -- request fields ------------------------------------------------------------------------------
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL in text)
IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"  # safe in a URL path and as an OCPP identity


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                        pattern=PRINTABLE)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000,
                                               pattern=PRINTABLE)]
RoleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48,
                                            pattern=PRINTABLE)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48,
                                        pattern=IDENT)]
BankName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                            pattern=IDENT)]
PortName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/-]+$")]
Username = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                            max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128, pattern=PRINTABLE)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200,
                                         pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32,
                                         pattern=r"^\+?[0-9 ()-]+$")]
CountryCode = Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Annotated[int, Field(ge=1, le=7)]
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]
Permission = Literal["admin", "operate", "view"]
Size = Literal["S", "M", "L", "XL"]
BoardAddress = Annotated[int, Field(ge=1, le=31, description="The board's RS-485 address.")]
BayNumber = Annotated[int, Field(ge=1, le=48, description="The bay (door) number on its board.")]


class Body(BaseModel):
    """Request bodies: unknown fields are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


def examples(*bodies: dict[str, Any]) -> ConfigDict:
    """A body's configuration with its examples (shown in the OpenAPI document)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(bodies)})


def _unique(values: list[Any]) -> list[Any]:
    return sorted(set(values))


Unique = AfterValidator(_unique)  # lists are sets here: sorted, without repeats

# -- list parameters -----------------------------------------------------------------------------
Search = Annotated[str | None, Query(max_length=100, pattern=PRINTABLE,
                                     description="Case-insensitive substring search.")]
Paging = Annotated[Page, Depends(page_params)]
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`…NotFound`: the resource, or one an id in the body names"}}


def engine(request: Request) -> AsyncEngine:
    return request.app.state.central.engine  # type: ignore[no-any-return]


Engine = Annotated[AsyncEngine, Depends(engine)]


# -- shared behaviour ----------------------------------------------------------------------------
async def revoke_tokens(conn: AsyncConnection, which: Any) -> None:
    """Log users (or kiosks) out: the login tokens ``which`` selects stop working at once.
    Tokens made with /api/v1/tokens have no user or device, so no clause here reaches them."""
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
