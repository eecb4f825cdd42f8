"""What the smart-lock resource modules share: the vendor's envelope (for answers and errors),
its route class and router, roles, path types and the lock rows as the vendor shows them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import Caller, require
from api.errors import ApiError
from api.vendor.errors import VendorRoute
from api.vendor.sites import site_service
from lockers.grants import Grants
from lockers.lock_events import LockEvents
from lockers.lock_groups import LockGroups
from lockers.locks import vendor_date
from lockers.service import SiteService
from lockers.smart_locks import LockView, SmartLocks

__all__ = ["vendor_date"]

MAX_LIMIT = 100  # a larger ``limit`` is served as this many per page
MAX_ID = 2**63 - 1  # the largest id the database can hold
DEFAULT_MODEL = "locker-bay"

LockId = Annotated[str, Path(min_length=1, max_length=48, description="The lock's id: the locker identity.")]
GroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="The lock group's id.")]
GrantId = Annotated[int, Path(ge=1, le=MAX_ID, description="The grant's id.")]
LockIdItem = Annotated[str, StringConstraints(min_length=1, max_length=48)]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


# -- the vendor's envelope, for every answer and every error --------------------------------------
class VendorError(BaseModel):
    status: Literal[0] = Field(description="0: the request failed.")
    msg: str = Field(description="Why, for a person.")
    code: str = Field(description="A stable code for programs, as in the rest of the API.")
    message: str = Field(description="The same as msg, under the name the rest of the API uses.")


def _explain(exc: RequestValidationError) -> str:
    """Validation errors as one sentence a person can act on (``pagenumber is required``)."""
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(loc) or "the request body"
        kind = error.get("type", "")
        if kind == "missing":
            parts.append(f"{name} is required")
        elif kind in ("int_parsing", "int_from_float", "int_type"):
            parts.append(f"{name} must be a whole number")
        elif kind == "greater_than_equal":
            parts.append(f"{name} must be at least {error.get('ctx', {}).get('ge')}")
        elif kind == "json_invalid":
            parts.append("the request body is not valid JSON")
        else:
            parts.append(f"{name}: {error.get('msg', 'is not valid')}")
    return "; ".join(parts) or "the request is not valid"


class SmartLockRoute(VendorRoute):
    """The vendor's dialect: every failure in its envelope (``status: 0``), so a client of the
    vendor's platform sees one shape whatever went wrong; a bad request is 400 ``BadRequest``."""

    out_of_range = 400

    def invalid(self, exc: RequestValidationError) -> ApiError:
        return ApiError(400, "BadRequest", _explain(exc))

    def render(self, exc: ApiError) -> Response:
        return JSONResponse({"status": 0, "msg": exc.message, "code": exc.code, "message": exc.message,
                             **exc.extra}, status_code=exc.status, headers=exc.headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": VendorError, "description": "`status: 0` with the reason: 400 bad parameters "
            "or body, 401/403 token or role, 404 no such lock/user/group/grant (a kiosk sees only "
            "its own device's lockers), 409 the lock could not do it (door did not open, door open)"}}


def smart_lock_router() -> APIRouter:
    """A router of one smart-lock resource: its tag, its error answer, the vendor's envelope."""
    return APIRouter(tags=["smart-locks"], route_class=SmartLockRoute, responses=ERRORS)


read = Depends(require("operator", "viewer", "kiosk"))
read_admin = Depends(require("operator", "viewer"))
act = Depends(require("operator", "kiosk"))
manage = Depends(require("operator"))
Reader = Annotated[Caller, read]
AdminReader = Annotated[Caller, read_admin]
Actor = Annotated[Caller, act]
Manager = Annotated[Caller, manage]


def ok(msg: str = "", **fields: Any) -> dict[str, Any]:
    return {"status": 1, "msg": msg, **fields}


def _pages(total: int, limit: int) -> int:
    return -(-total // limit)


# -- the services the routes call -----------------------------------------------------------------
Site = Annotated[SiteService, Depends(site_service)]


async def smart_locks(site: Site) -> SmartLocks:
    return SmartLocks(site)


async def grants(site: Site) -> Grants:
    return Grants(site.engine)


async def lock_events(site: Site) -> LockEvents:
    return LockEvents(site.engine)


async def lock_groups(site: Site) -> LockGroups:
    return LockGroups(site.engine)


Locks = Annotated[SmartLocks, Depends(smart_locks)]
Access = Annotated[Grants, Depends(grants)]
History = Annotated[LockEvents, Depends(lock_events)]
Groups = Annotated[LockGroups, Depends(lock_groups)]


class Answer(BaseModel):
    """The vendor's envelope of a success: ``status`` 1 and a message (often empty)."""

    status: Literal[1] = Field(description="1: done.")
    msg: str = Field(description="What was done, for a person; empty on reads.")


# -- locks as the vendor shows them ---------------------------------------------------------------
class LockItem(BaseModel):
    lockuserid: int | None = Field(description="The user the locker is assigned to.")
    lockid: str = Field(description="The locker identity (its charge point id).")
    lockname: str
    lock_open_status: Literal[0, 1] = Field(description="1 open, 0 closed or unknown.")
    lock_online_status: Literal[0, 1] = Field(description="1 when the bay's charge point is online.")
    battery_level: int | None = Field(description="Always null: a bay is mains-powered and its "
                                      "board reports no battery (so no lock.battery_low event either).")
    lock_ssid: str = Field(description="The locker identity.")
    lock_password: str | None = Field(description=(
        "Always null, by design: a locker bay has no per-lock password (it opens on an OPEN_DOOR "
        "from its bridge, on an authorised caller's request), and this API never returns a "
        "credential of any kind (a lock's secret in a list any viewer reads would open it)."))
    mac_address: str | None = Field(description="Always null: a bay sits on a serial bus, with no "
                                    "network interface of its own.")
    temperature: str | None = Field(description=(
        "Always null: the controller board reports no temperature (its status frames carry the "
        "door, item and outlet sensors only, docs/locker-protocol.md); filled when a board "
        "family that measures one is added."))
    lock_model: str = Field(description=f"The locker type's name, or {DEFAULT_MODEL!r}.")
    online_updated_date: str | None = Field(description="When the charge point was last heard "
                                            "from, UTC, YYYY-MM-DD HH:MM:SS.")
    lock_pic: str | None = Field(description="Always null: no picture of a lock is kept.")


class Paged(Answer):
    totalCount: int = Field(description="How many there are in all.")
    totalPage: int = Field(description="How many pages of ``limit`` that makes.")
    currentPage: int = Field(description="The page this is, from 1.")


class LocksPage(Paged):
    lockslist: list[LockItem]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": 1, "msg": "", "totalCount": 1, "totalPage": 1, "currentPage": 1, "lockslist": [{
            "lockuserid": None, "lockid": "LOCKER-A-01", "lockname": "LOCKER-A bay 1",
            "lock_open_status": 0, "lock_online_status": 1, "battery_level": None,
            "lock_ssid": "LOCKER-A-01", "lock_password": None, "mac_address": None,
            "temperature": None, "lock_model": "locker-bay",
            "online_updated_date": "2026-01-05 09:30:12", "lock_pic": None}]}]})


def lock_json(lock: LockView) -> dict[str, Any]:
    row = lock.row
    return {
        "lockuserid": row.assigned_user_id,
        "lockid": row.identity,
        "lockname": f"{row.bank} bay {row.bay}",
        "lock_open_status": 1 if lock.door else 0,
        "lock_online_status": 1 if lock.online else 0,
        "battery_level": None,
        "lock_ssid": row.identity,
        "lock_password": None,
        "mac_address": None,
        "temperature": None,
        "lock_model": row.type_name or DEFAULT_MODEL,
        "online_updated_date": vendor_date(row.cp_last_seen),
        "lock_pic": None,
    }


PAGENUMBER = Query(ge=1, description="The page of results, from 1 (required).")
LIMIT = Query(ge=1, description=f"Results per page (required); above {MAX_LIMIT} is served as {MAX_LIMIT}.")
PageNumber = Annotated[int, PAGENUMBER]
Limit = Annotated[int, LIMIT]
