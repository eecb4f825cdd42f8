"""What the load manager knows of the sessions under its groups, and how it puts them to the
allocator: the live sessions, the groups and members in force, and :func:`build`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from csms.energy.allocator import Group, Session
from csms.energy.config import GroupSpec, MemberSpec

SETTLE_S = 1.0  # a draw measured this soon after its share was accepted may predate the share
Outlet = tuple[str, int]  # (charge point, connector: 0 for the whole charge point)


@dataclass(slots=True)
class Live:
    """A running session on a member's outlet."""

    charge_point_id: str
    connector_id: int
    transaction_id: int
    arrived: float
    station_tx: str | None = None  # a 2.0.1 station's own transaction id (its TxProfile names it)
    draw_w: float | None = None
    draw_at: float = 0.0  # when draw_w was measured (the manager's clock)
    capped: bool = False  # last given less than its rating because it drew less (usable())
    rejections: int = 0  # its shares Rejected in a row
    counted: tuple[float | None, float | None] = (None, None)  # (draw, share) the last decision used
    tags: tuple[str | None, ...] = ()  # its id tag and the tag's parent (a group's tag priorities)
    given_w: float | None = None  # the share last computed
    sent_w: float | None = None  # the share the charge point accepted last
    sent_at: float = 0.0
    lease_s: float = 0.0  # how long the share being sent holds (its validTo)
    renew_at: float = 0.0  # when its share is sent again though unchanged (0: at the next round)
    suspended_ev: bool = False

    @property
    def key(self) -> str:
        return f"{self.charge_point_id}/{self.connector_id}"


@dataclass(slots=True)
class Layout:
    """The groups and members in force, indexed for the handlers' lookups."""

    groups: dict[int, GroupSpec] = field(default_factory=dict)
    members: dict[Outlet, MemberSpec] = field(default_factory=dict)
    charge_points: set[str] = field(default_factory=set)
    connectors: dict[str, int] = field(default_factory=dict)  # as reported before it was read
    failsafes: dict[Outlet, float] = field(default_factory=dict)  # accepted, as stored

    @classmethod
    def of(cls, groups: Iterable[GroupSpec], members: Iterable[MemberSpec]) -> Layout:
        found = cls({g.id: g for g in groups}, {m.outlet: m for m in members})
        found.charge_points = {cp for cp, _ in found.members}
        return found

    def member_of(self, charge_point_id: str, connector_id: int) -> MemberSpec | None:
        return self.members.get((charge_point_id, connector_id)) or self.members.get((charge_point_id, 0))


def outlet_of(key: str) -> Outlet:
    """A session's key (``"CP-1/2"``) as its (charge point, connector)."""
    charge_point_id, _, connector = key.rpartition("/")
    return charge_point_id, int(connector)


def limits_at(layout: Layout, now: datetime) -> dict[str, float]:
    """Each group's limit in force at ``now`` (in its site's time), in watts, by the allocator's key."""
    return {str(gid): spec.limit_w_at(now) for gid, spec in layout.groups.items()}


def build(layout: Layout, sessions: Iterable[Live], limits: Mapping[str, float],
          beyond: Mapping[str, float] | None = None, reserve: Mapping[int, float] | None = None
          ) -> tuple[dict[str, Group], list[Session]]:
    """The allocator's input: groups at their ``limits`` (:func:`limits_at`), less what
    ``reserve`` keeps back for what is ``beyond`` control (a charge point member is a group of
    its own, its rating shared by its connectors), one session per live transaction not
    ``beyond`` it."""
    beyond, reserve = beyond or {}, reserve or {}
    groups: dict[str, Group] = {}
    for gid, spec in layout.groups.items():
        parent = None if spec.parent_id is None else str(spec.parent_id)
        groups[str(gid)] = Group(str(gid), max(0.0, limits[str(gid)] - reserve.get(gid, 0.0)), parent, (),
                                 spec.policy)
    for whole in layout.members.values():
        if whole.kind == "charge_point":
            groups[f"m{whole.id}"] = Group(f"m{whole.id}", layout.groups[whole.group_id].rating_w(whole),
                                           str(whole.group_id))
    found = []
    for live in sessions:
        member = layout.member_of(live.charge_point_id, live.connector_id)
        if member is None or live.key in beyond:
            continue
        owner = layout.groups[member.group_id]
        rating, minimum = owner.rating_w(member), owner.minimum_w(member)
        priority = max(member.priority, owner.tag_priority(live.tags)) if owner.policy == "priority" else 0
        # A reading from before its share took effect says nothing of what it takes of it (one
        # sampled just before, on its way while the share went out, neither: SETTLE_S after):
        # then the reading and share the last decision rested on stand, so it is not undone.
        if live.draw_at >= live.sent_at + SETTLE_S:
            live.counted = (0.0 if live.suspended_ev and live.draw_w is not None else live.draw_w, live.given_w)
        draw, given = live.counted
        found.append(Session(live.key, f"m{member.id}" if member.kind == "charge_point" else str(member.group_id),
                             live.arrived, rating, minimum, draw, given, priority))
    return groups, found
