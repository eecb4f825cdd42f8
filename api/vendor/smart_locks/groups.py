"""Lock groups: named sets of locks, unlocked together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.vendor.sites import actor, sites
from api.vendor.smart_locks.common import (
    MAX_LIMIT,
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
from lockers.lock_groups import LockGroups
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


def _group_json(group: Any, members: list[Any], svc: SiteService) -> dict[str, Any]:
    return {"groupid": group.id, "groupname": group.name, "lockcount": len(members),
            "lockids": [m.identity for m in members], "lockslist": [_lock_json(m, svc) for m in members]}


def groups(svc: Annotated[SiteService, Depends(sites)]) -> LockGroups:
    return LockGroups(svc.engine)


Groups = Annotated[LockGroups, Depends(groups)]


router = smart_lock_router()


@router.get("/api/lock-groups", summary="Lock groups (paged; 1 and 100 when not given)")
async def list_groups(*, pagenumber: Annotated[int, Query(ge=1, description="The page, from 1.")] = 1,
                      limit: Annotated[int, Query(ge=1, description=f"Per page, at most {MAX_LIMIT}.")] = MAX_LIMIT,
                      caller: AdminReader, lock_groups: Groups) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    total, page = await lock_groups.page((pagenumber - 1) * limit, limit)
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber, groupslist=[
        {"groupid": g.id, "groupname": g.name, "lockcount": len(lockids), "lockids": lockids}
        for g, lockids in page])


@router.post("/api/lock-groups", status_code=201, summary="Create a lock group")
async def create_group(body: GroupCreate, caller: Manager, lock_groups: Groups,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    group, members = await lock_groups.create(body.groupname, body.lockids, actor(caller))
    return ok("group created", group=_group_json(group, members, svc))


@router.get("/api/lock-groups/{groupid}", summary="One lock group with its locks")
async def get_group(groupid: GroupId, caller: AdminReader, lock_groups: Groups,
                    svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    group, members = await lock_groups.get(groupid)
    return ok(group=_group_json(group, members, svc))


@router.delete("/api/lock-groups/{groupid}", summary="Delete a lock group (its locks stay)")
async def delete_group(groupid: GroupId, caller: Manager, lock_groups: Groups) -> dict[str, Any]:
    await lock_groups.delete(groupid, actor(caller))
    return ok("group deleted", groupid=groupid)


@router.post("/api/lock-groups/{groupid}/locks", summary="Add locks to a group (all or none)")
async def add_group_locks(groupid: GroupId, body: GroupLocks, caller: Manager, lock_groups: Groups,
                          svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    added, group, members = await lock_groups.add(groupid, body.lockids, actor(caller))
    return ok(f"{len(added)} lock(s) added", added=added, group=_group_json(group, members, svc))


@router.delete("/api/lock-groups/{groupid}/locks/{lockid}", summary="Take a lock out of a group")
async def remove_group_lock(groupid: GroupId, lockid: LockId, caller: Manager, lock_groups: Groups) -> dict[str, Any]:
    await lock_groups.remove(groupid, lockid, actor(caller))
    return ok("lock removed from the group", groupid=groupid, lockid=lockid)


@router.post("/api/lock-groups/{groupid}/unlock", summary="Unlock every lock of a group (per-lock results)",
             responses={409: {"description": "`NothingToOpen`: the group has no locks"}})
async def unlock_group(groupid: GroupId, caller: Manager, lock_groups: Groups,
                       svc: Annotated[SiteService, Depends(sites)]) -> dict[str, Any]:
    """One door after the other: the bus serialises them anyway, and a failure stays that lock's
    own (``status`` is 1 only when every door opened; HTTP 200 either way, the results say which)."""
    results = []
    for row in await lock_groups.to_unlock(groupid):
        result = await svc.open(row, actor(caller))
        msg = "the lock is open" if result.success else f"the lock did not open: {result.error}"
        results.append({"lockid": row.identity, "status": 1 if result.success else 0, "msg": msg,
                        "door": result.door, "sensor_ignored": result.sensor_ignored})
    opened = [r["lockid"] for r in results if r["status"]]
    await lock_groups.record_unlock(groupid, actor(caller), opened,
                                    [r["lockid"] for r in results if not r["status"]])
    return {"status": 1 if len(opened) == len(results) else 0,
            "msg": f"{len(opened)} of {len(results)} locks opened", "groupid": groupid, "results": results}
