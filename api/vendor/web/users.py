"""The locker back office's people: users, their groups and roles (conventions:
:mod:`api.vendor.web.conventions`; the records: :mod:`lockers.backoffice`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

from api.errors import ApiError, declare
from api.schemas import Paged
from api.vendor.web.auth import PERMISSIONS
from api.vendor.web.conventions import (
    MAX_ID,
    Admin,
    Body,
    Description,
    Email,
    FilterId,
    Name,
    Omittable,
    Operator,
    Paging,
    Password,
    Permission,
    Phone,
    Reader,
    RefId,
    RoleName,
    Search,
    Unique,
    Username,
    examples,
    served,
    web_router,
)
from lockers.backoffice.groups import GroupService
from lockers.backoffice.roles import RoleService
from lockers.backoffice.users import UserService

router = web_router()

UserId = Annotated[int, Path(alias="userId", ge=1, le=MAX_ID)]
GroupId = Annotated[int, Path(alias="groupId", ge=1, le=MAX_ID)]
RoleId = Annotated[int, Path(alias="roleId", ge=1, le=MAX_ID)]
Users = Annotated[UserService, served(UserService)]
Groups = Annotated[GroupService, served(GroupService)]
Roles = Annotated[RoleService, served(RoleService)]


# ================================================================================================
# Users
# ================================================================================================
class UserIn(Body):
    model_config = examples({"username": "alice", "name": "Alice Example", "email": "alice@example.com",
                             "roleId": 1, "password": "correct horse battery"})

    username: Username = Field(description="Stored lower case.")
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    roleId: RefId | None = None
    password: Password | None = Field(None, description="Without one the user cannot log in.")
    active: bool = True


class UserPatch(Body):
    model_config = examples({"active": False}, {"password": "another good password"})

    username: Omittable[Username] = None
    name: Omittable[Name] = None
    email: Email | None = None
    phone: Phone | None = None
    roleId: RefId | None = None
    password: Password | None = Field(None, description="null: the user can no longer log in.")
    active: Omittable[bool] = None


class UserOut(BaseModel):
    id: int
    username: str
    name: str
    email: str | None
    phone: str | None
    roleId: int | None
    role: str | None = Field(description="The role's name.")
    active: bool
    hasPassword: bool = Field(description="Whether the user can log in (the hash is never shown).")
    createdAt: str


USER_EXISTS = {404: "`UserNotFound`; `RoleNotFound` (`roleId`)", 409: "`UserExists`: the username is taken"}


@router.get("/api/users", tags=["users"], summary="User list", response_model=Paged[UserOut],
            responses=declare({}))
async def list_users(_: Reader, users: Users, page: Paging, q: Search = None, roleId: FilterId = None,
                     active: bool | None = None) -> dict[str, Any]:
    return await users.page(page, q, roleId, active)


@router.post("/api/users", tags=["users"], status_code=201, summary="Add a user", response_model=UserOut,
             responses=declare({404: "`RoleNotFound`", 409: "`UserExists`"}))
async def add_user(body: UserIn, caller: Admin, users: Users) -> dict[str, Any]:
    return await users.get(await users.add(caller, body.model_dump()))


@router.get("/api/users/{userId}", tags=["users"], summary="Get a user", response_model=UserOut,
            responses=declare({404: "`UserNotFound`"}))
async def get_user(_: Reader, users: Users, user_id: UserId) -> dict[str, Any]:
    return await users.get(user_id)


@router.patch("/api/users/{userId}", tags=["users"], summary="Edit a user", response_model=UserOut,
              responses=declare(USER_EXISTS))
async def update_user(body: UserPatch, caller: Admin, users: Users, user_id: UserId) -> dict[str, Any]:
    """A new password, role or username, or deactivation, logs the user out (their tokens are
    revoked): a token must not outlive the facts it was issued on."""
    await users.update(caller, user_id, body.model_dump(exclude_unset=True))
    return await users.get(user_id)


@router.delete("/api/users/{userId}", tags=["users"], status_code=204, summary="Delete a user",
               responses=declare({404: "`UserNotFound`", 409: "`CannotDeleteSelf`"}))
async def delete_user(caller: Admin, users: Users, user_id: UserId) -> None:
    """Their bays and rentals are kept without a user; their grants and memberships go."""
    if caller.user_id == user_id:
        raise ApiError(409, "CannotDeleteSelf", "you cannot delete the user you are logged in as")
    await users.delete(caller, user_id)


# ================================================================================================
# Groups
# ================================================================================================
class GroupIn(Body):
    model_config = examples({"name": "Night staff", "description": "after 22:00", "userIds": [1]})

    name: Name
    description: Description | None = None
    userIds: list[RefId] = Field([], max_length=1000)


class GroupPatch(Body):
    model_config = examples({"description": "after 21:00"})

    name: Omittable[Name] = None
    description: Description | None = None


class Members(Body):
    model_config = examples({"userIds": [1, 2]})

    userIds: list[RefId] = Field(min_length=1, max_length=1000)


class GroupOut(BaseModel):
    id: int
    name: str
    description: str | None
    memberCount: int


class Member(BaseModel):
    id: int
    username: str
    name: str
    active: bool


class GroupDetail(GroupOut):
    members: list[Member] = Field(description="By username.")


GROUP_NOT_FOUND = {404: "`GroupNotFound`"}


@router.get("/api/groups", tags=["groups"], summary="Group list", response_model=Paged[GroupOut],
            responses=declare({}))
async def list_groups(_: Reader, groups: Groups, page: Paging, q: Search = None) -> dict[str, Any]:
    return await groups.page(page, q)


@router.post("/api/groups", tags=["groups"], status_code=201, summary="Add a group",
             response_model=GroupDetail,
             responses=declare({404: "`UserNotFound` (`userIds` names them)", 409: "`GroupExists`"}))
async def add_group(body: GroupIn, caller: Operator, groups: Groups) -> dict[str, Any]:
    return await groups.get(await groups.add(caller, body.name, body.description, body.userIds))


@router.get("/api/groups/{groupId}", tags=["groups"], summary="Group view, with its members",
            response_model=GroupDetail, responses=declare(GROUP_NOT_FOUND))
async def get_group(_: Reader, groups: Groups, group_id: GroupId) -> dict[str, Any]:
    return await groups.get(group_id)


@router.patch("/api/groups/{groupId}", tags=["groups"], summary="Edit a group", response_model=GroupDetail,
              responses=declare({**GROUP_NOT_FOUND, 409: "`GroupExists`"}))
async def update_group(body: GroupPatch, caller: Operator, groups: Groups,
                       group_id: GroupId) -> dict[str, Any]:
    await groups.update(caller, group_id, body.model_dump(exclude_unset=True))
    return await groups.get(group_id)


@router.delete("/api/groups/{groupId}", tags=["groups"], status_code=204, summary="Delete a group",
               responses=declare(GROUP_NOT_FOUND))
async def delete_group(caller: Operator, groups: Groups, group_id: GroupId) -> None:
    await groups.delete(caller, group_id)


@router.post("/api/groups/{groupId}/members", tags=["groups"], summary="Add members to a group",
             response_model=GroupDetail,
             responses=declare({404: "`GroupNotFound`; `UserNotFound` (`userIds` names them)"}))
async def add_members(body: Members, caller: Operator, groups: Groups,
                      group_id: GroupId) -> dict[str, Any]:
    """Users already in the group are left as they are."""
    await groups.add_members(caller, group_id, body.userIds)
    return await groups.get(group_id)


@router.delete("/api/groups/{groupId}/members/{userId}", tags=["groups"], status_code=204,
               summary="Remove a member from a group",
               responses=declare({404: "`GroupNotFound`; `MemberNotFound`"}))
async def remove_group_member(caller: Operator, groups: Groups, group_id: GroupId,
                        user_id: UserId) -> None:
    await groups.remove_member(caller, group_id, user_id)


# ================================================================================================
# Roles
# ================================================================================================
_PERMISSIONS_DOC = ("Permissions: `admin` (API role admin), `operate` (operator), `view` (viewer); "
                    "a login gets the strongest its role grants.")


class RoleIn(Body):
    model_config = examples({"name": "Site operator", "permissions": ["operate"]})

    name: RoleName
    permissions: Annotated[list[Permission], Unique] = Field(max_length=len(PERMISSIONS),
                                                             description=_PERMISSIONS_DOC)


class RolePatch(Body):
    model_config = examples({"permissions": ["view"]})

    name: Omittable[RoleName] = None
    permissions: Omittable[Annotated[list[Permission], Field(max_length=len(PERMISSIONS)), Unique]] = Field(
        None, description=_PERMISSIONS_DOC)


class RoleOut(BaseModel):
    id: int
    name: str
    permissions: list[str]
    users: int = Field(description="How many users have it.")


ROLE_NOT_FOUND = {404: "`RoleNotFound`"}


@router.get("/api/roles", tags=["roles"], summary="List roles", description=_PERMISSIONS_DOC,
            response_model=Paged[RoleOut], responses=declare({}))
async def list_roles(_: Reader, roles: Roles, page: Paging, q: Search = None) -> dict[str, Any]:
    return await roles.page(page, q)


@router.post("/api/roles", tags=["roles"], status_code=201, summary="Add a role",
             description=_PERMISSIONS_DOC, response_model=RoleOut,
             responses=declare({409: "`RoleExists`"}))
async def add_role(body: RoleIn, caller: Admin, roles: Roles) -> dict[str, Any]:
    return await roles.get(await roles.add(caller, body.model_dump()))


@router.get("/api/roles/{roleId}", tags=["roles"], summary="Get a role", response_model=RoleOut,
            responses=declare(ROLE_NOT_FOUND))
async def get_role(_: Reader, roles: Roles, role_id: RoleId) -> dict[str, Any]:
    return await roles.get(role_id)


@router.patch("/api/roles/{roleId}", tags=["roles"], summary="Edit a role",
              description=_PERMISSIONS_DOC + " Changed permissions log out the role's users.",
              response_model=RoleOut, responses=declare({**ROLE_NOT_FOUND, 409: "`RoleExists`"}))
async def update_role(body: RolePatch, caller: Admin, roles: Roles, role_id: RoleId) -> dict[str, Any]:
    await roles.update(caller, role_id, body.model_dump(exclude_unset=True))
    return await roles.get(role_id)


@router.delete("/api/roles/{roleId}", tags=["roles"], status_code=204, summary="Delete a role",
               responses=declare({**ROLE_NOT_FOUND, 409: "`RoleInUse`: users have it"}))
async def delete_role(caller: Admin, roles: Roles, role_id: RoleId) -> None:
    await roles.delete(caller, role_id)
