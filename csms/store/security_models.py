"""Tables of the 1.6 profiles beyond Core that the central system keeps state for: reservations,
the local authorization lists it sent, the certificates its CA issued, and security events.

Kept apart from :mod:`csms.store.models` (the Core facts) so each module stays one subject.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId

# Reservations that may still be in force on the charge point: sent and not yet answered, accepted,
# or sent and never answered (it may have taken it): these may be cancelled, used or replaced
ACTIVE_RESERVATION = ("Requested", "Accepted", "Unanswered")


class Reservation(Base):
    """A ReserveNow the central system sent, and what became of it.

    Its id is the ``reservationId`` on the wire (OCPP integer): given by the database, never
    twice, so a StartTransaction's ``reservationId`` names exactly one row.
    """

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_cp_status", "charge_point_id", "status"),
                      NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(20))
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))
    expiry_date: Mapped[datetime] = mapped_column(TS)
    # Requested (sent, no answer yet) | the ReserveNow answer (Accepted, Faulted, Occupied,
    # Rejected, Unavailable) | Unanswered (timed out: it may hold it) | Failed (not delivered:
    # offline, or a CALLERROR) | Cancelled | Used
    status: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)  # the one that used it
    command_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS)
    ended_at: Mapped[datetime | None] = mapped_column(TS)  # cancelled or used


class LocalListEntry(Base):
    """One id tag of the local authorization list a charge point accepted last: what a
    differential SendLocalList is computed against."""

    __tablename__ = "local_list_entries"

    charge_point_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    id_tag: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    expiry_date: Mapped[datetime | None] = mapped_column(TS)
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))


class IssuedCertificate(Base):
    """A certificate the central system's CA signed for a charge point's CSR."""

    __tablename__ = "issued_certificates"
    __table_args__ = (Index("ix_issued_certificates_cp", "charge_point_id", "created_at"),
                      NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # hex
    subject: Mapped[str] = mapped_column(String(255))
    key_type: Mapped[str] = mapped_column(String(16))  # RSA-2048, EC-P256, ...
    not_before: Mapped[datetime] = mapped_column(TS)
    not_after: Mapped[datetime] = mapped_column(TS)
    certificate: Mapped[str] = mapped_column(Text)  # PEM, the leaf
    # Sent (CertificateSigned on its way) | Accepted | Rejected | Failed (no answer)
    status: Mapped[str] = mapped_column(String(16))
    command_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(TS)


class SecurityEvent(Base):
    """A security event: one a charge point reported (SecurityEventNotification) or one the
    central system saw (a refused handshake, a CSR it refused to sign)."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_cp_time", "charge_point_id", "received_at"),
                      Index("ix_security_events_time", "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(String(48))
    type: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(16))  # charge_point | central_system
    tech_info: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))  # where a refused handshake came from
    timestamp: Mapped[datetime] = mapped_column(TS)  # when it happened, as its source says
    received_at: Mapped[datetime] = mapped_column(TS)
