"""Reads of load groups (issue #19): the groups and members as stored, as specs for the allocator,
and a group's draw over time for the dashboard's chart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.energy.config import GroupSpec, MemberSpec, parse_windows
from csms.queries.pages import jsonable
from csms.services.errors import NotFound
from csms.store.energy_models import LoadGroup, LoadGroupMember, LoadGroupSample
from csms.store.models import table
from csms.timeutil import now_utc

_GROUPS = table(LoadGroup)
_MEMBERS = table(LoadGroupMember)
_SAMPLES = table(LoadGroupSample)


def not_found(group_id: int) -> NotFound:
    return NotFound("LoadGroupNotFound", f"no load group {group_id}")


def group_spec(row: Any) -> GroupSpec:
    return GroupSpec(id=row.id, name=row.name, limit=row.limit_value, unit=row.unit, phases=row.phases,
                     min_per_session=row.min_per_session, policy=row.policy, parent_id=row.parent_id,
                     windows=parse_windows(json.loads(row.windows or "[]")), timezone=row.timezone,
                     tag_priorities=tuple(sorted(json.loads(row.tag_priorities or "{}").items())))


def member_spec(row: Any) -> MemberSpec:
    return MemberSpec(id=row.id, group_id=row.group_id, kind=row.kind, charge_point_id=row.charge_point_id,
                      connector_id=row.connector_id, rating=row.rating, priority=row.priority)


def group_json(row: Any) -> dict[str, Any]:
    shown = jsonable(row)
    shown["limit"] = shown.pop("limit_value")
    shown["windows"] = json.loads(shown["windows"] or "[]")
    shown["tag_priorities"] = json.loads(shown["tag_priorities"] or "{}")
    return shown


async def read_specs(conn: AsyncConnection) -> tuple[list[GroupSpec], list[MemberSpec]]:
    groups = [group_spec(r) for r in await conn.execute(select(_GROUPS).order_by(_GROUPS.c.id))]
    members = [member_spec(r) for r in await conn.execute(select(_MEMBERS).order_by(_MEMBERS.c.id))]
    return groups, members


class LoadGroupQueries:
    """What the REST API and the allocator read of load groups."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def specs(self) -> tuple[list[GroupSpec], list[MemberSpec]]:
        """Every group and member, as the allocator takes them."""
        async with self._engine.connect() as conn:
            return await read_specs(conn)

    async def groups(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(_GROUPS).order_by(_GROUPS.c.name))).all()
            members = (await conn.execute(select(_MEMBERS).order_by(_MEMBERS.c.id))).all()
        found = [group_json(r) for r in rows]
        for group in found:
            group["members"] = [jsonable(m) for m in members if m.group_id == group["id"]]
        return found

    async def group(self, group_id: int) -> dict[str, Any]:
        """One group with its members; :class:`NotFound` for an unknown one."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_GROUPS).where(_GROUPS.c.id == group_id))).first()
            if row is None:
                raise not_found(group_id)
            members = (await conn.execute(select(_MEMBERS).where(_MEMBERS.c.group_id == group_id)
                                          .order_by(_MEMBERS.c.id))).all()
        found = group_json(row)
        found["members"] = [jsonable(m) for m in members]
        return found

    async def history(self, group_id: int, hours: float) -> list[dict[str, Any]]:
        """The group's samples of the last ``hours``, oldest first."""
        since: datetime = now_utc() - timedelta(hours=hours)
        async with self._engine.connect() as conn:
            if (await conn.execute(select(_GROUPS.c.id).where(_GROUPS.c.id == group_id))).first() is None:
                raise not_found(group_id)
            rows = (await conn.execute(
                select(_SAMPLES.c.at, _SAMPLES.c.draw_w, _SAMPLES.c.allocated_w, _SAMPLES.c.limit_w)
                .where(_SAMPLES.c.group_id == group_id, _SAMPLES.c.at >= since)
                .order_by(_SAMPLES.c.at))).all()
        return [jsonable(r) for r in rows]
