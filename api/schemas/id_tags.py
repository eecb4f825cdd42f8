"""Id tag bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp

TagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class IdTagCreate(BaseModel):
    id_tag: str = Field(min_length=1, max_length=20)
    status: TagStatus = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, max_length=20)
    max_concurrent_tx: int | None = Field(None, ge=1, description="Running transactions allowed at once (default 1).")

    model_config = {"json_schema_extra": {"examples": [
        {"id_tag": "TAG-1", "status": "Accepted", "expiry_date": None, "parent_id_tag": None}]}}


class IdTagUpdate(BaseModel):
    status: TagStatus | None = None
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, max_length=20)
    max_concurrent_tx: int | None = Field(None, ge=1)

    model_config = {"json_schema_extra": {"examples": [{"status": "Blocked"},
                                                       {"expiry_date": "2027-01-01T00:00:00Z"}]}}


class IdTagOut(BaseModel):
    id_tag: str
    status: str
    expiry_date: Timestamp | None
    parent_id_tag: str | None
    max_concurrent_tx: int | None
    created_at: Timestamp
