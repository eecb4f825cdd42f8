"""What the locker back-office route modules (seed 000 "Web") share: roles, request fields, list
parameters, the errors they declare and how a route gets its service. The records themselves, their
queries and writes, are the back office's (:mod:`lockers.backoffice`); nothing here knows a table.

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

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetCoreSchemaHandler, StringConstraints
from pydantic_core import CoreSchema

from api.auth import Caller, require
from api.deps import Page, page_params
from api.gate import GuardedRoute
from api.vendor.sites import sites
from lockers.backoffice.lockers import IDENT
from lockers.service import SiteService

S = TypeVar("S")
T = TypeVar("T")

MAX_ID = 2**63 - 1


# -- roles ---------------------------------------------------------------------------------------
Reader = Annotated[Caller, Depends(require("operator", "viewer"))]
Operator = Annotated[Caller, Depends(require("operator"))]
Admin = Annotated[Caller, Depends(require("admin"))]
LockerReader = Annotated[Caller, Depends(require("operator", "viewer", "kiosk"))]

# -- request fields ------------------------------------------------------------------------------
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL in text)


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


class _NotNull:
    """Validate ``X | None`` as ``X``: the field may be left out (its default, None, is never
    validated), but an explicit null is refused with ``X``'s own error."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        inner = [arg for arg in get_args(source) if arg is not type(None)]
        assert len(inner) == 1, source
        return handler.generate_schema(inner[0])


# A PATCH field: left out, nothing changes; null is refused (it would blank a required column).
# Constraints go inside (``Omittable[Annotated[list[X], Field(max_length=3)]]``): on the field
# they would apply to the optional wrapper, which validation skips.
Omittable = Annotated[T | None, _NotNull()]


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



def web_router() -> APIRouter:
    """A router of the back office. Its answers are rendered as before they had response models
    (``json.dumps``, not pydantic's JSON writer): the free-form JSON some of them carry (a
    heartbeat, an audit entry's details) keeps its exact bytes, floats included."""
    return APIRouter(route_class=GuardedRoute, default_response_class=JSONResponse)


def served(kind: Callable[[Any, SiteService], S]) -> Any:
    """The dependency that builds service ``kind`` for a request, on the app's database and site."""
    async def build(request: Request) -> S:
        return kind(request.app.state.central.engine, sites(request))

    return Depends(build)
