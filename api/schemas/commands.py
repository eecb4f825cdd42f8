"""Command bodies: a command as stored, and the answers of sending one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp


class CommandOut(BaseModel):
    """A command sent to a charge point, and how it ended."""

    id: str
    charge_point_id: str
    action: str
    payload: Any = Field(description="The OCPP payload sent (a JSON object).")
    status: str = Field(description="pending, result, call_error, timeout or offline.")
    response: Any = Field(description="The charge point's answer (a JSON object), once it answered.")
    error_code: str | None
    error_description: str | None
    message_id: str | None
    requested_by: str | None
    callback_url: str | None
    callback_status: str | None = Field(description="delivered, failed or refused.")
    callback_error: str | None
    created_at: Timestamp
    completed_at: Timestamp | None


class CommandResult(BaseModel):
    """The charge point answered (200)."""

    command_id: str
    status: Literal["result"]
    response: Any = Field(description="The charge point's answer (the OCPP payload).")


class CommandPending(BaseModel):
    """Sent without waiting (``wait=0``, 202): look it up by its id."""

    command_id: str
    status: Literal["pending"]


class CommandFailed(BaseModel):
    """No answer: 502 `CallError` (with the charge point's error), 504 `Timeout`, 409
    `ChargePointOffline`."""

    code: str
    message: str
    command_id: str
    error_code: str | None = None
    error_description: str | None = None
    error_details: dict[str, Any] | None = None
