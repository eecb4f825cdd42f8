"""Every CSMS-initiated OCPP 1.6 action over REST, synchronously (``?wait=S``) or not (``?wait=0``).

One route per action, so /docs shows each action's own schema and example.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from api.auth import Caller, require
from api.command_examples import EXAMPLES
from api.deps import Page, central, jsonable, page_params, paginate
from api.errors import ApiError
from api.gate import GuardedRoute
from csms.central import CentralSystem
from csms.outcomes import Outcome
from csms.store.models import Command
from ocppj.validation import SchemaViolation
from ocppj.versions import V16_SCHEMAS as SCHEMAS

router = APIRouter(tags=["commands"], route_class=GuardedRoute)
send_role = require("operator", "integrator")
read = Depends(require("operator", "integrator", "viewer"))
_CMD = Command.__table__

_FAILURE = {"call_error": (502, "CallError"), "timeout": (504, "Timeout"),
            "offline": (409, "ChargePointOffline")}


def command_view(row: Any) -> dict[str, Any]:
    data = jsonable(row)
    for key in ("payload", "response"):
        if data[key] is not None:
            data[key] = orjson.loads(data[key])
    return data


async def _payload(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(422, "InvalidJson", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "InvalidPayload", "the body must be a JSON object (the OCPP payload)")
    return body


def _outcome_response(command_id: str, outcome: Outcome) -> JSONResponse:
    if outcome.kind == "result":
        return JSONResponse({"command_id": command_id, "status": "result", "response": outcome.payload})
    status, code = _FAILURE[outcome.kind]
    body: dict[str, Any] = {"code": code, "message": outcome.description or code,
                            "command_id": command_id}
    if outcome.kind == "call_error":
        body.update(error_code=outcome.error_code, error_description=outcome.description,
                    error_details=outcome.details)
        body["message"] = f"the charge point answered {outcome.error_code}: {outcome.description}"
    return JSONResponse(body, status_code=status)


async def run_command(request: Request, cs: CentralSystem, charge_point_id: str, action: str,
                      payload: dict[str, Any], wait: float, caller: Caller,
                      callback_url: str | None) -> JSONResponse:
    """Validate, store and send; answer with the outcome or, for ``wait == 0``, at once."""
    try:
        cs.commands.check(action, payload)
    except SchemaViolation as exc:
        raise ApiError(422, "InvalidPayload", f"{action} payload breaks the OCPP 1.6 schema: "
                       f"{exc.description}", violation=exc.code) from None
    if callback_url:  # refused (422 AddressNotAllowed) before anything is stored or sent
        await cs.callbacks.check(callback_url)
    if await cs.lookup(charge_point_id) is None:  # cached: a charge point that just booted counts
        raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    command_id = cs.commands.new_id()
    await cs.commands.record(command_id, charge_point_id, action, payload, caller.name, callback_url)
    background: set[asyncio.Task[Any]] = request.app.state.background

    def in_background(coro: Any) -> None:
        task = asyncio.create_task(coro)
        background.add(task)
        task.add_done_callback(background.discard)

    async def execute(timeout: float) -> Outcome:
        outcome = await cs.commands.send(charge_point_id, action, payload, timeout, command_id)
        if callback_url:  # never holds up the answer
            in_background(cs.callbacks.deliver(callback_url, command_id, charge_point_id, action,
                                               outcome))
        return outcome

    if wait == 0:
        in_background(execute(cs.commands.default_timeout))
        return JSONResponse({"command_id": command_id, "status": "pending"}, status_code=202)
    return _outcome_response(command_id, await execute(wait))


def _add_action_route(action: str) -> None:
    schema = json.loads((SCHEMAS / f"{action}.json").read_text())
    schema.pop("$schema", None)

    async def endpoint(charge_point_id: str, request: Request,
                       wait: float = Query(30, ge=0, le=300, description=(
                           "Seconds to wait for the answer; 0 answers 202 at once with a command id.")),
                       callback_url: str | None = Query(None, description=(
                           "Receives the outcome by POST when the command ends (http or https; "
                           "a loopback, private, link-local or metadata address is refused "
                           "with 422 AddressNotAllowed unless CHARGEBAY_OUTBOUND_ALLOW names "
                           "it).")),
                       caller: Caller = Depends(send_role),
                       cs: CentralSystem = Depends(central)) -> JSONResponse:
        return await run_command(request, cs, charge_point_id, action, await _payload(request),
                                 wait, caller, callback_url)

    endpoint.__name__ = f"command_{action}"
    router.add_api_route(
        f"/api/v1/charge-points/{{charge_point_id}}/commands/{action}", endpoint, methods=["POST"],
        summary=f"Send {action}",
        description=f"Sends the OCPP 1.6 **{action}** request with the JSON body as its payload. "
                    "200 with the charge point's answer; 502 `CallError`, 504 `Timeout`, "
                    "409 `ChargePointOffline`; 422 `InvalidPayload`, `InvalidUrl` or "
                    "`AddressNotAllowed` (the callback URL) before anything is sent.",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": schema, "example": EXAMPLES[action]}}}},
    )


for _action in sorted(EXAMPLES):
    _add_action_route(_action)


@router.post("/api/v1/charge-points/{charge_point_id}/commands/{action}", include_in_schema=False)
async def unknown_action(charge_point_id: str, action: str, _: Caller = Depends(send_role)) -> None:
    raise ApiError(404, "UnknownAction", f"{action!r} is not a CSMS-initiated OCPP 1.6 action")


@router.get("/api/v1/commands/{command_id}", summary="A command's state and result", dependencies=[read])
async def get_command(command_id: str, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(_CMD).where(_CMD.c.id == command_id))).first()
    if row is None:
        raise ApiError(404, "CommandNotFound", f"no command {command_id!r}")
    return command_view(row)


@router.get("/api/v1/commands", summary="Commands, newest first", dependencies=[read])
async def list_commands(page: Page = Depends(page_params), charge_point_id: str | None = None,
                        action: str | None = None, status: str | None = None,
                        cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    query = select(_CMD).order_by(_CMD.c.created_at.desc())
    if charge_point_id:
        query = query.where(_CMD.c.charge_point_id == charge_point_id)
    if action:
        query = query.where(_CMD.c.action == action)
    if status:
        query = query.where(_CMD.c.status == status)
    return await paginate(cs.engine, query, page, command_view)
