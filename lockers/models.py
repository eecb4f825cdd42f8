"""The locker domain, one model for the back office (seed 000), the locker gateway (seed 004) and
the smart-lock API (seed 003).

A *locker* is one bay: a door on a board (``port`` name, board ``address``, ``bay`` number) with a
type; the bridge drives it under its charge point ``identity``. Lockers from the bridge's YAML are
registered here at start, and a locker entered here with a port, address and bay is driven by the
bridge: one truth, whichever side it was entered on.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId


class Country(Base):
    __tablename__ = "countries"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)  # ISO 3166-1 alpha-2
    name: Mapped[str] = mapped_column(String(100))


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    country_code: Mapped[str | None] = mapped_column(ForeignKey("countries.code"))
    created_at: Mapped[datetime] = mapped_column(TS)


class Area(Base):
    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("location_id", "name"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


class Device(Base):
    """A kiosk or locker controller: it owns serial ports and reports heartbeats."""

    __tablename__ = "devices"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)  # what a kiosk logs in with
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="kiosk")  # kiosk | controller
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    ports: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of port names (COM2, …)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    heartbeat: Mapped[str | None] = mapped_column(Text)  # JSON: the last heartbeat's body
    created_at: Mapped[datetime] = mapped_column(TS)


class LockerType(Base):
    __tablename__ = "locker_types"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    size: Mapped[str] = mapped_column(String(16), default="M")  # S | M | L | XL
    has_charging: Mapped[bool] = mapped_column(Boolean, default=False)
    always_oos: Mapped[bool] = mapped_column(Boolean, default=False)  # e.g. a screen, never rented
    description: Mapped[str | None] = mapped_column(Text)


class BankType(Base):
    """A model of locker column (bank): which locker types it holds, how many of each."""

    __tablename__ = "bank_types"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class BankTypeLockerType(Base):
    __tablename__ = "bank_type_locker_types"

    bank_type_id: Mapped[int] = mapped_column(ForeignKey("bank_types.id", ondelete="CASCADE"),
                                              primary_key=True)
    locker_type_id: Mapped[int] = mapped_column(ForeignKey("locker_types.id", ondelete="CASCADE"),
                                                primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


class Bank(Base):
    """One column of lockers on one controller board (port + address)."""

    __tablename__ = "banks"
    __table_args__ = (UniqueConstraint("port", "address"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    bank_type_id: Mapped[int | None] = mapped_column(ForeignKey("bank_types.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    port: Mapped[str] = mapped_column(String(32))
    address: Mapped[int] = mapped_column(Integer)


class Locker(Base):
    __tablename__ = "lockers"
    __table_args__ = (UniqueConstraint("bank_id", "bay"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identity: Mapped[str] = mapped_column(String(48), unique=True)  # the bay's charge point id
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    bay: Mapped[int] = mapped_column(Integer)
    locker_type_id: Mapped[int | None] = mapped_column(ForeignKey("locker_types.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    out_of_service: Mapped[bool] = mapped_column(Boolean, default=False)
    reason_code: Mapped[str | None] = mapped_column(String(48))
    reason: Mapped[str | None] = mapped_column(Text)
    broken_lock: Mapped[bool] = mapped_column(Boolean, default=False)
    door_open: Mapped[bool | None] = mapped_column(Boolean)  # last door state the bridge saw
    door_changed_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(48), unique=True)
    permissions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of permission names


class User(Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    role_id: Mapped[int | None] = mapped_column(ForeignKey("roles.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS)


class UserGroup(Base):
    __tablename__ = "user_groups"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class UserGroupMember(Base):
    __tablename__ = "user_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    starts: Mapped[str] = mapped_column(String(5))  # HH:MM, local time of the site
    ends: Mapped[str] = mapped_column(String(5))
    days: Mapped[str] = mapped_column(String(64), default="[1,2,3,4,5,6,7]")  # JSON ISO weekdays


class ShiftDevice(Base):
    __tablename__ = "shift_devices"
    __table_args__ = (UniqueConstraint("shift_id", "device_id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))


class Rental(Base):
    """A user holding a locker: the gateway's "transaction"."""

    __tablename__ = "rentals"
    __table_args__ = (
        Index("ix_rentals_locker_active", "locker_id", "released_at"),
        # at most one active rental per locker, whatever the database and however many nodes
        Index("uq_rentals_one_active", "locker_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reference: Mapped[str | None] = mapped_column(String(100))  # the caller's own id
    created_at: Mapped[datetime] = mapped_column(TS)
    released_at: Mapped[datetime | None] = mapped_column(TS)


class LockGrant(Base):
    """A user may open a locker (smart-lock access) within a time window."""

    __tablename__ = "lock_grants"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    valid_from: Mapped[datetime | None] = mapped_column(TS)
    valid_until: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)


class LockGroup(Base):
    __tablename__ = "lock_groups"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class LockGroupMember(Base):
    __tablename__ = "lock_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("lock_groups.id", ondelete="CASCADE"), primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)


class AuditEntry(Base):
    """Every action on the locker domain and every door event, newest last."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_locker", "locker_id", "id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(100))  # token name, user, device, or "board"
    action: Mapped[str] = mapped_column(String(48))  # e.g. locker.open, door.opened, user.add
    locker_id: Mapped[int | None] = mapped_column(BigId)
    device_id: Mapped[int | None] = mapped_column(BigId)
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON


def table(model: type[Base]) -> Table:
    """A mapped class's table, typed as the :class:`Table` it is (``__table__`` is typed as a
    FromClause, which has no ``insert``/``update``/``delete``)."""
    return cast(Table, model.__table__)
