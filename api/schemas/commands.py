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


class FleetCommandIn(BaseModel):
    """One action, one payload, many charge points (each gets a command of its own)."""

    charge_point_ids: list[str] = Field(min_length=1, description=(
        "The charge points to send it to (a repeated id is sent once), at most 10,000 different ones "
        "(422 `TooManyChargePoints`)."))
    payload: dict[str, Any] = Field(default_factory=dict, description=(
        "The OCPP payload, checked against the schema of each charge point's version."))


class FleetTargetOut(BaseModel):
    """What became of the command to one charge point."""

    charge_point_id: str
    command_id: str | None = Field(description="The command's id (GET /api/v1/commands/{id}); null when "
                                               "it was refused before anything was stored or sent.")
    status: Literal["result", "call_error", "timeout", "offline", "pending", "refused", "error"] = Field(
        description=(
            "`result` (answered: see `response`), `call_error`, `timeout`, `offline`; `pending` (sent, "
            "not waited for: `wait=0`); `refused` before sending (see `error_code`: "
            "`ChargePointNotFound`, `InvalidPayload`, `ActionNotInVersion`, `ReservationIdInUse`, ...); "
            "`error` (`InternalError`): the central system failed storing or sending it (logged)."))
    response: dict[str, Any] | None = Field(default=None, description="The charge point's answer.")
    error_code: str | None = None
    error_description: str | None = None


class FleetCommandOut(BaseModel):
    """Per charge point, in the order given, and how many ended each way."""

    action: str
    counts: dict[str, int] = Field(description="status -> how many charge points ended so.")
    results: list[FleetTargetOut]


OcppVersionName = Literal["1.6", "2.0.1"]


class CommandSchema(BaseModel):
    """One CSMS-initiated action of a version: what its request may hold, and one that fits."""

    action: str
    request_schema: dict[str, Any] = Field(description=(
        "The request's JSON schema as the OCPP version publishes it, self-contained (every `$ref` "
        "written out): a client builds a form or checks a payload from it alone."))
    example: dict[str, Any] = Field(description="A payload the schema accepts.")


class OcppVersionOut(BaseModel):
    """What the central system speaks in one OCPP version: the commands it can send (each the
    route `POST /api/v1/charge-points/{id}/commands/{action}`) and the actions it answers."""

    ocpp_version: OcppVersionName
    subprotocol: str = Field(description="The websocket subprotocol that selects it.")
    commands: list[CommandSchema] = Field(description="The CSMS-initiated actions, A to Z.")
    charge_point_actions: list[str] = Field(description="The actions a charge point initiates, A to Z.")
