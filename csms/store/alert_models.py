"""Tables of the alerts (issue #21): the rules an operator keeps, and every alert they opened.

An alert is open while its condition holds and is cleared when it ends; a person acknowledges it
(who, when, a note) whichever came first. At most one alert per rule and subject is open at a
time, held by the database itself (``open_key`` is unique and set only while the alert is open):
two evaluations racing, a restart, or several nodes evaluating the same store cannot open a
twin (:mod:`csms.alerts`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId


class AlertRule(Base):
    """What to watch (``kind``), after how long (``minutes``), and whom to e-mail."""

    __tablename__ = "alert_rules"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # offline | faulted | boot_rejected | stuck_transaction | load_over_limit (csms.alerts.KINDS)
    kind: Mapped[str] = mapped_column(String(32))
    minutes: Mapped[int] = mapped_column(Integer, default=0)  # the condition lasted this long first
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    emails: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of recipients
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class Alert(Base):
    """One alert: a rule's condition on one subject (a charge point, a connector, a transaction,
    a load group), from when it was opened to when it cleared, and its acknowledgement."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("open_key", name="uq_alerts_open_key"),
                      Index("ix_alerts_cleared_id", "cleared_at", "id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(BigInteger)  # no foreign key: a deleted rule's alerts are history
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(120))  # "CP-1", "CP-1/2", "CP-1/tx/7", "group/3"
    charge_point_id: Mapped[str | None] = mapped_column(String(48))
    connector_id: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    load_group_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime | None] = mapped_column(TS)  # when the condition began, as far as known
    opened_at: Mapped[datetime] = mapped_column(TS)
    cleared_at: Mapped[datetime | None] = mapped_column(TS)
    acknowledged_at: Mapped[datetime | None] = mapped_column(TS)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    # "<rule>:<subject>" while open, NULL once cleared: the unique twin guard (NULLs never clash)
    open_key: Mapped[str | None] = mapped_column(String(200))
