"""Lock groups (the smart-lock API of seed 003): named sets of lockers, changed all or nothing,
every change in the audit log in the same database transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockers.audit import audit
from lockers.errors import Conflict, NotFound
from lockers.locks import lock_query
from lockers.models import Locker, LockGroup, LockGroupMember, table

GROUPS = table(LockGroup)
MEMBERS = table(LockGroupMember)
LOCKERS = table(Locker)


async def _group(conn: AsyncConnection, groupid: int) -> Any:
    group = (await conn.execute(select(GROUPS).where(GROUPS.c.id == groupid))).first()
    if group is None:
        raise NotFound("GroupNotFound", f"no lock group {groupid}")
    return group


async def _locker_ids(conn: AsyncConnection, lockids: list[str]) -> dict[str, int]:
    """Lock ids to locker ids, all or nothing (naming the unknown ones)."""
    wanted = list(dict.fromkeys(lockids))
    found = {r.identity: int(r.id) for r in await conn.execute(
        select(LOCKERS.c.id, LOCKERS.c.identity).where(LOCKERS.c.identity.in_(wanted)))} if wanted else {}
    unknown = [lockid for lockid in wanted if lockid not in found]
    if unknown:
        raise NotFound("LockNotFound", f"no lock {', '.join(map(repr, unknown))}", unknown=unknown)
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


async def _members(conn: AsyncConnection, groupid: int) -> list[Any]:
    """The group's locks as :func:`lockers.locks.lock_query` rows, by identity."""
    return list((await conn.execute(lock_query().join(MEMBERS, MEMBERS.c.locker_id == LOCKERS.c.id)
                                    .where(MEMBERS.c.group_id == groupid)
                                    .order_by(LOCKERS.c.identity))).all())


class LockGroups:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def page(self, offset: int, limit: int) -> tuple[int, list[tuple[Any, list[str]]]]:
        """(how many groups there are, one page of them by name, each with its lock ids)."""
        async with self.engine.connect() as conn:
            total = int((await conn.execute(select(func.count()).select_from(GROUPS))).scalar_one())
            groups = [] if offset >= total else (await conn.execute(
                select(GROUPS).order_by(GROUPS.c.name, GROUPS.c.id).limit(limit).offset(offset))).all()
            members: dict[int, list[str]] = {g.id: [] for g in groups}
            if groups:
                for m in await conn.execute(
                        select(MEMBERS.c.group_id, LOCKERS.c.identity)
                        .join(LOCKERS, LOCKERS.c.id == MEMBERS.c.locker_id)
                        .where(MEMBERS.c.group_id.in_(list(members))).order_by(LOCKERS.c.identity)):
                    members[m.group_id].append(m.identity)
        return total, [(g, members[g.id]) for g in groups]

    async def create(self, name: str, lockids: list[str], who: str) -> tuple[Any, list[Any]]:
        """The new group and its locks; a name taken (now or meanwhile) is a conflict."""
        try:
            async with self.engine.begin() as conn:
                lockers = await _locker_ids(conn, lockids)
                if (await conn.execute(select(GROUPS.c.id).where(GROUPS.c.name == name))).first():
                    raise Conflict("GroupExists", f"a lock group {name!r} exists already")
                created = await conn.execute(GROUPS.insert().values(name=name))
                key = created.inserted_primary_key
                assert key is not None  # an INSERT of one row has one
                groupid = int(key[0])
                await audit(conn, who, "lockgroup.create", groupid=groupid, name=name)
                await _add_members(conn, groupid, lockers, who)
                return await _group(conn, groupid), await _members(conn, groupid)
        except IntegrityError:  # created by someone else in the meantime
            raise Conflict("GroupExists", f"a lock group {name!r} exists already") from None

    async def get(self, groupid: int) -> tuple[Any, list[Any]]:
        async with self.engine.connect() as conn:
            return await _group(conn, groupid), await _members(conn, groupid)

    async def delete(self, groupid: int, who: str) -> None:
        """The group goes; its locks stay."""
        async with self.engine.begin() as conn:
            group = await _group(conn, groupid)
            await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == groupid))
            await conn.execute(delete(GROUPS).where(GROUPS.c.id == groupid))
            await audit(conn, who, "lockgroup.delete", groupid=groupid, name=group.name)

    async def add(self, groupid: int, lockids: list[str], who: str) -> tuple[list[str], Any, list[Any]]:
        """(the lock ids added, the group, its locks now); all or none of ``lockids`` exist."""
        async with self.engine.begin() as conn:
            group = await _group(conn, groupid)
            lockers = await _locker_ids(conn, lockids)
            added = await _add_members(conn, groupid, lockers, who)
            return added, group, await _members(conn, groupid)

    async def remove(self, groupid: int, lockid: str, who: str) -> None:
        async with self.engine.begin() as conn:
            await _group(conn, groupid)
            member = (await conn.execute(
                select(MEMBERS.c.locker_id).join(LOCKERS, LOCKERS.c.id == MEMBERS.c.locker_id)
                .where(MEMBERS.c.group_id == groupid, LOCKERS.c.identity == lockid))).first()
            if member is None:
                raise NotFound("LockNotInGroup", f"lock {lockid!r} is not in lock group {groupid}")
            await conn.execute(delete(MEMBERS).where(MEMBERS.c.group_id == groupid,
                                                     MEMBERS.c.locker_id == member.locker_id))
            await audit(conn, who, "lockgroup.remove", locker_id=member.locker_id, groupid=groupid,
                        lockid=lockid)

    async def to_unlock(self, groupid: int) -> list[Any]:
        """The group's locks, to open one after the other; an empty group is a conflict."""
        async with self.engine.connect() as conn:
            await _group(conn, groupid)
            members = await _members(conn, groupid)
        if not members:
            raise Conflict("NothingToOpen", f"lock group {groupid} has no locks", results=[])
        return members

    async def record_unlock(self, groupid: int, who: str, opened: list[str], failed: list[str]) -> None:
        async with self.engine.begin() as conn:
            await audit(conn, who, "lockgroup.unlock", groupid=groupid, opened=opened, failed=failed)
