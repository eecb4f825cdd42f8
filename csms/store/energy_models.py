"""Tables of site load management (issue #19): load groups, their members, what was last sent to
each member, and the groups' draw over time for the dashboard's chart.

Kept apart from :mod:`csms.store.models` (the Core facts) so each module stays one subject. Limits
are stored in the unit the operator gave (amps per phase or watts): what they read back is what
they wrote; :mod:`csms.energy.allocator` works in watts and the service converts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId


class LoadGroup(Base):
    """A limit shared by its members' sessions; ``parent_id`` nests it (a feeder in a site)."""

    __tablename__ = "load_groups"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("load_groups.id", ondelete="RESTRICT"))
    limit_value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(1))  # "A" (per phase) | "W"
    phases: Mapped[int] = mapped_column(Integer, default=3)
    min_per_session: Mapped[float] = mapped_column(Float, default=0.0)  # in ``unit``
    policy: Mapped[str] = mapped_column(String(16), default="equal")  # equal | priority
    windows: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [{from, to, limit}]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    tag_priorities: Mapped[str] = mapped_column(Text, default="{}")  # JSON: id tag or its parent -> priority
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class LoadGroupMember(Base):
    """A charge point (``connector_id`` 0), one connector / EVSE, or a locker bay (a bay is a
    virtual charge point) in a group. One group per outlet: a member's draw counts once."""

    __tablename__ = "load_group_members"
    __table_args__ = (UniqueConstraint("charge_point_id", "connector_id", name="uq_load_member_outlet"),
                      Index("ix_load_group_members_group", "group_id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("load_groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # charge_point | connector | locker_bay
    charge_point_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[float] = mapped_column(Float)  # in the group's unit
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TS)


class LoadAllocation(Base):
    """The limit last sent to an outlet and how its charge point answered: after a restart the
    allocator resumes from these, sending only what changed."""

    __tablename__ = "load_allocations"

    charge_point_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(BigId)
    limit_w: Mapped[float] = mapped_column(Float)
    # Accepted | Rejected | NotSupported | Failed (not delivered) | Unanswered
    status: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(TS)


class LoadFailsafe(Base):
    """The failsafe (TxDefaultProfile) a member's charge point accepted last: what it may draw
    while the central system is away, counted for it after a restart until it connects again."""

    __tablename__ = "load_failsafes"

    charge_point_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    limit_w: Mapped[float] = mapped_column(Float)
    accepted_at: Mapped[datetime] = mapped_column(TS)


class LoadGroupSample(Base):
    """A group's total draw and limit at one moment, for the chart over the last hours."""

    __tablename__ = "load_group_samples"
    __table_args__ = (Index("ix_load_group_samples_group_at", "group_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("load_groups.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(TS)
    draw_w: Mapped[float] = mapped_column(Float)
    allocated_w: Mapped[float] = mapped_column(Float)
    limit_w: Mapped[float] = mapped_column(Float)
