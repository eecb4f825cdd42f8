"""Lock groups: named sets of locks, unlocked together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.errors import ApiError
from api.vendor.sites import actor, sites
from api.vendor.smart_locks.common import (
    GROUPS,
    LOCKERS,
    MAX_LIMIT,
    MEMBERS,
    AdminReader,
    GroupId,
    GroupName,
    LockId,
    LockIdItem,
    Manager,
    _lock_json,
    _pages,
    ok,
    smart_lock_router,
)
from lockers.audit import audit
from lockers.locks import lock_query
from lockers.service import SiteService


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
    return list((await conn.execute(lock_query().join(MEMBERS, MEMBERS.c.locker_id == LOCKERS.c.id)
                                    .where(MEMBERS.c.group_id == groupid)
                                    .order_by(LOCKERS.c.identity))).all())


async def _group_json(conn: AsyncConnection, group: Any, svc: SiteService) -> dict[str, Any]:
    members = await _member_rows(conn, group.id)
    return {"groupid": group.id, "groupname": group.name, "lockcount": len(members),
            "lockids": [m.identity for m in members], "lockslist": [_lock_json(m, svc) for m in members]}


router = smart_lock_router()


@router.get("/api/lock-groups", summary="Lock groups (paged; 1 and 100 when not given)")
async def list_groups(*, pagenumber: Annotated[int, Query(ge=1, description="The page, from 1.")] = 1,
                      limit: Annotated[int, Query(ge=1, description=f"Per page, at most {MAX_LIMIT}.")] = MAX_LIMIT,
                      caller: AdminReader, svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
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
async def create_group(body: GroupCreate, caller: Manager,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
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
async def get_group(groupid: GroupId, caller: AdminReader,
                    svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.connect() as conn:
        group = await _group_json(conn, await _group_or_404(conn, groupid), svc)
    return ok(group=group)


@router.delete("/api/lock-groups/{groupid}", summary="Delete a lock group (its locks stay)")
async def delete_group(groupid: GroupId, caller: Manager,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        group = await _group_or_404(conn, groupid)
        await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == groupid))
        await conn.execute(delete(GROUPS).where(GROUPS.c.id == groupid))
        await audit(conn, actor(caller), "lockgroup.delete", groupid=groupid, name=group.name)
    return ok("group deleted", groupid=groupid)


@router.post("/api/lock-groups/{groupid}/locks", summary="Add locks to a group (all or none)")
async def add_group_locks(groupid: GroupId, body: GroupLocks, caller: Manager,
                          svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    async with svc.engine.begin() as conn:
        group = await _group_or_404(conn, groupid)
        lockers = await _locker_ids(conn, body.lockids)
        added = await _add_members(conn, groupid, lockers, actor(caller))
        shaped = await _group_json(conn, group, svc)
    return ok(f"{len(added)} lock(s) added", added=added, group=shaped)


@router.delete("/api/lock-groups/{groupid}/locks/{lockid}", summary="Take a lock out of a group")
async def remove_group_lock(groupid: GroupId, lockid: LockId, caller: Manager,
                            svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
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
async def unlock_group(groupid: GroupId, caller: Manager,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
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
