"""Lock groups: named sets of locks, unlocked together."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from api.vendor.sites import actor
from api.vendor.smart_locks.common import (
    MAX_LIMIT,
    AdminReader,
    Answer,
    GroupId,
    GroupName,
    Groups,
    LockId,
    LockIdItem,
    LockItem,
    Locks,
    Manager,
    VendorError,
    _pages,
    lock_json,
    ok,
    smart_lock_router,
)
from lockers.smart_locks import SmartLocks


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


class GroupSummary(BaseModel):
    groupid: int
    groupname: str
    lockcount: int
    lockids: list[str] = Field(description="Its locks' ids, by lock id.")


class GroupItem(GroupSummary):
    lockslist: list[LockItem] = Field(description="Its locks as the lock list shows them.")


class GroupsPage(Answer):
    totalCount: int
    totalPage: int
    currentPage: int
    groupslist: list[GroupSummary] = Field(description="By name.")


class OneGroup(Answer):
    group: GroupItem


class GroupDeleted(Answer):
    groupid: int


class LocksAdded(Answer):
    added: list[str] = Field(description="The locks that were not in the group yet.")
    group: GroupItem


class LockRemoved(Answer):
    groupid: int
    lockid: str


class UnlockResult(BaseModel):
    lockid: str
    status: Literal[0, 1] = Field(description="1: this door opened.")
    msg: str
    door: str | None = Field(description="The door as read back; null: not read.")
    sensor_ignored: bool = Field(description="The lock is marked broken: its sensor was not believed.")


class GroupUnlocked(BaseModel):
    status: Literal[0, 1] = Field(description="1 only when every door opened.")
    msg: str
    groupid: int
    results: list[UnlockResult] = Field(description="One per lock, by lock id.")


def _group_json(group: Any, members: list[Any], locks: SmartLocks) -> dict[str, Any]:
    return {"groupid": group.id, "groupname": group.name, "lockcount": len(members),
            "lockids": [m.identity for m in members],
            "lockslist": [lock_json(locks.view(m)) for m in members]}


router = smart_lock_router()


@router.get("/api/lock-groups", summary="Lock groups (paged; 1 and 100 when not given)",
            response_model=GroupsPage)
async def list_lock_groups(*, pagenumber: Annotated[int, Query(ge=1, description="The page, from 1.")] = 1,
                      limit: Annotated[int, Query(ge=1, description=f"Per page, at most {MAX_LIMIT}.")] = MAX_LIMIT,
                      caller: AdminReader, lock_groups: Groups) -> dict[str, Any]:
    limit = min(limit, MAX_LIMIT)
    total, page = await lock_groups.page((pagenumber - 1) * limit, limit)
    return ok(totalCount=total, totalPage=_pages(total, limit), currentPage=pagenumber, groupslist=[
        {"groupid": g.id, "groupname": g.name, "lockcount": len(lockids), "lockids": lockids}
        for g, lockids in page])


@router.post("/api/lock-groups", status_code=201, summary="Create a lock group", response_model=OneGroup)
async def create_group(body: GroupCreate, caller: Manager, lock_groups: Groups, locks: Locks) -> dict[str, Any]:
    group, members = await lock_groups.create(body.groupname, body.lockids, actor(caller))
    return ok("group created", group=_group_json(group, members, locks))


@router.get("/api/lock-groups/{groupid}", summary="One lock group with its locks", response_model=OneGroup)
async def get_lock_group(groupid: GroupId, caller: AdminReader, lock_groups: Groups, locks: Locks) -> dict[str, Any]:
    group, members = await lock_groups.get(groupid)
    return ok(group=_group_json(group, members, locks))


@router.delete("/api/lock-groups/{groupid}", summary="Delete a lock group (its locks stay)",
               response_model=GroupDeleted)
async def delete_lock_group(groupid: GroupId, caller: Manager, lock_groups: Groups) -> dict[str, Any]:
    await lock_groups.delete(groupid, actor(caller))
    return ok("group deleted", groupid=groupid)


@router.post("/api/lock-groups/{groupid}/locks", summary="Add locks to a group (all or none)",
             response_model=LocksAdded)
async def add_group_locks(groupid: GroupId, body: GroupLocks, caller: Manager, lock_groups: Groups,
                          locks: Locks) -> dict[str, Any]:
    added, group, members = await lock_groups.add(groupid, body.lockids, actor(caller))
    return ok(f"{len(added)} lock(s) added", added=added, group=_group_json(group, members, locks))


@router.delete("/api/lock-groups/{groupid}/locks/{lockid}", summary="Take a lock out of a group",
               response_model=LockRemoved)
async def remove_group_lock(groupid: GroupId, lockid: LockId, caller: Manager, lock_groups: Groups) -> dict[str, Any]:
    await lock_groups.remove(groupid, lockid, actor(caller))
    return ok("lock removed from the group", groupid=groupid, lockid=lockid)


@router.post("/api/lock-groups/{groupid}/unlock", summary="Unlock every lock of a group (per-lock results)",
             response_model=GroupUnlocked,
             responses={409: {"model": VendorError, "description": "`NothingToOpen`: the group has no locks"}})
async def unlock_group(groupid: GroupId, caller: Manager, locks: Locks) -> dict[str, Any]:
    """One door after the other: the bus serialises them anyway, and a failure stays that lock's
    own (``status`` is 1 only when every door opened; HTTP 200 either way, the results say which)."""
    results = []
    for lockid, result in await locks.unlock_group(groupid, actor(caller)):
        msg = "the lock is open" if result.success else f"the lock did not open: {result.error}"
        results.append({"lockid": lockid, "status": 1 if result.success else 0, "msg": msg,
                        "door": result.door, "sensor_ignored": result.sensor_ignored})
    opened = [r for r in results if r["status"]]
    return {"status": 1 if len(opened) == len(results) else 0,
            "msg": f"{len(opened)} of {len(results)} locks opened", "groupid": groupid, "results": results}
