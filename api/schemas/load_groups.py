"""Bodies of the load-group resource (issue #19): a group, its members, live allocations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp

Unit = Literal["A", "W"]
Kind = Literal["charge_point", "connector", "locker_bay"]


class LoadWindow(BaseModel):
    from_: str = Field(alias="from", pattern=r"^\d{1,2}:\d{2}$", description="Local time HH:MM the window starts.")
    to: str = Field(pattern=r"^\d{1,2}:\d{2}$", description="Local time HH:MM it ends (before `from`: past midnight).")
    limit: float = Field(ge=0, description="The group's limit in the window, in the group's unit.")

    model_config = {"populate_by_name": True}


class MemberIn(BaseModel):
    kind: Kind = Field("charge_point", description=(
        "`charge_point` (the whole charge point: its connectors share `rating`), `connector` (one "
        "connector / EVSE) or `locker_bay` (a bay's virtual charge point: its outlet is on or off)."))
    charge_point_id: str = Field(min_length=1, max_length=48)
    connector_id: int | None = Field(None, ge=0, description="`connector` members: the connector (EVSE); else 0.")
    rating: float | None = Field(None, gt=0, description=(
        "The most it can take, in the group's unit (A per phase, or W); default: the group's limit."))
    priority: int = Field(0, description="With policy `priority`: higher is served first.")

    model_config = {"json_schema_extra": {"examples": [
        {"charge_point_id": "DEMO-AC-02", "rating": 32},
        {"kind": "connector", "charge_point_id": "DEMO-AC-03", "connector_id": 2, "rating": 16}]}}


class MemberChange(BaseModel):
    """Only the fields given change."""

    rating: float | None = Field(None, gt=0, description="The most it can take, in the group's unit.")
    priority: int | None = Field(None, description="With policy `priority`: higher is served first.")

    model_config = {"json_schema_extra": {"examples": [{"rating": 16}, {"priority": 5}]}}


class GroupFields(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    limit: float = Field(ge=0, description="In `unit`: amps per phase, or watts.")
    unit: Unit = "A"
    phases: Literal[1, 3] = 3
    min_per_session: float | None = Field(None, ge=0, description=(
        "Below this a session waits (limit 0) rather than charges; default 6 A, or 0 W. Locker bays "
        "always need their rating (an outlet is on or off)."))
    policy: Literal["equal", "priority"] = "equal"
    parent_id: int | None = Field(None, description="The group this one nests in (a feeder in a site).")
    windows: list[LoadWindow] = Field(default_factory=list, description="Other limits for parts of each day.")
    timezone: str = Field("UTC", description="The IANA zone the windows' times are in.")
    tag_priorities: dict[str, int] = Field(default_factory=dict, description=(
        "With policy `priority`: a session's priority by its id tag or the tag's parent (a fleet's "
        "cards share one), over its member's priority when higher."))


class LoadGroupCreate(GroupFields):
    members: list[MemberIn] = Field(default_factory=list)

    model_config = {"json_schema_extra": {"examples": [{
        "name": "car-park", "limit": 100, "unit": "A", "phases": 3, "min_per_session": 6,
        "windows": [{"from": "17:00", "to": "20:00", "limit": 60}], "timezone": "Europe/Berlin",
        "members": [{"charge_point_id": "DEMO-AC-01", "rating": 32}]}]}}


class LoadGroupChange(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(None, min_length=1, max_length=64)
    limit: float | None = Field(None, ge=0)
    unit: Unit | None = None
    phases: Literal[1, 3] | None = None
    min_per_session: float | None = Field(None, ge=0)
    policy: Literal["equal", "priority"] | None = None
    parent_id: int | None = None
    windows: list[LoadWindow] | None = None
    timezone: str | None = None
    tag_priorities: dict[str, int] | None = None

    model_config = {"json_schema_extra": {"examples": [
        {"limit": 80}, {"windows": [{"from": "17:00", "to": "20:00", "limit": 40}]}]}}


class LiveSession(BaseModel):
    connector_id: int
    transaction_id: int
    state: Literal["charging", "waiting"]
    limit_w: float | None = Field(description="The share computed last (W).")
    limit: float | None = Field(description="The same in the group's unit.")
    sent_w: float | None = Field(description="The share the charge point accepted last (W).")
    draw_w: float | None = Field(description="What it draws, from its meter values (W).")


class MemberOut(BaseModel):
    id: int
    group_id: int
    kind: Kind
    charge_point_id: str
    connector_id: int
    rating: float
    priority: int
    created_at: Timestamp
    failsafe_w: float | None = Field(description="Its fallback limit while the central system is away (W).")
    controlled: bool = Field(description="False: it refused charging profiles and is counted at its rating.")
    sessions: list[LiveSession]


class GroupAllocation(BaseModel):
    limit_w: float | None = Field(description="The limit in force now (W; a window's if one covers now).")
    allocated_w: float | None = Field(description="The shares handed out under it (W).")
    draw_w: float = Field(description="What its members' sessions draw (W).")
    waiting: list[str] = Field(description="Sessions (charge point/connector) waiting for capacity, in order.")


class LoadGroupOut(BaseModel):
    id: int
    name: str
    parent_id: int | None
    limit: float
    unit: Unit
    phases: int
    min_per_session: float
    policy: str
    windows: list[LoadWindow]
    timezone: str
    tag_priorities: dict[str, int]
    created_at: Timestamp
    updated_at: Timestamp
    members: list[MemberOut]
    allocations: GroupAllocation


class LoadSample(BaseModel):
    at: Timestamp
    draw_w: float
    allocated_w: float
    limit_w: float
