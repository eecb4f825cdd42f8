"""Each member's failsafe limit: what it may draw while the central system is away. A pure
function, no I/O, so the guarantee below is tested on its own.

The guarantee: whenever the central system goes away, no group exceeds its limit, not for a
moment. A charge point that loses the central system keeps the profiles it holds: a running
session its leased TxProfile (its share) until the lease ends, then its TxDefaultProfile (the
failsafe), and a session started meanwhile the failsafe. So each outlet may draw up to
``max(share, failsafe)``, and every group needs

(b) the sum over its outlets of ``max(share, failsafe)`` (``failsafe`` alone for an idle
    outlet) within its limit now, and
(a) the sum of every outlet's failsafe within the lowest limit of its day (a time-of-day window
    may begin during the outage, after the leases ended).

Within that, the failsafes are chosen so that an outage *freezes* the allocation instead of
shrinking it: a member whose every outlet charges keeps its share as its failsafe (it costs
nothing under (b)); members with idle outlets share what the sessions leave (one level for all,
max-min fair), and a failsafe under the member's minimum is 0 (it could not charge at it).
Members that hold a failsafe the central system cannot change now (offline, or refusing
profiles) are ``fixed``: counted at what they hold, outside the sharing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from csms.energy.allocator import EPSILON_W, Group, paths


@dataclass(frozen=True, slots=True)
class Holder:
    """A member as its failsafe sees it: under ``group``, the shares of its running sessions and
    its outlets without one; ``fixed_w`` when it keeps what it holds whatever is sent."""

    group: str
    shares: tuple[float, ...]
    idle: int
    rating_w: float
    min_w: float
    fixed_w: float | None = None

    @property
    def outlets(self) -> int:
        return len(self.shares) + self.idle

    def draws_at(self, failsafe: float) -> float:
        """What its outlets can draw together while the central system is away (rule b)."""
        return sum(max(s, failsafe) for s in self.shares) + self.idle * failsafe


def outage_limits(groups: Mapping[str, Group], holders: Mapping[str, Holder],
                  limits_now: Mapping[str, float]) -> dict[str, float]:
    """Each holder's failsafe (W per outlet) under ``groups`` whose limits in force are
    ``limits_now`` (see the module for the rules)."""
    route = paths(groups)
    below: dict[str, list[str]] = {g: [] for g in groups}
    for key, holder in holders.items():
        for g in route[holder.group]:
            below[g].append(key)
    # a member all of whose outlets charge keeps its smallest share; the others' level is shared
    own = {k: (min(h.shares) if h.idle == 0 and h.shares else h.rating_w)
           for k, h in holders.items() if h.fixed_w is None}
    found = dict(own)
    for g, keys in below.items():  # rule (b), at the limit in force
        spans, room = [], limits_now[g]
        for k in keys:
            holder = holders[k]
            if holder.fixed_w is not None:  # (never more than its rating, all its outlets together)
                room -= min(holder.draws_at(holder.fixed_w), holder.rating_w)
                continue
            if holder.idle == 0:
                room -= holder.draws_at(own[k])
                continue
            room -= sum(holder.shares)  # what it holds; raising its level past a share costs more
            spans += [(s, own[k], 1.0) for s in holder.shares] + [(0.0, own[k], float(holder.idle))]
        level = _level(room, spans)
        for k in keys:
            if k in found and holders[k].idle > 0:
                found[k] = min(found[k], level)
    for g, keys in below.items():  # rule (a), at the day's lowest limit, every outlet at its failsafe
        group = groups[g]
        room = min([group.limit_w, *(w.limit_w for w in group.windows)])
        spans = []
        for k in keys:
            holder = holders[k]
            if holder.fixed_w is not None:
                room -= min(holder.outlets * holder.fixed_w, holder.rating_w)
            else:
                spans.append((0.0, found[k], float(holder.outlets)))
        cap = _level(room, spans)
        for k in keys:
            if k in found:
                found[k] = min(found[k], cap)
    result = {k: (w if w + EPSILON_W >= holders[k].min_w else 0.0) for k, w in found.items()}
    result.update({k: h.fixed_w for k, h in holders.items() if h.fixed_w is not None})
    return result


def _level(room: float, spans: list[tuple[float, float, float]]) -> float:
    """The highest level ``v`` with sum(weight * |[a, min(b, v)]|) <= ``room`` over the spans
    ``(a, b, weight)``: each span's part rises with ``v`` from ``a`` until ``b``. Unbounded
    (``inf``) when no span can rise; 0 when the room is already used up."""
    if room < 0:
        return 0.0
    events = sorted([(a, w) for a, b, w in spans if b > a] + [(b, -w) for a, b, w in spans if b > a])
    if not events:
        return math.inf
    level = used = slope = 0.0
    for at, change in events:
        if slope > 0 and used + slope * (at - level) > room:
            return level + (room - used) / slope
        used += slope * (at - level)
        level, slope = at, slope + change
    return math.inf  # past the last span nothing rises any more: any level fits
