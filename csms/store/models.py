"""Tables of the central system. Every OCPP fact a charge point reports has a home here."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId


def table(model: type[Base]) -> Table:
    """A model's table, typed as the Table it is: SQLAlchemy types ``__table__`` as a FromClause,
    which has no ``insert()`` and which ``update()`` and ``delete()`` do not accept."""
    return cast(Table, model.__table__)


class ChargePoint(Base):
    __tablename__ = "charge_points"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    registration_status: Mapped[str] = mapped_column(String(16), default="Accepted")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(50))  # 2.0.1's vendorName: 50 (1.6: 20)
    model: Mapped[str | None] = mapped_column(String(20))
    charge_point_serial: Mapped[str | None] = mapped_column(String(25))
    charge_box_serial: Mapped[str | None] = mapped_column(String(25))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(25))
    meter_serial: Mapped[str | None] = mapped_column(String(25))
    boot_status: Mapped[str | None] = mapped_column(String(16))
    last_boot_at: Mapped[datetime | None] = mapped_column(TS)
    firmware_status: Mapped[str | None] = mapped_column(String(32))
    diagnostics_status: Mapped[str | None] = mapped_column(String(32))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    node_id: Mapped[str | None] = mapped_column(String(64))
    last_seen: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS)
    # OCPP security profile (0-3) it must connect at; a higher one it accepted with
    # ChangeConfiguration SecurityProfile takes over at its first connect at that profile
    security_profile: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    security_profile_pending: Mapped[int | None] = mapped_column(SmallInteger)
    local_list_version: Mapped[int | None] = mapped_column(Integer)  # the list it accepted last
    # the hash of a password sent as AuthorizationKey and never answered: it may hold it, so it
    # gets in with either until it presents one of them (csms.server settles which)
    password_pending_hash: Mapped[str | None] = mapped_column(String(200))
    # the OCPP version its last connection negotiated ("1.6", "2.0.1"), and the one an operator
    # requires of it (None: the newest both sides speak)
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    ocpp_version_pinned: Mapped[str | None] = mapped_column(String(8))


class _StatusReport:
    """What one StatusNotification says about a connector."""

    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(32))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    timestamp: Mapped[datetime | None] = mapped_column(TS)


class Connector(_StatusReport, Base):
    """Current state of one connector (0 = the charge point as a whole)."""

    __tablename__ = "connectors"

    charge_point_id: Mapped[str] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True
    )
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(TS)


class EvseConnector(Base):
    """A 2.0.1 station's topology: each connector of each EVSE, with the status its latest
    StatusNotification gave (the EVSE's status also feeds :class:`Connector`, by EVSE id)."""

    __tablename__ = "evse_connectors"

    charge_point_id: Mapped[str] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime | None] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class DeviceVariable(Base):
    """One variable attribute of a 2.0.1 station's device model, as it last reported or
    confirmed it (NotifyReport, GetVariables, an accepted SetVariables). Absent key parts: ''
    and 0 (see migration 0011)."""

    __tablename__ = "device_variables"

    charge_point_id: Mapped[str] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True)
    component: Mapped[str] = mapped_column(String(50), primary_key=True)
    component_instance: Mapped[str] = mapped_column(String(50), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variable: Mapped[str] = mapped_column(String(50), primary_key=True)
    variable_instance: Mapped[str] = mapped_column(String(50), primary_key=True)
    attribute_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # Actual, Target, MinSet, MaxSet
    value: Mapped[str | None] = mapped_column(String(2500))
    mutability: Mapped[str | None] = mapped_column(String(10))
    data_type: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # NotifyReport, GetVariables, SetVariables
    updated_at: Mapped[datetime] = mapped_column(TS)


class StatusHistory(_StatusReport, Base):
    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_cp_time", "charge_point_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(TS)


class IdTag(Base):
    __tablename__ = "id_tags"

    id_tag: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="Accepted")
    expiry_date: Mapped[datetime | None] = mapped_column(TS)
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))
    max_concurrent_tx: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS)


class Transaction(Base):
    """A charging session. Ids come from the database so they stay unique across restarts."""

    __tablename__ = "transactions"
    __table_args__ = (
        # A StartTransaction replayed after a reconnect maps onto the row it created first.
        UniqueConstraint(
            "charge_point_id", "connector_id", "id_tag", "start_timestamp", "meter_start",
            name="uq_transactions_replay",
        ),
        Index("ix_transactions_active", "charge_point_id", "connector_id", "stop_timestamp"),
        # the open ones (NULL) and those stopped since a time, without a scan (/metrics: 0021)
        Index("ix_transactions_stop", "stop_timestamp"),
        Index("ix_transactions_id_tag", "id_tag"),
        Index("ix_transactions_station_tx", "charge_point_id", "station_transaction_id", unique=True),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(20))
    id_tag_status: Mapped[str] = mapped_column(String(16))
    meter_start: Mapped[int] = mapped_column(BigInteger)
    start_timestamp: Mapped[datetime] = mapped_column(TS)
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    meter_stop: Mapped[int | None] = mapped_column(BigInteger)
    stop_timestamp: Mapped[datetime | None] = mapped_column(TS)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(20))
    # charge_point (its StopTransaction) | superseded | rebooted | stale | operator
    end_source: Mapped[str | None] = mapped_column(String(16))
    ended_by: Mapped[str | None] = mapped_column(String(100))  # the operator who closed it
    end_detail: Mapped[str | None] = mapped_column(Text)  # why, in words
    last_activity_at: Mapped[datetime | None] = mapped_column(TS)  # its start or latest meter value
    # its latest meter value's draw (W) and energy register (Wh), written with last_activity_at
    power_w: Mapped[float | None] = mapped_column(Float)
    register_wh: Mapped[int | None] = mapped_column(BigInteger)
    charging_state: Mapped[str | None] = mapped_column(String(16))  # 2.0.1: its latest chargingState
    created_at: Mapped[datetime] = mapped_column(TS)
    # OCPP 2.0.1: the station's own transaction id, the RequestStartTransaction that led to it,
    # and its id token whole (up to 36 characters; id_tag holds it when it fits 1.6's 20)
    station_transaction_id: Mapped[str | None] = mapped_column(String(36))
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    start_reason: Mapped[str | None] = mapped_column(String(32))  # 2.0.1: the creating event's triggerReason
    id_token: Mapped[str | None] = mapped_column(String(36))


class TransactionEvent(Base):
    """One TransactionEvent of a 2.0.1 transaction: its sequence number once (a replay is
    answered, not stored again), so the gaps of a sequence show."""

    __tablename__ = "transaction_events"
    # multi-row inserts skip a seqNo stored already (csms.store.known_201: another socket's copy)
    __table_args__ = (UniqueConstraint("transaction_id", "seq_no"),
                      {**NEVER_REUSED_IDS, "info": {"skip_duplicates": True}})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(8))
    trigger_reason: Mapped[str] = mapped_column(String(32))
    timestamp: Mapped[datetime] = mapped_column(TS)
    offline: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(TS)


class StopRecord(Base):
    """A StopTransaction that matched no running transaction (unknown or already stopped).

    The charge point still gets a normal answer; the fact is kept here instead of being lost.
    """

    __tablename__ = "stop_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    transaction_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # "unknown" | "already_stopped"
    id_tag: Mapped[str | None] = mapped_column(String(20))
    meter_stop: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[datetime] = mapped_column(TS)
    reason: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(TS)


# with the charge point, connector and timestamp: what makes a sampled value the same sample
SAMPLE_IDENTITY = ("measurand", "phase", "location", "context", "source")


class MeterValue(Base):
    """One sampledValue, from MeterValues or StopTransaction.transactionData."""

    __tablename__ = "meter_values"
    # Few indexes: each is paid on every one of thousands of rows a second. The unique one makes
    # storing idempotent: a charge point that resends MeterValues it was never answered for (the
    # node died after the commit) adds nothing. Its inserts skip duplicates (csms/store/bulk.py).
    # It leads with the timestamp so new samples land at its end, not on a page per charge point
    # (migration 0014: 22 -> 6 µs a sample on SQLite).
    __table_args__ = (
        Index("ix_meter_values_tx", "transaction_id"),
        Index("ux_meter_values_sample", "timestamp", "charge_point_id", "connector_id",
              *(text(f"coalesce({c}, '')") for c in SAMPLE_IDENTITY), unique=True),
        {"info": {"skip_duplicates": True}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    timestamp: Mapped[datetime] = mapped_column(TS)
    value: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(String(32))
    format: Mapped[str | None] = mapped_column(String(16))
    measurand: Mapped[str | None] = mapped_column(String(48))
    phase: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "MeterValues" | "StopTransaction"
    # arrived for a transaction outside its window (after its stop, above its meterStop) or for
    # a transaction the central system does not know; NULL: inside (or no transaction named)
    outside_tx: Mapped[bool | None] = mapped_column(Boolean)


class Message(Base):
    """Every OCPP frame in and out, exactly as it crossed the wire. Unindexed but by id: a
    charge point's frames are found through :class:`MessageIndex` and :class:`MessagePending`
    (``csms.store.message_log``)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    ts: Mapped[datetime] = mapped_column(TS)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    message_type: Mapped[int] = mapped_column(SmallInteger)  # 2 CALL, 3 CALLRESULT, 4 CALLERROR
    message_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(48))
    frame: Mapped[str] = mapped_column(Text)


class MessagePending(Base):
    """Frames not yet in :class:`MessageIndex`: a trigger on ``messages`` adds each (migration
    0015), the central system moves them into the index every ten seconds, sorted."""

    __tablename__ = "message_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    charge_point_id: Mapped[str] = mapped_column(String(48))


class MessageIndex(Base):
    """A charge point's frames by id, filled in batches (a key per frame, clustered on SQLite)."""

    __tablename__ = "message_index"
    __table_args__ = {"sqlite_with_rowid": False}

    charge_point_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)


class Notification(Base):
    """Status reports a charge point pushes on its own: firmware, diagnostics, logs, security."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_cp_time", "charge_point_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(48))
    request_id: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[datetime | None] = mapped_column(TS)
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(TS)


class Command(Base):
    """A CSMS-initiated call and how it ended; written when sent and again when answered."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_cp_time", "charge_point_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    action: Mapped[str] = mapped_column(String(48))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | result | call_error | timeout | offline
    response: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(48))
    error_description: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    callback_url: Mapped[str | None] = mapped_column(Text)
    # delivered | failed | refused (the address was not allowed when the outcome was sent)
    callback_status: Mapped[str | None] = mapped_column(String(16))
    callback_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS)
    completed_at: Mapped[datetime | None] = mapped_column(TS)
