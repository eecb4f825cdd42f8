"""The locker back office's people: users, their groups and roles (conventions:
:mod:`api.vendor.web.conventions`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field
from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.crud import create, free, log, one, page_of, patch, remove, row_or_404, unreferenced, write
from api.deps import jsonable
from api.errors import ApiError
from api.gate import GuardedRoute
from api.vendor.web.auth import PERMISSIONS, load_permissions
from api.vendor.web.conventions import (
    GROUP,
    GROUPS,
    MAX_ID,
    NOT_FOUND,
    ROLE,
    ROLES,
    TOKENS,
    USER,
    USERS,
    Admin,
    Body,
    Description,
    Email,
    Engine,
    FilterId,
    Name,
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
    hashed,
    revoke_tokens,
)
from csms.timeutil import iso, now_utc
from lockers.models import UserGroupMember, table

router = APIRouter(route_class=GuardedRoute)

MEMBERS = table(UserGroupMember)

UserId = Annotated[int, Path(alias="userId", ge=1, le=MAX_ID)]
GroupId = Annotated[int, Path(alias="groupId", ge=1, le=MAX_ID)]
RoleId = Annotated[int, Path(alias="roleId", ge=1, le=MAX_ID)]


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

    username: Username = Field(None)
    name: Name = Field(None)
    email: Email | None = None
    phone: Phone | None = None
    roleId: RefId | None = None
    password: Password | None = Field(None, description="null: the user can no longer log in.")
    active: bool = Field(None)


def _user_query() -> Select[Any]:
    return (select(USERS, ROLES.c.name.label("role"))
            .select_from(USERS.outerjoin(ROLES, ROLES.c.id == USERS.c.role_id)))


def _user(row: Any) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "name": row.name, "email": row.email,
            "phone": row.phone, "roleId": row.role_id, "role": row.role, "active": row.active,
            "hasPassword": row.password_hash is not None, "createdAt": iso(row.created_at)}


def _user_audit(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a user change: never a password."""
    out = {k: v for k, v in values.items() if k not in ("password", "password_hash")}
    if "password" in values or "password_hash" in values:
        out["password"] = "set" if values.get("password", values.get("password_hash")) else "removed"
    return out


@router.get("/api/users", tags=["users"], summary="User list")
async def list_users(_: Reader, eng: Engine, page: Paging, q: Search = None, roleId: FilterId = None,
                     active: bool | None = None) -> dict[str, Any]:
    return await page_of(eng, page, _user_query().order_by(USERS.c.username), q,
                         [USERS.c.username, USERS.c.name, USERS.c.email], _user,
                         where=[(USERS.c.role_id, roleId), (USERS.c.active, active)])


@router.post("/api/users", tags=["users"], status_code=201, summary="Add a user",
             responses={**NOT_FOUND, 409: {"description": "`UserExists`"}})
async def add_user(body: UserIn, caller: Admin, eng: Engine) -> dict[str, Any]:
    password_hash = await hashed(body.password)
    values = {**body.model_dump(exclude={"password"}), "password_hash": password_hash,
              "created_at": now_utc()}
    user_id = await create(eng, caller, USER, values,
                           check=lambda conn: row_or_404(conn, ROLE, body.roleId),
                           details=_user_audit(body.model_dump()))
    return await get_user(caller, eng, user_id)


@router.get("/api/users/{userId}", tags=["users"], summary="Get a user", responses=NOT_FOUND)
async def get_user(_: Reader, eng: Engine, user_id: UserId) -> dict[str, Any]:
    return await one(eng, USER, user_id, _user_query(), _user)


@router.patch("/api/users/{userId}", tags=["users"], summary="Edit a user",
              responses={**NOT_FOUND, 409: {"description": "`UserExists`"}})
async def update_user(body: UserPatch, caller: Admin, eng: Engine, user_id: UserId) -> dict[str, Any]:
    """A new password, role or username, or deactivation, logs the user out (their tokens are
    revoked): a token must not outlive the facts it was issued on."""
    values = body.model_dump(exclude_unset=True)
    if "password" in values:
        values["password_hash"] = await hashed(values.pop("password"))

    async def also(conn: AsyncConnection, user: Any) -> None:
        if "roleId" in values:
            await row_or_404(conn, ROLE, values["roleId"])
        if ("password_hash" in values or values.get("active") is False
                or values.get("roleId", user.role_id) != user.role_id
                or values.get("username", user.username) != user.username):
            await revoke_tokens(conn, TOKENS.c.user_id == user_id)

    await patch(eng, caller, USER, user_id, values, also=also, details=_user_audit(values))
    return await get_user(caller, eng, user_id)


@router.delete("/api/users/{userId}", tags=["users"], status_code=204, summary="Delete a user",
               responses={**NOT_FOUND, 409: {"description": "`CannotDeleteSelf`"}})
async def delete_user(caller: Admin, eng: Engine, user_id: UserId) -> None:
    """Their bays and rentals are kept without a user; their grants and memberships go."""
    if caller.user_id == user_id:
        raise ApiError(409, "CannotDeleteSelf", "you cannot delete the user you are logged in as")
    await remove(eng, caller, USER, user_id,
                 also=lambda conn, _: revoke_tokens(conn, TOKENS.c.user_id == user_id))


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

    name: Name = Field(None)
    description: Description | None = None


class Members(Body):
    model_config = examples({"userIds": [1, 2]})

    userIds: list[RefId] = Field(min_length=1, max_length=1000)


def _group_query() -> Select[Any]:
    count = (select(func.count()).where(MEMBERS.c.group_id == GROUPS.c.id)
             .correlate(GROUPS).scalar_subquery())
    return select(GROUPS.c.id, GROUPS.c.name, GROUPS.c.description, count.label("memberCount"))


async def _add_members(conn: AsyncConnection, group_id: int, user_ids: list[int]) -> list[int]:
    """Add the users not yet in the group (404 ``UserNotFound`` naming any unknown); the added."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    known = {r.id for r in await conn.execute(select(USERS.c.id).where(USERS.c.id.in_(wanted)))}
    missing = [u for u in wanted if u not in known]
    if missing:
        raise ApiError(404, "UserNotFound", f"no user(s) {missing}", userIds=missing)
    present = {r.user_id for r in await conn.execute(select(MEMBERS.c.user_id).where(
        MEMBERS.c.group_id == group_id, MEMBERS.c.user_id.in_(wanted)))}
    added = [u for u in wanted if u not in present]
    if added:
        await conn.execute(MEMBERS.insert(), [{"group_id": group_id, "user_id": u} for u in added])
    return added


@router.get("/api/groups", tags=["groups"], summary="Group list")
async def list_groups(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, _group_query().order_by(GROUPS.c.name), q,
                         [GROUPS.c.name, GROUPS.c.description])


@router.post("/api/groups", tags=["groups"], status_code=201, summary="Add a group",
             responses={**NOT_FOUND, 409: {"description": "`GroupExists`"}})
async def add_group(body: GroupIn, caller: Operator, eng: Engine) -> dict[str, Any]:
    async def work(conn: AsyncConnection) -> int:
        await free(conn, GROUP, body.name)
        result = await conn.execute(GROUPS.insert().values(name=body.name, description=body.description))
        group_id = int(result.inserted_primary_key[0])
        added = await _add_members(conn, group_id, body.userIds)
        await log(conn, caller, GROUP, "add", group_id, name=body.name, userIds=added)
        return group_id

    return await get_group(caller, eng, await write(eng, work, GROUP.duplicate(body.name)))


@router.get("/api/groups/{groupId}", tags=["groups"], summary="Group view, with its members",
            responses=NOT_FOUND)
async def get_group(_: Reader, eng: Engine, group_id: GroupId) -> dict[str, Any]:
    group = await one(eng, GROUP, group_id, _group_query())
    async with eng.connect() as conn:
        members = (await conn.execute(
            select(USERS.c.id, USERS.c.username, USERS.c.name, USERS.c.active)
            .join(MEMBERS, MEMBERS.c.user_id == USERS.c.id)
            .where(MEMBERS.c.group_id == group_id).order_by(USERS.c.username))).all()
    return {**group, "members": [jsonable(m) for m in members]}


@router.patch("/api/groups/{groupId}", tags=["groups"], summary="Edit a group",
              responses={**NOT_FOUND, 409: {"description": "`GroupExists`"}})
async def update_group(body: GroupPatch, caller: Operator, eng: Engine,
                       group_id: GroupId) -> dict[str, Any]:
    await patch(eng, caller, GROUP, group_id, body.model_dump(exclude_unset=True))
    return await get_group(caller, eng, group_id)


@router.delete("/api/groups/{groupId}", tags=["groups"], status_code=204, summary="Delete a group",
               responses=NOT_FOUND)
async def delete_group(caller: Operator, eng: Engine, group_id: GroupId) -> None:
    await remove(eng, caller, GROUP, group_id)


@router.post("/api/groups/{groupId}/members", tags=["groups"], summary="Add members to a group",
             responses=NOT_FOUND)
async def add_members(body: Members, caller: Operator, eng: Engine,
                      group_id: GroupId) -> dict[str, Any]:
    """Users already in the group are left as they are."""
    async with eng.begin() as conn:
        await row_or_404(conn, GROUP, group_id)
        added = await _add_members(conn, group_id, body.userIds)
        if added:
            await log(conn, caller, GROUP, "member_add", group_id, userIds=added)
    return await get_group(caller, eng, group_id)


@router.delete("/api/groups/{groupId}/members/{userId}", tags=["groups"], status_code=204,
               summary="Remove a member from a group",
               responses={404: {"description": "`GroupNotFound`; `MemberNotFound`"}})
async def remove_member(caller: Operator, eng: Engine, group_id: GroupId,
                        user_id: UserId) -> None:
    async with eng.begin() as conn:
        await row_or_404(conn, GROUP, group_id)
        result = await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == group_id,
                                                          MEMBERS.c.user_id == user_id))
        if not result.rowcount:
            raise ApiError(404, "MemberNotFound", f"user {user_id} is not in group {group_id}")
        await log(conn, caller, GROUP, "member_remove", group_id, user_id=user_id)


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

    name: RoleName = Field(None)
    permissions: Annotated[list[Permission], Unique] = Field(None, max_length=len(PERMISSIONS),
                                                             description=_PERMISSIONS_DOC)


def _role_query() -> Select[Any]:
    count = (select(func.count()).where(USERS.c.role_id == ROLES.c.id)
             .correlate(ROLES).scalar_subquery())
    return select(ROLES, count.label("users"))


def _role(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "permissions": load_permissions(row.permissions),
            "users": row.users}


@router.get("/api/roles", tags=["roles"], summary="List roles",
            description=_PERMISSIONS_DOC)
async def list_roles(_: Reader, eng: Engine, page: Paging, q: Search = None) -> dict[str, Any]:
    return await page_of(eng, page, _role_query().order_by(ROLES.c.name), q, [ROLES.c.name], _role)


@router.post("/api/roles", tags=["roles"], status_code=201, summary="Add a role",
             description=_PERMISSIONS_DOC, responses={409: {"description": "`RoleExists`"}})
async def add_role(body: RoleIn, caller: Admin, eng: Engine) -> dict[str, Any]:
    return await get_role(caller, eng, await create(eng, caller, ROLE, body.model_dump()))


@router.get("/api/roles/{roleId}", tags=["roles"], summary="Get a role", responses=NOT_FOUND)
async def get_role(_: Reader, eng: Engine, role_id: RoleId) -> dict[str, Any]:
    return await one(eng, ROLE, role_id, _role_query(), _role)


@router.patch("/api/roles/{roleId}", tags=["roles"], summary="Edit a role",
              description=_PERMISSIONS_DOC + " Changed permissions log out the role's users.",
              responses={**NOT_FOUND, 409: {"description": "`RoleExists`"}})
async def update_role(body: RolePatch, caller: Admin, eng: Engine, role_id: RoleId) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)

    async def also(conn: AsyncConnection, role: Any) -> None:
        if "permissions" in values and values["permissions"] != load_permissions(role.permissions):
            await revoke_tokens(conn, TOKENS.c.user_id.in_(
                select(USERS.c.id).where(USERS.c.role_id == role_id)))

    await patch(eng, caller, ROLE, role_id, values, also=also)
    return await get_role(caller, eng, role_id)


@router.delete("/api/roles/{roleId}", tags=["roles"], status_code=204, summary="Delete a role",
               responses={**NOT_FOUND, 409: {"description": "`RoleInUse`: users have it"}})
async def delete_role(caller: Admin, eng: Engine, role_id: RoleId) -> None:
    await remove(eng, caller, ROLE, role_id, also=unreferenced(
        USERS.c.role_id, "RoleInUse", lambda role, users: f"{users} user(s) have role {role.name!r}"))
