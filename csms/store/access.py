"""Tables of access to the REST API: its bearer tokens, the charge integration's switch, and
the webhooks integrators register (with the log of their deliveries).

They live beside the central system's tables, not in ``api``, so that no module of the REST layer
imports the store or SQLAlchemy (the import contract in pyproject.toml).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import NEVER_REUSED_IDS, TS, Base, BigId


class ApiToken(Base):
    """Bearer tokens of the REST API; only a SHA-256 of the (random, high-entropy) secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    # tokens issued by a login: whose, until when, and for a kiosk the one device it may reach
    user_id: Mapped[int | None] = mapped_column(BigId)
    device_id: Mapped[int | None] = mapped_column(BigId)
    expires_at: Mapped[datetime | None] = mapped_column(TS)


class IntegrationSettings(Base):
    """The stop/start-a-charge integration's switch and source-IP allow-list (one row, id 1)."""

    __tablename__ = "integration_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_ips: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of IPs / CIDR networks
    updated_at: Mapped[datetime] = mapped_column(TS)


class Webhook(Base):
    """A URL the central system POSTs the events its filter takes to (:mod:`csms.webhooks`).

    The secret signs each delivery (HMAC-SHA256), so it is kept as given: the API shows it only
    in the answer that created the webhook, never again."""

    __tablename__ = "webhooks"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types and patterns (lock.*)
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS)
    created_by: Mapped[str] = mapped_column(String(100))


class WebhookDelivery(Base):
    """One attempt to deliver one event to one webhook: the delivery log (the newest rows of
    each webhook are kept, :data:`csms.webhooks.KEEP_LOG`)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook", "webhook_id", "id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(BigInteger)  # no foreign key: see WebhookService.delete
    delivery_id: Mapped[str] = mapped_column(String(32))  # the same for every attempt of a delivery
    event_type: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(Text)  # the event as JSON
    attempt: Mapped[int] = mapped_column(Integer)  # from 1; 0 for one dropped before any attempt
    status: Mapped[str] = mapped_column(String(16))  # delivered | failed | refused | dropped
    status_code: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(TS)
