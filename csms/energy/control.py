"""Which members of the load groups the central system can change now, and what the others
hold: a snapshot the manager takes each round, so a round decides on one consistent view.

A member is *beyond control* when it refuses profiles (it may draw its rating) or when a profile
did not reach its charge point (it keeps what it accepted last). What such members may draw is
kept out of the shares, and the failsafes are computed around it (:mod:`csms.energy.outage`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from csms.energy.config import MemberSpec, ancestors
from csms.energy.outage import Holder
from csms.energy.state import Layout, Live, Outlet, outlet_of

CLOCK_SKEW_S = 60.0  # a lease is read on the charge point's clock: it may run this much longer


@dataclass(frozen=True, slots=True)
class Control:
    layout: Layout
    sessions: list[Live]
    refusing: Collection[Outlet]
    away: Collection[str]  # charge points a profile did not reach
    failsafe_w: Mapping[Outlet, float]  # the failsafe each member accepted last
    connectors: Mapping[str, int]  # the highest connector each charge point reported since
    now: float  # the manager's clock
    sees: Callable[[str], bool]  # whether a charge point was ever connected (LoadManager.sees)

    def member(self, key: str) -> MemberSpec:
        found = self.layout.member_of(*outlet_of(key))
        assert found is not None
        return found

    def outlets(self, member: MemberSpec) -> int:
        """A member's outlets: a charge point's connectors as reported (in the store when the
        layout was read, or since), else one."""
        if member.kind != "charge_point":
            return 1
        cp = member.charge_point_id
        return max(self.connectors.get(cp, 1), self.layout.connectors.get(cp, 1))

    def controlled(self, member: MemberSpec) -> bool:
        return member.outlet not in self.refusing and member.charge_point_id not in self.away

    def fixed(self, member: MemberSpec, rating: float) -> float | None:
        """What a member the central system cannot change now may draw on an idle outlet: one
        refusing profiles its rating, one unreachable the failsafe it accepted last (0 if it never
        accepted one: it is not limited by one); None for a member under control."""
        if member.outlet in self.refusing:
            return rating
        if member.charge_point_id in self.away:
            held = self.failsafe_w.get(member.outlet)
            if held is not None:
                return held
            # never connected: not installed yet, or it has never heard of load management (it
            # draws its rating if it charges); a charge point seen before may hold anything
            return rating if self.sees(member.charge_point_id) else 0.0
        return None

    def holders(self, limits: Mapping[str, float]) -> dict[MemberSpec, Holder]:
        """Each member as :mod:`csms.energy.outage` sees it: its sessions' shares in ``limits``
        (a waiting session, at 0, is an idle outlet: it would start at the failsafe)."""
        running: dict[Outlet, list[float]] = {}
        for live in self.sessions:
            member = self.layout.member_of(live.charge_point_id, live.connector_id)
            if member is not None:
                running.setdefault(member.outlet, []).append(limits.get(live.key, 0.0))
        found = {}
        for member in self.layout.members.values():
            owner = self.layout.groups[member.group_id]
            rating, shares = owner.rating_w(member), tuple(w for w in running.get(member.outlet, ()) if w > 0)
            found[member] = Holder(str(member.group_id), shares, max(0, self.outlets(member) - len(shares)), rating,
                                   owner.minimum_w(member), self.fixed(member, rating))
        return found

    def beyond(self) -> tuple[dict[str, float], dict[int, float]]:
        """What members beyond control (refusing profiles, unreachable) may draw: per session
        (its rating when refusing; when unreachable, the larger of its share and its failsafe,
        which takes over when the share's lease ends), and per group that plus their idle
        outlets at their failsafe (a start there is heard of only after it began). Kept out of
        the shares, whatever room is left."""
        held: dict[str, float] = {}
        busy: dict[Outlet, int] = {}
        for live in self.sessions:
            member = self.layout.member_of(live.charge_point_id, live.connector_id)
            if member is None:
                continue
            busy[member.outlet] = busy.get(member.outlet, 0) + 1
            rating = self.layout.groups[member.group_id].rating_w(member)
            if self.fixed(member, rating) is not None:  # its share while its lease may run, then its failsafe
                share = live.sent_w if self.now < live.sent_at + live.lease_s + CLOCK_SKEW_S else None
                known = [w for w in (share, self.failsafe_w.get(member.outlet)) if w is not None]
                held[live.key] = rating if member.outlet in self.refusing or not known else max(known)
        reserve: dict[int, float] = {}
        for member in self.layout.members.values():
            fixed = self.fixed(member, self.layout.groups[member.group_id].rating_w(member))
            if fixed is None:
                continue
            outlets = self.outlets(member)
            drawn = max(0, outlets - busy.get(member.outlet, 0)) * fixed + sum(
                w for key, w in held.items() if self.layout.member_of(*outlet_of(key)) is member)
            drawn = min(drawn, self.layout.groups[member.group_id].rating_w(member))  # all it can
            for gid in ancestors(self.layout.groups, member.group_id):
                reserve[gid] = reserve.get(gid, 0.0) + drawn
        return held, reserve
