"""Tables of access to the REST API: its bearer tokens and the charge integration's switch.

They live beside the central system's tables, not in ``api``, so that no module of the REST layer
imports the store or SQLAlchemy (the import contract in pyproject.toml).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
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
