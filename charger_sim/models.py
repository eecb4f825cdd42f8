"""Durable simulator definitions: what chargers exist and whether they should be running."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from common.db import TS, Base


class SimCharger(Base):
    __tablename__ = "sim_chargers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identity: Mapped[str] = mapped_column(String(48), unique=True)
    ocpp_version: Mapped[str] = mapped_column(String(16), default="OCPP1.6")
    csms_url: Mapped[str | None] = mapped_column(Text)  # None: the stack's own CSMS
    template: Mapped[str] = mapped_column(String(200), default="ac-wallbox")
    overrides: Mapped[str] = mapped_column(Text, default="{}")  # JSON: template field overrides
    desired_state: Mapped[str] = mapped_column(String(16), default="stopped")  # running | stopped
    atg: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
