"""Load groups as a resource (issue #19): a shared limit, its members, and the live allocation.

Every write is checked as a whole (limits, units, a member's outlet in one group only, nesting
without circles) and takes effect at once: the allocator recomputes and sends new limits.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from api.auth import require
from api.deps import LoadGroups, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas.load_groups import (
    LoadGroupChange,
    LoadGroupCreate,
    LoadGroupOut,
    LoadSample,
    MemberChange,
    MemberIn,
)

router = APIRouter(prefix="/api/v1/load-groups", tags=["load groups"], route_class=GuardedRoute)
write = Depends(require("operator"))
read = Depends(require("operator", "integrator", "viewer"))
INVALID = ("`RatingRequired`, `InvalidUnit`, `InvalidPolicy`, `InvalidPhases`, `InvalidLimit`, `InvalidMinimum`, "
           "`InvalidWindow`, `UnknownTimezone`, `UnknownParent`, `GroupCycle`, `InvalidMemberKind`, "
           "`InvalidConnector`, `InvalidRating`")


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True, by_alias=True)


@router.post("", status_code=201, summary="Create a load group", dependencies=[write],
             response_model=LoadGroupOut,
             responses=declare({409: "`LoadGroupExists`, `MemberInOtherGroup`, `LoadManagementSingleNode` "
                                     "(a cluster)", 422: INVALID}))
async def create_load_group(body: LoadGroupCreate, service: LoadGroups) -> dict[str, Any]:
    """A limit its members share (amps per phase with a phase count, or watts). Sessions under it
    get at least ``min_per_session`` or wait; what a session does not use goes to the others."""
    fields = _body(body)
    fields["members"] = [m.model_dump(exclude_none=True) for m in body.members]
    return await service.view(await service.create(fields))


@router.get("", summary="Load groups with their live allocations", dependencies=[read],
            response_model=list[LoadGroupOut], responses=declare({}))
async def list_load_groups(service: LoadGroups) -> list[dict[str, Any]]:
    return await service.listing()


@router.get("/{group_id}", summary="One load group: members, limits sent, draws, total", dependencies=[read],
            response_model=LoadGroupOut, responses=declare({404: "`LoadGroupNotFound`"}))
async def get_load_group(group_id: int, service: LoadGroups) -> dict[str, Any]:
    return await service.view(group_id)


@router.patch("/{group_id}", summary="Change a load group", dependencies=[write], response_model=LoadGroupOut,
              responses=declare({404: "`LoadGroupNotFound`", 409: "`LoadGroupExists`, `UnitChangeWithMembers`",
                                 422: INVALID}))
async def change_load_group(group_id: int, body: LoadGroupChange, service: LoadGroups) -> dict[str, Any]:
    """A lower limit takes effect at once: shares are recomputed and sent."""
    await service.update(group_id, _body(body))
    return await service.view(group_id)


@router.delete("/{group_id}", status_code=204, summary="Delete a load group and its members",
               dependencies=[write], response_class=Response,
               responses=declare({404: "`LoadGroupNotFound`", 409: "`LoadGroupHasChildren`"}))
async def delete_load_group(group_id: int, service: LoadGroups) -> Response:
    await service.delete(group_id)
    return Response(status_code=204)


@router.post("/{group_id}/members", status_code=201, summary="Add a member", dependencies=[write],
             response_model=LoadGroupOut,
             responses=declare({404: "`LoadGroupNotFound`",
                                409: "`MemberInOtherGroup`, `LoadManagementSingleNode` (a cluster)", 422: INVALID}))
async def add_member(group_id: int, body: MemberIn, service: LoadGroups) -> dict[str, Any]:
    await service.add_member(group_id, body.model_dump(exclude_none=True))
    return await service.view(group_id)


@router.patch("/{group_id}/members/{member_id}", summary="Change a member's rating or priority",
              dependencies=[write], response_model=LoadGroupOut,
              responses=declare({404: "`LoadGroupNotFound`, `MemberNotFound`", 422: "`InvalidRating`"}))
async def change_member(group_id: int, member_id: int, body: MemberChange, service: LoadGroups) -> dict[str, Any]:
    """Takes effect at once, as a limit change does. Its charge point and connector are what it
    is: to put another outlet in the group, remove this member and add that one."""
    await service.change_member(group_id, member_id, body.model_dump(exclude_none=True))
    return await service.view(group_id)


@router.delete("/{group_id}/members/{member_id}", status_code=204, summary="Remove a member",
               dependencies=[write], response_class=Response,
               responses=declare({404: "`LoadGroupNotFound`, `MemberNotFound`"}))
async def remove_member(group_id: int, member_id: int, service: LoadGroups) -> Response:
    await service.remove_member(group_id, member_id)
    return Response(status_code=204)


@router.get("/{group_id}/history", summary="The group's draw and limit over the last hours",
            dependencies=[read], response_model=list[LoadSample], responses=declare({404: "`LoadGroupNotFound`"}))
async def load_group_history(group_id: int, reads: Queries,
                             hours: Annotated[float, Query(gt=0, le=168)] = 3) -> list[dict[str, Any]]:
    return await reads.load_groups.history(group_id, hours)

