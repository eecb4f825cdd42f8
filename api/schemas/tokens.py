"""API token bodies: never a hash; the secret only in the answer that created it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "operator", "integrator", "viewer"]

    model_config = {"json_schema_extra": {"examples": [{"name": "billing-system", "role": "integrator"}]}}


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    created_at: Timestamp
    revoked_at: Timestamp | None
    user_id: int | None
    device_id: int | None
    expires_at: Timestamp | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown here once, never again.")
