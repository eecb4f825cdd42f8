"""Writes of load groups and their members (issue #19), checked as a site would need them.

Every change is checked as a whole before it is stored (a limit, a member's outlet taken by
another group, a parent that would nest the groups in a circle) and then tells the allocator,
which recomputes and sends new limits at once: a limit lowered over REST takes effect without
waiting for the next start or stop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.energy.allocator import paths
from csms.energy.config import (
    ConfigError,
    GroupSpec,
    MemberSpec,
    allocator_groups,
    ancestors,
    check_group,
    check_member,
    parse_windows,
    windows_json,
)
from csms.energy.manager import LoadManager
from csms.energy.state import outlet_of
from csms.queries.load_groups import LoadGroupQueries, not_found, read_specs
from csms.services.errors import Conflict, Invalid, NotFound, in_writer_order
from csms.store.energy_models import LoadGroup, LoadGroupMember
from csms.store.models import table
from csms.store.writer import Writer
from csms.timeutil import now_utc

_GROUPS = table(LoadGroup)
_MEMBERS = table(LoadGroupMember)
GROUP_FIELDS = ("name", "limit", "unit", "phases", "min_per_session", "policy", "parent_id", "windows",
                "timezone", "tag_priorities")


def _invalid(exc: ConfigError) -> Invalid:
    return Invalid(exc.code, str(exc), field=exc.field)


def spec_of(body: Mapping[str, Any], group_id: int = 0, base: GroupSpec | None = None) -> GroupSpec:
    """A group from a request body (``base``: the stored group a partial change applies to)."""
    # null is "not given" but for parent_id, where it un-nests the group
    changes: dict[str, Any] = {k: body[k] for k in GROUP_FIELDS
                               if k in body and (body[k] is not None or k == "parent_id")}
    if "windows" in changes:
        changes["windows"] = parse_windows(changes["windows"] or [])
    if "tag_priorities" in changes:
        changes["tag_priorities"] = tuple(sorted((changes["tag_priorities"] or {}).items()))
    if base is None:
        unit = changes.get("unit", "A")
        changes.setdefault("min_per_session", 6.0 if unit == "A" else 0.0)
        return GroupSpec(id=group_id, **changes)
    return replace(base, **changes)


def member_of(body: Mapping[str, Any], group: GroupSpec, member_id: int = 0) -> MemberSpec:
    """A member from a request body; ``rating`` defaults to the group's limit (the most it could
    ever be given), ``connector_id`` to 0 (the whole charge point) but for a connector."""
    kind = body.get("kind", "charge_point")
    if kind == "locker_bay" and not body.get("rating"):  # the group's limit would be one bay's
        raise Invalid("RatingRequired", "a locker_bay member needs its outlet's rating", field="rating")
    return MemberSpec(id=member_id, group_id=group.id, kind=kind, charge_point_id=body["charge_point_id"],
                      connector_id=body.get("connector_id", 1 if kind == "connector" else 0),
                      rating=body.get("rating") or group.limit, priority=body.get("priority", 0))


def _check_outlets(members: Sequence[MemberSpec]) -> None:
    """One group per outlet, and a charge point either whole or by connector, never both."""
    seen: dict[tuple[str, int], MemberSpec] = {}
    for member in members:
        other = seen.get(member.outlet)
        whole = seen.get((member.charge_point_id, 0))
        if other is None and member.connector_id == 0:
            other = next((m for m in seen.values() if m.charge_point_id == member.charge_point_id), None)
        elif other is None and whole is not None:
            other = whole
        if other is not None:
            where = "this group" if other.group_id == member.group_id else f"load group {other.group_id}"
            raise Conflict("MemberInOtherGroup", f"{member.charge_point_id} connector {member.connector_id} is "
                           f"already a member of {where} (member {other.id})", group_id=other.group_id)
        seen[member.outlet] = member


def _check_all(groups: Sequence[GroupSpec], members: Sequence[MemberSpec]) -> None:
    for group in groups:
        try:
            check_group(group)
        except ConfigError as exc:
            raise _invalid(exc) from None
    for member in members:
        try:
            check_member(member)
        except ConfigError as exc:
            raise _invalid(exc) from None
    known = {g.id for g in groups}
    for group in groups:
        if group.parent_id is not None and group.parent_id not in known:
            raise Invalid("UnknownParent", f"no load group {group.parent_id} to nest in", field="parent_id")
    try:
        paths(allocator_groups(groups))
    except ValueError as exc:
        raise Invalid("GroupCycle", str(exc), field="parent_id") from None
    _check_outlets(members)


def _group_row(spec: GroupSpec) -> dict[str, Any]:
    return {"name": spec.name, "limit_value": spec.limit, "unit": spec.unit, "phases": spec.phases,
            "min_per_session": spec.min_per_session, "policy": spec.policy, "parent_id": spec.parent_id,
            "windows": windows_json(spec.windows), "timezone": spec.timezone,
            "tag_priorities": json.dumps(dict(spec.tag_priorities)),
            "updated_at": now_utc()}


def _member_row(member: MemberSpec) -> dict[str, Any]:
    return {"group_id": member.group_id, "kind": member.kind, "charge_point_id": member.charge_point_id,
            "connector_id": member.connector_id, "rating": member.rating, "priority": member.priority}


class LoadGroupService:
    """Creates, changes and deletes groups and members, in the writer's order, then has the
    allocator (``changed``) take the new configuration."""

    def __init__(self, writer: Writer, queries: LoadGroupQueries, manager: LoadManager,
                 clustered: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._writer = writer
        self._queries = queries
        self._manager = manager
        self._clustered = clustered

    async def _single_node(self) -> None:
        """Load management needs every member's sessions in one allocator: on a cluster each node
        sees only its own charge points', so limits would not hold. Refused rather than pretended."""
        if self._clustered is not None and await self._clustered():
            raise Conflict("LoadManagementSingleNode", "load groups need a single central system node: "
                           "on a cluster each node sees only its own charge points' sessions")

    async def _changed(self) -> None:
        await self._manager.reload()

    async def listing(self) -> list[dict[str, Any]]:
        """Every group with its members and its live totals."""
        return [self._live(group) for group in await self._queries.groups()]

    async def view(self, group_id: int) -> dict[str, Any]:
        """One group with its members, each member's live sessions (limit sent, draw) and the
        group's total against its limit; :class:`NotFound` for an unknown group."""
        return self._live(await self._queries.group(group_id))

    def _live(self, group: dict[str, Any]) -> dict[str, Any]:
        spec = self._manager.layout.groups.get(group["id"])
        last = self._manager.last
        key = str(group["id"])
        layout = self._manager.layout
        below = {g.id for g in layout.groups.values() if group["id"] in ancestors(layout.groups, g.id)}
        draw_w = self._manager.draws().get(group["id"], 0.0)
        waiting = [k for k in last.waiting
                   if (m := layout.member_of(*outlet_of(k))) is not None and m.group_id in below]
        sessions = list(self._manager.sessions.values())
        for member in group["members"]:
            outlet = (member["charge_point_id"], member["connector_id"])
            member["failsafe_w"] = _round(self._manager.failsafe_w.get(outlet))
            member["controlled"] = outlet not in self._manager.refusing
            member["sessions"] = []
            for live in sessions:
                if live.charge_point_id != outlet[0] or (outlet[1] and live.connector_id != outlet[1]):
                    continue
                limit = last.limits.get(live.key)
                member["sessions"].append({
                    "connector_id": live.connector_id, "transaction_id": live.transaction_id,
                    "state": "waiting" if live.key in last.waiting or not limit else "charging",
                    "limit_w": _round(limit), "sent_w": _round(live.sent_w), "draw_w": _round(live.draw_w),
                    "limit": _round(spec.from_watts(limit)) if spec and limit is not None else None})
        limit_w = last.group_limits.get(key)
        if limit_w is None and spec is not None:  # not in a round yet (just made): the limit in force
            limit_w = spec.limit_w_at(now_utc())
        group["allocations"] = {
            "limit_w": _round(limit_w), "allocated_w": _round(last.group_totals.get(key, 0.0 if spec else None)),
            "draw_w": round(draw_w, 1), "waiting": waiting}
        return group

    async def _apply(self, op: Callable[[AsyncConnection], Awaitable[int]]) -> int:
        """Run ``op`` in the writer's order (a refusal raised, nothing written), then tell the
        load manager the groups changed."""
        found = await in_writer_order(self._writer, op)
        await self._changed()
        return found

    async def create(self, body: Mapping[str, Any]) -> int:
        """A new group with the members ``body`` lists; its id."""
        await self._single_node()
        async def op(conn: AsyncConnection) -> int:
            groups, members = await read_specs(conn)
            if any(g.name == body["name"] for g in groups):
                raise Conflict("LoadGroupExists", f"a load group is named {body['name']!r}")
            spec = _spec(body, -1)
            new = [member_of(m, spec) for m in body.get("members", [])]
            _check_all([*groups, spec], [*members, *new])
            now = now_utc()
            result = await conn.execute(_GROUPS.insert().values(**_group_row(spec), created_at=now))
            assert result.inserted_primary_key is not None
            group_id = int(result.inserted_primary_key[0])
            if new:
                await conn.execute(_MEMBERS.insert(), [{**_member_row(m), "group_id": group_id,
                                                        "created_at": now} for m in new])
            return group_id
        return await self._apply(op)

    async def update(self, group_id: int, body: Mapping[str, Any]) -> None:
        """Change the fields ``body`` names (members are changed through their own calls)."""
        async def op(conn: AsyncConnection) -> int:
            groups, members = await read_specs(conn)
            base = _find(groups, group_id)
            if "name" in body and any(g.name == body["name"] and g.id != group_id for g in groups):
                raise Conflict("LoadGroupExists", f"a load group is named {body['name']!r}")
            try:
                spec = spec_of(body, base=base)
            except ConfigError as exc:
                raise _invalid(exc) from None
            if spec.unit != base.unit and any(m.group_id == group_id for m in members):
                raise Conflict("UnitChangeWithMembers", "its members' ratings and minimum are in "
                               f"{base.unit}: remove them before changing the unit")
            _check_all([spec if g.id == group_id else g for g in groups], members)
            await conn.execute(update(_GROUPS).where(_GROUPS.c.id == group_id).values(**_group_row(spec)))
            return group_id
        await self._apply(op)

    async def delete(self, group_id: int) -> None:
        """Delete a group and its members (their limits are lifted); :class:`Conflict`
        ``LoadGroupHasChildren`` while groups nest in it."""
        async def op(conn: AsyncConnection) -> int:
            groups, _ = await read_specs(conn)
            _find(groups, group_id)
            children = [g.name for g in groups if g.parent_id == group_id]
            if children:
                raise Conflict("LoadGroupHasChildren", f"load groups nest in it: {', '.join(children)}")
            await conn.execute(delete(_MEMBERS).where(_MEMBERS.c.group_id == group_id))
            await conn.execute(delete(_GROUPS).where(_GROUPS.c.id == group_id))
            return group_id
        await self._apply(op)

    async def add_member(self, group_id: int, body: Mapping[str, Any]) -> int:
        await self._single_node()
        async def op(conn: AsyncConnection) -> int:
            groups, members = await read_specs(conn)
            member = member_of(body, _find(groups, group_id))
            _check_all(groups, [*members, member])
            result = await conn.execute(_MEMBERS.insert().values(**_member_row(member), created_at=now_utc()))
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])
        return await self._apply(op)

    async def change_member(self, group_id: int, member_id: int, body: Mapping[str, Any]) -> None:
        """A member's ``rating`` or ``priority`` (its outlet is who it is: remove and add for another)."""
        async def op(conn: AsyncConnection) -> int:
            groups, members = await read_specs(conn)
            _find(groups, group_id)
            member = next((m for m in members if m.id == member_id and m.group_id == group_id), None)
            if member is None:
                raise NotFound("MemberNotFound", f"load group {group_id} has no member {member_id}")
            changed = replace(member, **{k: body[k] for k in ("rating", "priority") if body.get(k) is not None})
            try:
                check_member(changed)
            except ConfigError as exc:
                raise _invalid(exc) from None
            await conn.execute(update(_MEMBERS).where(_MEMBERS.c.id == member_id).values(
                rating=changed.rating, priority=changed.priority))
            return member_id
        await self._apply(op)

    async def remove_member(self, group_id: int, member_id: int) -> None:
        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(delete(_MEMBERS).where(_MEMBERS.c.id == member_id,
                                                               _MEMBERS.c.group_id == group_id))
            if not result.rowcount:
                groups, _ = await read_specs(conn)
                _find(groups, group_id)
                raise NotFound("MemberNotFound", f"load group {group_id} has no member {member_id}")
            return member_id
        await self._apply(op)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _spec(body: Mapping[str, Any], group_id: int) -> GroupSpec:
    try:
        return spec_of(body, group_id)
    except ConfigError as exc:
        raise _invalid(exc) from None


def _find(groups: Sequence[GroupSpec], group_id: int) -> GroupSpec:
    found = next((g for g in groups if g.id == group_id), None)
    if found is None:
        raise not_found(group_id)
    return found



