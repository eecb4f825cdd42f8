"""How a load group's limit is shared among the sessions under it: a pure function, no I/O.

The allocator service (issue #19) gathers the groups, their members' sessions and what each draws,
calls :func:`allocate`, and sends the limits as charging profiles; everything that decides who
gets how much is here, so it is tested without sockets or a store.

Rules, in the order they apply:

1. **Admission.** A session charges only if every group above it can give it its minimum (6 A on
   AC, say) beside the sessions already admitted; the others wait (limit 0). Sessions are admitted
   by priority (higher first), then in arrival order, so a waiting session starts as soon as
   capacity frees, before anyone who came after it.
2. **Shares.** Admitted sessions start at their minimum; what is left is handed out max-min fair
   (``equal``): everyone's limit rises together until a session reaches what it can use or a group
   on its path is full. With ``priority``, each priority class is filled that way in turn.
3. **What a session can use** is its rated maximum, unless it draws clearly less than it was
   given (the EV limits itself: 10 A of 16 A): then its draw plus a margin, and the rest goes to
   the others. It gets its full rating back once it draws near its limit again.

Nested groups (a site holding feeders) constrain every session below them: a session's path is its
group and each ancestor. Limits are in watts here; amps per phase are converted by the caller
(:func:`amps_to_watts`), so groups in W and members in A mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time

NOMINAL_VOLTS = 230.0  # phase-to-neutral voltage used to turn amps into watts and back
EPSILON_W = 1e-6
SELF_LIMITED = 0.9  # drawing under 90 % of its limit: the EV takes less than it was given
MARGIN = 0.1  # and it is given its draw plus 10 % (at least MARGIN_MIN_W) so it can rise again
MARGIN_MIN_W = 230.0


def amps_to_watts(amps: float, phases: int, volts: float = NOMINAL_VOLTS) -> float:
    return amps * phases * volts


def watts_to_amps(watts: float, phases: int, volts: float = NOMINAL_VOLTS) -> float:
    return watts / (phases * volts)


def covers(start: time, end: time, at: time) -> bool:
    """Whether the part of each day from ``start`` to ``end`` (wrapping past midnight when
    ``end`` comes first) holds ``at``."""
    if start <= end:
        return start <= at < end
    return at >= start or at < end


@dataclass(frozen=True, slots=True)
class Window:
    """A lower (or higher) limit for part of each day, in the site's local time; ``end`` before
    ``start`` wraps past midnight (22:00-06:00)."""

    start: time
    end: time
    limit_w: float

    def covers(self, at: time) -> bool:
        return covers(self.start, self.end, at)


@dataclass(frozen=True, slots=True)
class Group:
    """A limit shared by the sessions below it; ``parent`` nests it (a feeder within a site)."""

    id: str
    limit_w: float
    parent: str | None = None
    windows: tuple[Window, ...] = ()
    policy: str = "equal"  # or "priority"

    def limit_at(self, at: time | None) -> float:
        """The limit in force at ``at`` (the first window that covers it, else the base limit)."""
        if at is not None:
            for window in self.windows:
                if window.covers(at):
                    return window.limit_w
        return self.limit_w


@dataclass(frozen=True, slots=True)
class Session:
    """A charging session that wants power, under ``group``.

    ``max_w``: what its outlet (and EV) can take; ``min_w``: below it, it waits rather than
    charges; ``draw_w``: what it draws now (meter values), None when not known yet;
    ``given_w``: the limit it was last sent, None for a new session."""

    key: str
    group: str
    arrived: float
    max_w: float
    min_w: float
    draw_w: float | None = None
    given_w: float | None = None
    priority: int = 0


@dataclass(slots=True)
class Allocation:
    """Each session's limit (0: it waits), and per group what it hands out against its limit."""

    limits: dict[str, float] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # in the order they will be admitted
    group_totals: dict[str, float] = field(default_factory=dict)
    group_limits: dict[str, float] = field(default_factory=dict)


def usable(session: Session) -> float:
    """What the session can use: its rating, or its draw plus a margin when it clearly took less
    than it was given (never under its minimum)."""
    if session.draw_w is None or session.given_w is None or session.given_w <= 0:
        return session.max_w
    if session.draw_w >= SELF_LIMITED * session.given_w:
        return session.max_w
    wanted = session.draw_w + max(session.draw_w * MARGIN, MARGIN_MIN_W)
    return min(session.max_w, max(session.min_w, wanted))


def paths(groups: Mapping[str, Group]) -> dict[str, tuple[str, ...]]:
    """Each group's path up to its root (itself first); ValueError for a cycle or an unknown parent."""
    found: dict[str, tuple[str, ...]] = {}
    for start in groups:
        path: list[str] = []
        current: str | None = start
        while current is not None:
            if current in path:
                raise ValueError(f"load groups nest in a circle: {' > '.join([*path, current])}")
            if current not in groups:
                raise ValueError(f"load group {path[-1]!r} names an unknown parent {current!r}")
            path.append(current)
            current = groups[current].parent
        found[start] = tuple(path)
    return found


def allocate(groups: Mapping[str, Group], sessions: Iterable[Session], at: time | None = None) -> Allocation:
    """The limits of ``sessions`` under ``groups`` at local time ``at`` (see the module's rules)."""
    route = paths(groups)
    room = {gid: group.limit_at(at) for gid, group in groups.items()}
    result = Allocation(group_limits=dict(room))
    ordered = sorted(sessions, key=lambda s: (-s.priority, s.arrived, s.key))
    admitted: list[Session] = []
    for session in ordered:
        path = route[session.group]
        if all(room[g] + EPSILON_W >= session.min_w for g in path):
            for g in path:
                room[g] -= session.min_w
            admitted.append(session)
            result.limits[session.key] = session.min_w
        else:
            result.limits[session.key] = 0.0
            result.waiting.append(session.key)
    # ``priority`` anywhere ranks the classes everywhere: a session's class is its own, not its group's
    by_policy = any(g.policy == "priority" for g in groups.values())
    classes = sorted({s.priority for s in admitted}, reverse=True) if by_policy else [None]
    for level in classes:
        members = [s for s in admitted if level is None or s.priority == level]
        _fill(members, route, room, result.limits)
    result.group_totals = {gid: result.group_limits[gid] - room[gid] for gid in groups}
    return result


def _fill(members: Sequence[Session], route: Mapping[str, tuple[str, ...]], room: dict[str, float],
          limits: dict[str, float]) -> None:
    """Raise the limits of ``members`` together (from what they hold) until each reaches what it
    can use or a group on its path has no room left: max-min fair, in at most one round per
    session or group that fills."""
    cap = {s.key: usable(s) for s in members}
    active = {s.key: route[s.group] for s in members if cap[s.key] - limits[s.key] > EPSILON_W}
    while active:
        under: dict[str, int] = {}
        for path in active.values():
            for g in path:
                under[g] = under.get(g, 0) + 1
        step = max(0.0, min(min(room[g] / n for g, n in under.items()),
                            min(cap[k] - limits[k] for k in active)))
        for k in active:
            limits[k] += step
        for g, n in under.items():
            room[g] -= step * n
        full = {g for g in under if room[g] <= EPSILON_W}
        active = {k: path for k, path in active.items()
                  if cap[k] - limits[k] > EPSILON_W and not full.intersection(path)}
