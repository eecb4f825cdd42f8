"""The reference of bench/api_commands.py: what FastAPI and uvicorn alone cost for a REST command.

The same routes as chargebay's command routes for the bench's mix (POST
/api/v1/charge-points/{charge_point_id}/commands/{action}?wait=…), each with a bearer-token
dependency, a validated body model and a response model of chargebay's shape — and nothing behind
them: the answer is made at once, with no charge point, no store and no log. Its server CPU per
request is the floor a FastAPI command route cannot go below on the machine; the bench reports
chargebay's against it, measured in the same run. Run it as uvicorn would (HTTP parsed by
httptools when installed, uvloop), e.g. ``python -m uvicorn bench.bare_fastapi:app``.
"""

from __future__ import annotations

import hmac
import os
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel

TOKEN = os.environ.get("CHARGEBAY_API_TOKEN", "bench-token")
app = FastAPI(title="bare FastAPI command routes (bench reference)")


def caller(authorization: Annotated[str | None, Header()] = None) -> str:
    """The bearer token, checked in constant time (as chargebay checks its tokens)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), TOKEN.encode()):
        raise HTTPException(401, "unauthorized")
    return token


class RemoteStart(BaseModel):
    connectorId: int | None = None  # noqa: N815 (OCPP's field names)
    idTag: str  # noqa: N815


class Reset(BaseModel):
    type: Literal["Hard", "Soft"]


class Trigger(BaseModel):
    requestedMessage: str  # noqa: N815
    connectorId: int | None = None  # noqa: N815


class CommandOut(BaseModel):
    id: str
    charge_point_id: str
    action: str
    status: str
    response: dict[str, Any] | None


def _answer(charge_point_id: str, action: str) -> CommandOut:
    return CommandOut(id=uuid.uuid4().hex, charge_point_id=charge_point_id, action=action,
                      status="result", response={"status": "Accepted"})


Wait = Annotated[float, Query(ge=0, le=300)]
Caller = Annotated[str, Depends(caller)]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/charge-points/{charge_point_id}/commands/RemoteStartTransaction")
async def remote_start(charge_point_id: str, body: RemoteStart, _: Caller, wait: Wait = 30) -> CommandOut:
    return _answer(charge_point_id, "RemoteStartTransaction")


@app.post("/api/v1/charge-points/{charge_point_id}/commands/Reset")
async def reset(charge_point_id: str, body: Reset, _: Caller, wait: Wait = 30) -> CommandOut:
    return _answer(charge_point_id, "Reset")


@app.post("/api/v1/charge-points/{charge_point_id}/commands/TriggerMessage")
async def trigger(charge_point_id: str, body: Trigger, _: Caller, wait: Wait = 30) -> CommandOut:
    return _answer(charge_point_id, "TriggerMessage")
