"""The smart-lock API of seed 003 (the "ARAN" Plus Platform's Locks collection), over our lockers.

Why a vendor-shaped API: integrations written for the vendor's platform should work against our
lockers unchanged. So every answer here is the vendor's envelope, ``{"status": 1, "msg": ""}`` on
success and ``{"status": 0, "msg": "<why>", "code": "<StableCode>", "message": "<why>"}`` on
failure — including authentication, permission and validation failures (validation answers HTTP
400, never 422). ``code`` and ``message`` are there as in every other error body of the API.

Mapping (a lock is one locker bay; ``lockid`` is the locker's identity, e.g. ``LOCKER-A-01``):

* ``lockname``: "<bank> bay <n>"; ``searchkey`` matches the identity or that name.
* ``lock_open_status``: 1 when the door is open — from the bridge's live view, else the last door
  state the bridge reported; 0 when closed *or unknown* (``GET …/status`` says which).
* ``lock_online_status``: 1 when the bay's charge point is online (the bridge's view when it
  drives the bay here, else the CSMS's); ``online_updated_date`` is when the CSMS last heard from
  it. All dates are UTC, formatted "YYYY-MM-DD HH:MM:SS" as the vendor does.
* ``lockuserid``: the user the locker is assigned to; ``lock_model``: the locker type's name, or
  "locker-bay"; ``lock_ssid``: the identity.
* ``lock_password`` is always null: our lockers have no per-lock secret, and this API never
  returns a credential of any kind. ``battery_level``, ``mac_address``, ``temperature`` and
  ``lock_pic`` are null: a bay has none of them.

Unlock for a user: ``POST /api/locks/{lockid}/unlock`` with ``{"userid": N}`` opens only if user N
exists, is active and holds a grant on this lock whose window contains now
(``from <= now < until``; a missing bound is open-ended). Being the locker's assigned user is not
enough on its own. Every check, granted or refused, is written to the audit log
(``lock.access``) before the door is touched. Without a body the caller's own role decides.

A locker door latches by itself when shut: ``…/lock`` sends nothing to the board, it reports
whether the door is closed now.

Roles: reads (locks, status, events) operator/viewer/kiosk; grant and group reads
operator/viewer; lock and unlock operator/kiosk; grants, groups and group unlock operator; admin
always. A kiosk token sees only its own device's lockers: any other lock does not exist (404).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import String, cast, delete, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller, require
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.sites import actor, scoped, sites
from csms.store.models import ChargePoint
from csms.timeutil import now_utc, utc
from lockers.models import (
    AuditEntry,
    Bank,
    LockGrant,
    LockGroup,
    LockGroupMember,
    Locker,
    LockerType,
    User,
)
from lockers.audit import audit
from lockers.service import SiteService

MAX_LIMIT = 100  # a larger ``limit`` is served as this many per page
MAX_ID = 2**63 - 1  # the largest id the database can hold
DEFAULT_MODEL = "locker-bay"

LOCKERS = Locker.__table__
BANKS = Bank.__table__
TYPES = LockerType.__table__
CPS = ChargePoint.__table__
USERS = User.__table__
GRANTS = LockGrant.__table__
GROUPS = LockGroup.__table__
MEMBERS = LockGroupMember.__table__
AUDIT = AuditEntry.__table__

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


def _vendor_error(status: int, code: str, msg: str, headers: dict[str, str] | None = None,
                  **extra: Any) -> JSONResponse:
    return JSONResponse({"status": 0, "msg": msg, "code": code, "message": msg, **extra},
                        status_code=status, headers=headers)


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


class VendorRoute(GuardedRoute):
    """Answers every failure of these routes in the vendor's shape (``status: 0``), so a client of
    the vendor's platform sees one envelope whatever went wrong."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def vendor_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _vendor_error(exc.status, exc.code, exc.message, exc.headers, **exc.extra)
            except RequestValidationError as exc:
                return _vendor_error(400, "BadRequest", _explain(exc))
            except OverflowError as exc:  # a date that leaves the calendar once in UTC
                return _vendor_error(400, "ValueOutOfRange", f"a value is out of range: {exc}")

        return vendor_handler


router = APIRouter(tags=["smart-locks"], route_class=VendorRoute, responses={
    "4XX": {"model": VendorError, "description": "`status: 0` with the reason: 400 bad parameters "
            "or body, 401/403 token or role, 404 no such lock/user/group/grant (a kiosk sees only "
            "its own device's lockers), 409 the lock could not do it (door did not open, door open)"}})
read = Depends(require("operator", "viewer", "kiosk"))
read_admin = Depends(require("operator", "viewer"))
act = Depends(require("operator", "kiosk"))
manage = Depends(require("operator"))


def ok(msg: str = "", **fields: Any) -> dict[str, Any]:
    return {"status": 1, "msg": msg, **fields}


def vendor_date(value: datetime | None) -> str | None:
    value = utc(value)
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _pages(total: int, limit: int) -> int:
    return -(-total // limit)


# -- locks as the vendor shows them ---------------------------------------------------------------
class LockItem(BaseModel):
    lockuserid: int | None = Field(description="The user the locker is assigned to.")
    lockid: str = Field(description="The locker identity (its charge point id).")
    lockname: str
    lock_open_status: Literal[0, 1] = Field(description="1 open, 0 closed or unknown.")
    lock_online_status: Literal[0, 1] = Field(description="1 when the bay's charge point is online.")
    battery_level: int | None = Field(description="Always null: a bay has no battery.")
    lock_ssid: str = Field(description="The locker identity.")
    lock_password: str | None = Field(description="Always null: no secret is ever returned.")
    mac_address: str | None = Field(description="Always null.")
    temperature: str | None = Field(description="Always null.")
    lock_model: str = Field(description=f"The locker type's name, or {DEFAULT_MODEL!r}.")
    online_updated_date: str | None = Field(description="When the charge point was last heard "
                                            "from, UTC, YYYY-MM-DD HH:MM:SS.")
    lock_pic: str | None = Field(description="Always null.")


class LocksPage(BaseModel):
    status: Literal[1]
    msg: str
    totalCount: int
    totalPage: int
    currentPage: int
    lockslist: list[LockItem]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": 1, "msg": "", "totalCount": 1, "totalPage": 1, "currentPage": 1, "lockslist": [{
            "lockuserid": None, "lockid": "LOCKER-A-01", "lockname": "LOCKER-A bay 1",
            "lock_open_status": 0, "lock_online_status": 1, "battery_level": None,
            "lock_ssid": "LOCKER-A-01", "lock_password": None, "mac_address": None,
            "temperature": None, "lock_model": "locker-bay",
            "online_updated_date": "2026-01-05 09:30:12", "lock_pic": None}]}]})


_NAME = BANKS.c.name + " bay " + cast(LOCKERS.c.bay, String)


def _lock_query() -> Any:
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bay, LOCKERS.c.device_id,
                   LOCKERS.c.assigned_user_id, LOCKERS.c.door_open, LOCKERS.c.door_changed_at,
                   LOCKERS.c.broken_lock, BANKS.c.name.label("bank"), TYPES.c.name.label("type_name"),
                   CPS.c.online.label("cp_online"), CPS.c.last_seen.label("cp_last_seen"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(CPS, CPS.c.id == LOCKERS.c.identity)))


def _scoped(query: Any, caller: Caller) -> Any:
    """The shared kiosk scoping, and a kiosk token without a device sees nothing (rather than
    every locker without a device)."""
    if caller.role == "kiosk" and caller.device_id is None:
        return query.where(false())
    return scoped(query, caller)


async def _lock_or_404(conn: AsyncConnection, lockid: str, caller: Caller) -> Any:
    row = (await conn.execute(_scoped(_lock_query().where(LOCKERS.c.identity == lockid), caller))).first()
    if row is None:
        raise ApiError(404, "LockNotFound", f"no lock {lockid!r}")
    return row


def _door(row: Any, live: dict[str, Any] | None) -> tuple[bool | None, str]:
    """Is the door open, and where that comes from: the bridge now, or the last it reported."""
    if live is not None and live.get("door") is not None:
        return live["door"] == "open", "live"
    if row.door_open is not None:
        return bool(row.door_open), "last known"
    return None, "unknown"


def _online(row: Any, live: dict[str, Any] | None) -> bool:
    if live is not None:
        return bool(live.get("connected"))
    return bool(row.cp_online)


def _lock_json(row: Any, svc: SiteService) -> dict[str, Any]:
    live = svc.live(row.identity)
    door, _ = _door(row, live)
    return {
        "lockuserid": row.assigned_user_id,
        "lockid": row.identity,
        "lockname": f"{row.bank} bay {row.bay}",
        "lock_open_status": 1 if door else 0,
        "lock_online_status": 1 if _online(row, live) else 0,
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


@router.get("/api/locks", summary="Locks (seed 003): the vendor's paged list, from our lockers",
            response_model=LocksPage)
async def list_locks(pagenumber: int = PAGENUMBER, limit: int = LIMIT,
                     searchkey: str | None = Query(None, max_length=100,
                                                   description="Filters by lock id or name."),
                     caller: Caller = read, svc: SiteService = Depends(sites)) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    query = _scoped(_lock_query(), caller)
    key = (searchkey or "").strip().lower()
    if key:
        query = query.where(or_(func.lower(LOCKERS.c.identity).contains(key, autoescape=True),
                                func.lower(_NAME).contains(key, autoescape=True)))
    async with svc.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        offset = (pagenumber - 1) * limit
        found = [] if offset >= total else (await conn.execute(
            query.order_by(LOCKERS.c.identity).limit(limit).offset(offset))).all()
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber,
              lockslist=[_lock_json(row, svc) for row in found])


@router.get("/api/locks/{lockid}/status", summary="Open and online status of one lock")
async def lock_status(lockid: LockId, caller: Caller = read,
                      svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
    live = svc.live(row.identity)
    door, source = _door(row, live)
    return ok(lockid=row.identity, lock_open_status=1 if door else 0,
              lock_online_status=1 if _online(row, live) else 0,
              online_updated_date=vendor_date(row.cp_last_seen),
              door=None if door is None else ("open" if door else "closed"), door_source=source,
              door_changed_date=vendor_date(row.door_changed_at))


# -- lock and unlock ------------------------------------------------------------------------------
class UnlockRequest(BaseModel):
    userid: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "Unlock for this user: refused unless they hold a grant on the lock valid now."))

    model_config = ConfigDict(json_schema_extra={"examples": [{"userid": 1}, {}]})


def _window(grant: Any) -> str:
    start, end = vendor_date(grant.valid_from), vendor_date(grant.valid_until)
    return f"from {start or 'always'} until {end or 'revoked'}"


def _valid_now(grant: Any, now: datetime) -> bool:
    start, end = utc(grant.valid_from), utc(grant.valid_until)
    return (start is None or start <= now) and (end is None or now < end)


async def _check_access(svc: SiteService, row: Any, userid: int, who: str) -> None:
    """May this user open this lock now? Audited either way; raises with the reason if not."""
    now = now_utc()
    async with svc.engine.begin() as conn:
        user = (await conn.execute(select(USERS.c.id, USERS.c.username, USERS.c.active)
                                   .where(USERS.c.id == userid))).first()
        if user is None:
            raise ApiError(404, "UserNotFound", f"no user {userid}")
        grants = (await conn.execute(select(GRANTS).where(
            GRANTS.c.locker_id == row.id, GRANTS.c.user_id == userid).order_by(GRANTS.c.id))).all()
        valid = next((g for g in grants if _valid_now(g, now)), None)
        if not user.active:
            reason = f"user {userid} is disabled"
        elif valid is not None:
            reason = None
        elif not grants:
            reason = f"user {userid} has no access to lock {row.identity!r}"
        else:
            windows = "; ".join(_window(g) for g in grants)
            reason = (f"user {userid}'s access to lock {row.identity!r} is outside its time window "
                      f"(now {vendor_date(now)} UTC; access {windows})")
        await audit(conn, who, "lock.access", locker_id=row.id, device_id=row.device_id,
                    userid=userid, username=user.username, allowed=reason is None,
                    grantid=valid.id if valid is not None else None, reason=reason)
    if reason is not None:
        raise ApiError(403, "AccessDenied", reason, lockid=row.identity)


@router.post("/api/locks/{lockid}/unlock", summary="Unlock: open the locker door through the bridge",
             responses={409: {"description": "`UnlockFailed`: the door did not open (the reason says "
                              "why: no bridge, no answer, board refused, door stayed shut)"}})
async def unlock(lockid: LockId,
                 body: UnlockRequest | None = Body(None, openapi_examples={
                     "user": {"summary": "For a user: checked against their grants",
                              "value": {"userid": 1}},
                     "operator": {"summary": "On the caller's own authority", "value": {}}}),
                 caller: Caller = act, svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
    userid = body.userid if body is not None else None
    if userid is not None:
        await _check_access(svc, row, userid, actor(caller))
    result = await svc.open(row, actor(caller))
    fields = {"lockid": row.identity, "userid": userid, "door": result.door}
    if not result.success:
        raise ApiError(409, "UnlockFailed", f"the lock did not open: {result.error}",
                       lock_open_status=1 if result.door == "open" else 0, **fields)
    note = " (the door sensor is ignored: the lock is marked broken)" if result.sensor_ignored else ""
    return ok(f"the lock is open{note}", lock_open_status=1, **fields)


@router.post("/api/locks/{lockid}/lock", summary="Lock: a locker door latches when shut; is it shut now?",
             responses={409: {"description": "`DoorOpen`: close the door by hand; `DoorUnknown`: no "
                              "reading of the door yet"}})
async def lock(lockid: LockId, caller: Caller = act, svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        door, source = _door(row, svc.live(row.identity))
        await audit(conn, actor(caller), "lock.lock", locker_id=row.id, device_id=row.device_id,
                    door=None if door is None else ("open" if door else "closed"), source=source)
    unsent = "a locker door latches by itself when shut, so nothing was sent to the board"
    if door is None:
        raise ApiError(409, "DoorUnknown", f"the door state is not known yet; {unsent}",
                       lockid=row.identity, lock_open_status=0)
    if door:
        raise ApiError(409, "DoorOpen", f"the door is open: close it by hand to lock it; {unsent}",
                       lockid=row.identity, lock_open_status=1)
    return ok(f"the door is closed and locked; {unsent}", lockid=row.identity, lock_open_status=0)


# -- access grants --------------------------------------------------------------------------------
class GrantRequest(BaseModel):
    userid: int = Field(ge=1, le=MAX_ID, description="The user who may open the lock.")
    valid_from: datetime | None = Field(None, alias="from", description=(
        "Start of the window, ISO 8601 (no offset: UTC); missing: from now on, without end."))
    valid_until: datetime | None = Field(None, alias="until", description=(
        "End of the window (exclusive); missing: until revoked."))

    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"userid": 1, "from": "2026-01-05T08:00:00Z", "until": "2026-01-05T18:00:00Z"},
        {"userid": 1}]})


def _grant_json(grant: Any, lockid: str, username: str | None, now: datetime) -> dict[str, Any]:
    return {"grantid": grant.id, "lockid": lockid, "userid": grant.user_id, "username": username,
            "from": vendor_date(grant.valid_from), "until": vendor_date(grant.valid_until),
            "active": _valid_now(grant, now), "created_date": vendor_date(grant.created_at)}


@router.post("/api/locks/{lockid}/access", status_code=201, summary="Grant a user access to a lock")
async def grant_access(lockid: LockId, body: GrantRequest, caller: Caller = manage,
                       svc: SiteService = Depends(sites)) -> dict[str, Any]:
    start, end = utc(body.valid_from), utc(body.valid_until)
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "BadWindow", "from must be before until")
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        user = (await conn.execute(select(USERS.c.id, USERS.c.username)
                                   .where(USERS.c.id == body.userid))).first()
        if user is None:
            raise ApiError(404, "UserNotFound", f"no user {body.userid}")
        created = await conn.execute(GRANTS.insert().values(
            locker_id=row.id, user_id=user.id, valid_from=start, valid_until=end, created_at=now_utc()))
        grant_id = int(created.inserted_primary_key[0])
        await audit(conn, actor(caller), "lock.grant", locker_id=row.id, device_id=row.device_id,
                    grantid=grant_id, userid=user.id, username=user.username,
                    valid_from=start, valid_until=end)
        grant = (await conn.execute(select(GRANTS).where(GRANTS.c.id == grant_id))).one()
    return ok("access granted", grant=_grant_json(grant, row.identity, user.username, now_utc()))


@router.get("/api/locks/{lockid}/access", summary="Who may open a lock, and when")
async def list_access(lockid: LockId, caller: Caller = read_admin,
                      svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        grants = (await conn.execute(
            select(GRANTS, USERS.c.username).join(USERS, USERS.c.id == GRANTS.c.user_id)
            .where(GRANTS.c.locker_id == row.id).order_by(GRANTS.c.id))).all()
    now = now_utc()
    return ok(lockid=row.identity, totalCount=len(grants),
              accesslist=[_grant_json(g, row.identity, g.username, now) for g in grants])


@router.delete("/api/locks/{lockid}/access/{grantid}", summary="Revoke a grant")
async def revoke_access(lockid: LockId, grantid: GrantId, caller: Caller = manage,
                        svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        grant = (await conn.execute(select(GRANTS).where(
            GRANTS.c.id == grantid, GRANTS.c.locker_id == row.id))).first()
        if grant is None:
            raise ApiError(404, "GrantNotFound", f"no grant {grantid} on lock {lockid!r}")
        await conn.execute(delete(GRANTS).where(GRANTS.c.id == grantid))
        await audit(conn, actor(caller), "lock.revoke", locker_id=row.id, device_id=row.device_id,
                    grantid=grantid, userid=grant.user_id)
    return ok("access revoked", lockid=row.identity, grantid=grantid)


# -- event history --------------------------------------------------------------------------------
def _event_json(entry: Any, lockid: str) -> dict[str, Any]:
    try:
        details = json.loads(entry.details or "{}")
    except ValueError:
        details = {"raw": entry.details}
    if not isinstance(details, dict):
        details = {"value": details}
    return {"eventid": entry.id, "lockid": lockid, "event": entry.action, "actor": entry.actor,
            "userid": details.get("userid"), "date": vendor_date(entry.at), "details": details}


@router.get("/api/locks/{lockid}/events", summary="Event history of a lock: who used it and when, "
            "door events included (newest first)")
async def lock_events(lockid: LockId, pagenumber: int = PAGENUMBER, limit: int = LIMIT,
                      caller: Caller = read, svc: SiteService = Depends(sites)) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    async with svc.engine.connect() as conn:
        row = await _lock_or_404(conn, lockid, caller)
        mine = AUDIT.c.locker_id == row.id
        total = (await conn.execute(select(func.count()).select_from(AUDIT).where(mine))).scalar_one()
        offset = (pagenumber - 1) * limit
        entries = [] if offset >= total else (await conn.execute(
            select(AUDIT).where(mine).order_by(AUDIT.c.id.desc()).limit(limit).offset(offset))).all()
    return ok(lockid=row.identity, totalCount=total, totalPage=_pages(total, limit),
              currentPage=pagenumber, eventslist=[_event_json(e, row.identity) for e in entries])


# -- lock groups ----------------------------------------------------------------------------------
class GroupCreate(BaseModel):
    groupname: GroupName
    lockids: list[LockIdItem] = Field(default_factory=list, max_length=500,
                                      description="Locks to put in the group at once.")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"groupname": "Ground floor", "lockids": ["LOCKER-A-01", "LOCKER-A-02"]}]})


class GroupLocks(BaseModel):
    lockids: list[LockIdItem] = Field(min_length=1, max_length=500)

    model_config = ConfigDict(json_schema_extra={"examples": [{"lockids": ["LOCKER-A-03"]}]})


async def _group_or_404(conn: AsyncConnection, groupid: int) -> Any:
    group = (await conn.execute(select(GROUPS).where(GROUPS.c.id == groupid))).first()
    if group is None:
        raise ApiError(404, "GroupNotFound", f"no lock group {groupid}")
    return group


async def _locker_ids(conn: AsyncConnection, lockids: list[str]) -> dict[str, int]:
    """Lock ids to locker ids, all or nothing (404 naming the unknown ones)."""
    wanted = list(dict.fromkeys(lockids))
    found = {r.identity: int(r.id) for r in await conn.execute(
        select(LOCKERS.c.id, LOCKERS.c.identity).where(LOCKERS.c.identity.in_(wanted)))} if wanted else {}
    unknown = [lockid for lockid in wanted if lockid not in found]
    if unknown:
        raise ApiError(404, "LockNotFound", f"no lock {', '.join(map(repr, unknown))}", unknown=unknown)
    return {lockid: found[lockid] for lockid in wanted}


async def _add_members(conn: AsyncConnection, groupid: int, lockers: dict[str, int], who: str) -> list[str]:
    present = set((await conn.execute(select(MEMBERS.c.locker_id).where(
        MEMBERS.c.group_id == groupid))).scalars())
    added = []
    for lockid, locker_id in lockers.items():
        if locker_id in present:
            continue
        await conn.execute(MEMBERS.insert().values(group_id=groupid, locker_id=locker_id))
        await audit(conn, who, "lockgroup.add", locker_id=locker_id, groupid=groupid, lockid=lockid)
        added.append(lockid)
    return added


async def _member_rows(conn: AsyncConnection, groupid: int) -> list[Any]:
    return list((await conn.execute(_lock_query().join(MEMBERS, MEMBERS.c.locker_id == LOCKERS.c.id)
                                    .where(MEMBERS.c.group_id == groupid)
                                    .order_by(LOCKERS.c.identity))).all())


async def _group_json(conn: AsyncConnection, group: Any, svc: SiteService) -> dict[str, Any]:
    members = await _member_rows(conn, group.id)
    return {"groupid": group.id, "groupname": group.name, "lockcount": len(members),
            "lockids": [m.identity for m in members], "lockslist": [_lock_json(m, svc) for m in members]}


@router.get("/api/lock-groups", summary="Lock groups (paged; 1 and 100 when not given)")
async def list_groups(pagenumber: int = Query(1, ge=1, description="The page, from 1."),
                      limit: int = Query(MAX_LIMIT, ge=1, description=f"Per page, at most {MAX_LIMIT}."),
                      caller: Caller = read_admin, svc: SiteService = Depends(sites)) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    async with svc.engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(GROUPS))).scalar_one()
        offset = (pagenumber - 1) * limit
        groups = [] if offset >= total else (await conn.execute(
            select(GROUPS).order_by(GROUPS.c.name, GROUPS.c.id).limit(limit).offset(offset))).all()
        members: dict[int, list[str]] = {g.id: [] for g in groups}
        if groups:
            for m in await conn.execute(
                    select(MEMBERS.c.group_id, LOCKERS.c.identity)
                    .join(LOCKERS, LOCKERS.c.id == MEMBERS.c.locker_id)
                    .where(MEMBERS.c.group_id.in_(list(members))).order_by(LOCKERS.c.identity)):
                members[m.group_id].append(m.identity)
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber, groupslist=[
        {"groupid": g.id, "groupname": g.name, "lockcount": len(members[g.id]), "lockids": members[g.id]}
        for g in groups])


@router.post("/api/lock-groups", status_code=201, summary="Create a lock group")
async def create_group(body: GroupCreate, caller: Caller = manage,
                       svc: SiteService = Depends(sites)) -> dict[str, Any]:
    try:
        async with svc.engine.begin() as conn:
            lockers = await _locker_ids(conn, body.lockids)
            if (await conn.execute(select(GROUPS.c.id).where(GROUPS.c.name == body.groupname))).first():
                raise ApiError(409, "GroupExists", f"a lock group {body.groupname!r} exists already")
            created = await conn.execute(GROUPS.insert().values(name=body.groupname))
            groupid = int(created.inserted_primary_key[0])
            await audit(conn, actor(caller), "lockgroup.create", groupid=groupid, name=body.groupname)
            await _add_members(conn, groupid, lockers, actor(caller))
            group = await _group_json(conn, await _group_or_404(conn, groupid), svc)
    except IntegrityError:  # created by someone else in the meantime
        raise ApiError(409, "GroupExists", f"a lock group {body.groupname!r} exists already") from None
    return ok("group created", group=group)


@router.get("/api/lock-groups/{groupid}", summary="One lock group with its locks")
async def get_group(groupid: GroupId, caller: Caller = read_admin,
                    svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        group = await _group_json(conn, await _group_or_404(conn, groupid), svc)
    return ok(group=group)


@router.delete("/api/lock-groups/{groupid}", summary="Delete a lock group (its locks stay)")
async def delete_group(groupid: GroupId, caller: Caller = manage,
                       svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        group = await _group_or_404(conn, groupid)
        await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == groupid))
        await conn.execute(delete(GROUPS).where(GROUPS.c.id == groupid))
        await audit(conn, actor(caller), "lockgroup.delete", groupid=groupid, name=group.name)
    return ok("group deleted", groupid=groupid)


@router.post("/api/lock-groups/{groupid}/locks", summary="Add locks to a group (all or none)")
async def add_group_locks(groupid: GroupId, body: GroupLocks, caller: Caller = manage,
                          svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        group = await _group_or_404(conn, groupid)
        lockers = await _locker_ids(conn, body.lockids)
        added = await _add_members(conn, groupid, lockers, actor(caller))
        shaped = await _group_json(conn, group, svc)
    return ok(f"{len(added)} lock(s) added", added=added, group=shaped)


@router.delete("/api/lock-groups/{groupid}/locks/{lockid}", summary="Take a lock out of a group")
async def remove_group_lock(groupid: GroupId, lockid: LockId, caller: Caller = manage,
                            svc: SiteService = Depends(sites)) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        await _group_or_404(conn, groupid)
        member = (await conn.execute(
            select(MEMBERS.c.locker_id).join(LOCKERS, LOCKERS.c.id == MEMBERS.c.locker_id)
            .where(MEMBERS.c.group_id == groupid, LOCKERS.c.identity == lockid))).first()
        if member is None:
            raise ApiError(404, "LockNotInGroup", f"lock {lockid!r} is not in lock group {groupid}")
        await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == groupid,
                                                 MEMBERS.c.locker_id == member.locker_id))
        await audit(conn, actor(caller), "lockgroup.remove", locker_id=member.locker_id,
                    groupid=groupid, lockid=lockid)
    return ok("lock removed from the group", groupid=groupid, lockid=lockid)


@router.post("/api/lock-groups/{groupid}/unlock", summary="Unlock every lock of a group (per-lock results)",
             responses={409: {"description": "`NothingToOpen`: the group has no locks"}})
async def unlock_group(groupid: GroupId, caller: Caller = manage,
                       svc: SiteService = Depends(sites)) -> dict[str, Any]:
    """One door after the other: the bus serialises them anyway, and a failure stays that lock's
    own (``status`` is 1 only when every door opened; HTTP 200 either way, the results say which)."""
    async with svc.engine.connect() as conn:
        await _group_or_404(conn, groupid)
        members = await _member_rows(conn, groupid)
    if not members:
        raise ApiError(409, "NothingToOpen", f"lock group {groupid} has no locks", results=[])
    results = []
    for row in members:
        result = await svc.open(row, actor(caller))
        msg = "the lock is open" if result.success else f"the lock did not open: {result.error}"
        results.append({"lockid": row.identity, "status": 1 if result.success else 0, "msg": msg,
                        "door": result.door, "sensor_ignored": result.sensor_ignored})
    opened = [r["lockid"] for r in results if r["status"]]
    async with svc.engine.begin() as conn:
        await audit(conn, actor(caller), "lockgroup.unlock", groupid=groupid, opened=opened,
                    failed=[r["lockid"] for r in results if not r["status"]])
    return {"status": 1 if len(opened) == len(results) else 0,
            "msg": f"{len(opened)} of {len(results)} locks opened", "groupid": groupid, "results": results}
