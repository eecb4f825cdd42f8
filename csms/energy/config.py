"""Load groups and members as the operator defines them, checked, and turned into what
:func:`csms.energy.allocator.allocate` takes (watts, local time).

Pure: the service that stores them (:mod:`csms.services.load_groups`) and the manager that
allocates (:mod:`csms.energy.manager`) both read groups through here, so a group means the same
thing on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csms.energy.allocator import NOMINAL_VOLTS, Group, Window, covers

UNITS = ("A", "W")
POLICIES = ("equal", "priority")
KINDS = ("charge_point", "connector", "locker_bay")
DEFAULT_MIN_AMPS = 6.0  # IEC 61851: the least an AC EV can be told to charge at


class ConfigError(ValueError):
    """A group or member that cannot be used; ``code`` is the REST error code, ``field`` the
    field at fault."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True, slots=True)
class GroupSpec:
    id: int
    name: str
    limit: float
    unit: str = "A"
    phases: int = 3
    min_per_session: float = 0.0
    policy: str = "equal"
    parent_id: int | None = None
    windows: tuple[tuple[time, time, float], ...] = ()
    timezone: str = "UTC"
    # with policy priority: a session's priority by its id tag or the tag's parent (a fleet's cards)
    tag_priorities: tuple[tuple[str, int], ...] = ()

    def tag_priority(self, tags: Iterable[str | None]) -> int:
        found = dict(self.tag_priorities)
        return max((found[t] for t in tags if t is not None and t in found), default=0)

    def watts(self, value: float) -> float:
        """``value`` in this group's unit as watts (amps are per phase, at 230 V)."""
        return value * self.phases * NOMINAL_VOLTS if self.unit == "A" else value

    def from_watts(self, watts: float) -> float:
        return watts / (self.phases * NOMINAL_VOLTS) if self.unit == "A" else watts

    def limit_w_at(self, now: datetime) -> float:
        """The limit in force at ``now`` (its window's, else the base limit), in watts."""
        at = self.local(now)
        for start, end, value in self.windows:
            if covers(start, end, at):
                return self.watts(value)
        return self.watts(self.limit)

    def rating_w(self, member: MemberSpec) -> float:
        return self.watts(member.rating)

    def minimum_w(self, member: MemberSpec) -> float:
        """Below it a session of ``member`` waits: a locker bay's outlet is on at its rating or off."""
        rating = self.watts(member.rating)
        return rating if member.kind == "locker_bay" else min(self.watts(self.min_per_session), rating)

    def next_edge(self, now: datetime) -> float | None:
        """Seconds from ``now`` to the next start or end of one of its windows (None: none)."""
        if not self.windows:
            return None
        local = now.astimezone(ZoneInfo(self.timezone))
        found = []
        for start, end, _ in self.windows:
            for edge in (start, end):
                at = local.replace(hour=edge.hour, minute=edge.minute, second=0, microsecond=0)
                if at <= local:
                    at += timedelta(days=1)
                found.append((at - local).total_seconds())
        return min(found)

    def local(self, now: datetime) -> time:
        """``now`` (aware) as the site's wall-clock time, which the windows are in."""
        return now.astimezone(ZoneInfo(self.timezone)).time()


@dataclass(frozen=True, slots=True)
class MemberSpec:
    id: int
    group_id: int
    kind: str
    charge_point_id: str
    connector_id: int
    rating: float
    priority: int = 0

    @property
    def outlet(self) -> tuple[str, int]:
        return self.charge_point_id, self.connector_id


def _clock(value: Any, field: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError("InvalidWindow", f"{field}: {value!r} is not a time of day HH:MM", field) from None


def parse_windows(raw: Iterable[Mapping[str, Any]]) -> tuple[tuple[time, time, float], ...]:
    """``[{"from": "17:00", "to": "20:00", "limit": 60}]`` as (start, end, limit) in the
    group's unit; a window from a time to the same time is refused (it would cover nothing)."""
    found = []
    for index, window in enumerate(raw):
        start = _clock(window.get("from"), f"windows[{index}].from")
        end = _clock(window.get("to"), f"windows[{index}].to")
        if start == end:
            raise ConfigError("InvalidWindow", f"windows[{index}] starts and ends at {start:%H:%M}",
                              f"windows[{index}]")
        limit = float(window.get("limit", -1))
        if limit < 0:
            raise ConfigError("InvalidWindow", f"windows[{index}].limit must be 0 or more",
                              f"windows[{index}].limit")
        found.append((start, end, limit))
    return tuple(found)


def windows_json(windows: Iterable[tuple[time, time, float]]) -> str:
    return json.dumps([{"from": f"{s:%H:%M}", "to": f"{e:%H:%M}", "limit": v} for s, e, v in windows])


def check_group(spec: GroupSpec) -> None:
    """:class:`ConfigError` for what no site could mean (the REST schema checks the types)."""
    if spec.unit not in UNITS:
        raise ConfigError("InvalidUnit", f"unit must be one of {', '.join(UNITS)}", "unit")
    if spec.policy not in POLICIES:
        raise ConfigError("InvalidPolicy", f"policy must be one of {', '.join(POLICIES)}", "policy")
    if spec.phases not in (1, 3):
        raise ConfigError("InvalidPhases", "phases is 1 or 3", "phases")
    if spec.limit < 0:
        raise ConfigError("InvalidLimit", "limit must be 0 or more", "limit")
    if spec.min_per_session < 0 or spec.min_per_session > max(spec.limit, *(w[2] for w in spec.windows), 0):
        raise ConfigError("InvalidMinimum", "min_per_session must be between 0 and the limit",
                          "min_per_session")
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("UnknownTimezone", f"no time zone {spec.timezone!r} (an IANA name, e.g. "
                          "Europe/Berlin)", "timezone") from None


def check_member(member: MemberSpec) -> None:
    if member.kind not in KINDS:
        raise ConfigError("InvalidMemberKind", f"kind must be one of {', '.join(KINDS)}", "kind")
    if member.kind == "connector" and member.connector_id < 1:
        raise ConfigError("InvalidConnector", "a connector member names connector_id 1 or more",
                          "connector_id")
    if member.kind != "connector" and member.connector_id != 0:
        raise ConfigError("InvalidConnector", f"a {member.kind} member is the whole charge point: "
                          "connector_id 0 (use kind connector for one connector)", "connector_id")
    if member.rating <= 0:
        raise ConfigError("InvalidRating", "rating must be more than 0", "rating")


def ancestors(groups: Mapping[int, GroupSpec], group_id: int) -> list[int]:
    """``group_id`` and the groups it nests in, nearest first."""
    found: list[int] = []
    current: int | None = group_id
    while current is not None and current in groups and current not in found:
        found.append(current)
        current = groups[current].parent_id
    return found


def allocator_groups(specs: Iterable[GroupSpec]) -> dict[str, Group]:
    """The groups in watts, keyed by their id as text (the allocator's keys)."""
    return {str(g.id): Group(id=str(g.id), limit_w=g.watts(g.limit),
                             parent=None if g.parent_id is None else str(g.parent_id),
                             windows=tuple(Window(s, e, g.watts(v)) for s, e, v in g.windows),
                             policy=g.policy)
            for g in specs}
