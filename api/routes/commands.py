"""Every CSMS-initiated OCPP 1.6 action over REST, synchronously (``?wait=S``) or not (``?wait=0``).

One OpenAPI entry per action, so /docs shows each action's own schema and example; one route,
first, serves them all (see :func:`command`). It reads the body and answers the outcome; the
command itself (check, record, send, outcome, callback) is one call of
:meth:`csms.services.commands.CommandService.run`. Per OCPP version, the list of those actions
with their request schemas (``/api/v1/ocpp-versions/{ocpp_version}``), for clients that build
their forms from it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import UNAUTHORIZED, Caller, allowed_roles, caller_in, gated, require
from api.command_examples import EXAMPLES
from api.command_examples_201 import example, inlined
from api.deps import Commands, FleetCommands, Paging, Queries, central
from api.errors import ApiError, body_schema, declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.commands import (
    CommandFailed,
    CommandOut,
    CommandPending,
    CommandResult,
    CommandSchema,
    FleetCommandIn,
    FleetCommandOut,
    FleetTargetOut,
    OcppVersionName,
    OcppVersionOut,
)
from csms.outcomes import Outcome
from csms.services.bulk_commands import Target
from csms.services.commands import CommandRun, CommandService
from ocppj.versions import V16, V201, Version
from ocppj.versions import V16_SCHEMAS as SCHEMAS

router = APIRouter(tags=["commands"], route_class=GuardedRoute)
# The one route that serves every action's command (see :func:`command`): the app includes it
# before every other router, since FastAPI matches a request against each router's routes in turn.
first = APIRouter(tags=["commands"], route_class=GuardedRoute)
Sender = Annotated[Caller, Depends(require("operator", "integrator"))]
read = Depends(require("operator", "integrator", "viewer"))
Wait = Annotated[float, Query(ge=0, le=300, description=(
    "Seconds to wait for the answer; 0 answers 202 at once with a command id."))]
CallbackUrl = Annotated[str | None, Query(description=(
    "Receives the outcome by POST when the command ends (http or https; a loopback, private, "
    "link-local or metadata address is refused with 422 AddressNotAllowed unless "
    "CHARGEBAY_OUTBOUND_ALLOW names it)."))]

_FAILURE = {"call_error": (502, "CallError"), "timeout": (504, "Timeout"),
            "offline": (409, "ChargePointOffline")}


# What some actions are refused for besides the payload's schema (csms.services.command_effects)
_REFUSALS: dict[str, dict[int, str]] = {
    "ChangeConfiguration": {422: "`InvalidConfigurationValue` (an AuthorizationKey or SecurityProfile "
                                 "the central system could not follow)"},
    "ReserveNow": {409: "`ReservationIdInUse`: the reservationId is another charge point's, or a "
                        "reservation it held that is over: used, cancelled, expired (nothing sent)"},
}


def _responses(action: str) -> dict[int | str, dict[str, Any]]:
    """What a command route answers besides the charge point's answer (200)."""
    refusals = _REFUSALS.get(action, {})
    found = declare({404: "`ChargePointNotFound`",
                     409: "; ".join(filter(None, ("`ChargePointOffline`: not connected; `ActionNotInVersion`: "
                                                  "not an action of the version the charge point speaks",
                                                  refusals.get(409)))),
                     422: "; ".join(filter(None, (
                         "`InvalidJson`, `InvalidPayload` (breaks the schema of the OCPP version the "
                         "charge point speaks), `InvalidUrl` or "
                         "`AddressNotAllowed` (the callback URL): before anything is stored or sent",
                         refusals.get(422)))),
                     502: "`CallError`: the charge point answered with an error",
                     504: "`Timeout`: no answer in time"})
    for status in (409, 502, 504):
        failed = body_schema(CommandFailed)
        if status in refusals:  # either body: the command's failure, or the refusal before sending
            failed["application/json"]["schema"] = {"anyOf": [
                failed["application/json"]["schema"], found[status]["content"]["application/json"]["schema"]]}
        found[status]["content"] = failed
    found[202] = {"description": "Sent without waiting (`wait=0`)", "content": body_schema(CommandPending)}
    return found


async def _payload(request: Request) -> dict[str, Any]:
    """The body as the OCPP payload: a JSON object (an empty body is ``{}``)."""
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


def failure(command_id: str, outcome: Outcome) -> ApiError:
    """The answer of a command that got no result: 502, 504 or 409, naming the command."""
    status, code = _FAILURE[outcome.kind]
    if outcome.kind != "call_error":
        return ApiError(status, code, outcome.description or code, command_id=command_id)
    return ApiError(status, code, f"the charge point answered {outcome.error_code}: {outcome.description}",
                    command_id=command_id, error_code=outcome.error_code,
                    error_description=outcome.description, error_details=outcome.details)


def answered(run: CommandRun) -> CommandRun:
    """The run, or the refusal (409/502/504) when the charge point gave no result."""
    if run.outcome is not None and run.outcome.kind != "result":
        raise failure(run.command_id, run.outcome)
    return run


def _answer(run: CommandRun, response: Response) -> CommandResult | CommandPending:
    if run.outcome is None:
        response.status_code = 202
        return CommandPending(command_id=run.command_id, status="pending")
    if run.outcome.kind != "result":
        raise failure(run.command_id, run.outcome)
    return CommandResult(command_id=run.command_id, status="result", response=run.outcome.payload)


def _request_body(action: str) -> dict[str, Any]:
    """The action's payload schema and example in each version that has it (1.6, 2.0.1)."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    if action in V16.csms_actions:
        schema = json.loads((SCHEMAS / f"{action}.json").read_text())
        schema.pop("$schema", None)
        found["OCPP 1.6"] = (schema, EXAMPLES[action])
    if action in V201.csms_actions:
        found["OCPP 2.0.1"] = (inlined(action), example(action))
    schemas = [schema for schema, _ in found.values()]
    return {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas},
            "examples": {name: {"summary": name, "value": value} for name, (_, value) in found.items()}}


_ACTIONS = frozenset(V16.csms_actions | V201.csms_actions)


_SENDERS = allowed_roles("operator", "integrator")


@dataclass(frozen=True, slots=True)
class _Sending:
    """What the route serving every command needs, gathered by one dependency."""

    caller: Caller
    action: str
    commands: CommandService


@gated(UNAUTHORIZED)
async def _sending(request: Request, action: str) -> _Sending:
    """The caller (an operator or integrator), the action named in the path or 404
    ``UnknownAction`` (before the query is validated, so ``?wait=999`` on an unknown name is
    still a 404), and the command service: one dependency, not three (FastAPI solves each
    dependency of a route anew on every request, a tenth of a command's CPU for three; the
    route is not in OpenAPI, so nothing there depends on their shape)."""
    caller = await caller_in(request, _SENDERS)
    if action not in _ACTIONS:
        raise ApiError(404, "UnknownAction", f"{action!r} is not a CSMS-initiated OCPP 1.6 or 2.0.1 action")
    return _Sending(caller, action, (await central(request)).commands)


@first.post("/api/v1/charge-points/{charge_point_id}/commands/{action}", include_in_schema=False,
             responses=declare({404: "`UnknownAction`"}))
async def command(charge_point_id: str, sending: Annotated[_Sending, Depends(_sending)], request: Request,
                  response: Response, wait: Wait = 30, callback_url: CallbackUrl = None
                  ) -> CommandResult | CommandPending:
    """Every action's command, the one route that serves them: FastAPI tries its routes in turn
    (twice, in its included routers), and reaching RemoteStartTransaction past fifty per-action
    routes was a fifth of a REST command's CPU (bench/api_commands.py, profiled); past the
    routers included before this one's, another tenth. The per-action routes below document each
    action in OpenAPI (body, examples, answers); this one, in :data:`first`, answers them all the
    same way, and 404 ``UnknownAction`` for any other name."""
    run = await sending.commands.run(charge_point_id, sending.action, await _payload(request), wait=wait,
                                     requested_by=sending.caller.name, callback_url=callback_url)
    return _answer(run, response)


def _add_action_route(action: str) -> None:
    """The OpenAPI entry of ``action``'s command (served by :func:`command`, which comes first)."""
    versions = " and ".join(v for v, actions in (("1.6", V16.csms_actions), ("2.0.1", V201.csms_actions))
                            if action in actions)

    async def endpoint(charge_point_id: str, request: Request, response: Response, caller: Sender,
                       commands: Commands, wait: Wait = 30, callback_url: CallbackUrl = None
                       ) -> CommandResult | CommandPending:
        return await command(charge_point_id, _Sending(caller, action, commands), request, response, wait,
                             callback_url)

    endpoint.__name__ = f"command_{action}"
    router.add_api_route(
        f"/api/v1/charge-points/{{charge_point_id}}/commands/{action}", endpoint, methods=["POST"],
        summary=f"Send {action}",
        description=f"Sends the OCPP **{action}** request (OCPP {versions}) with the JSON body as its "
                    "payload, in the version the charge point speaks (pinned, or negotiated at its last "
                    "connect): 200 with the charge point's answer; 502 `CallError`, 504 `Timeout`, "
                    "409 `ChargePointOffline` or `ActionNotInVersion` (not an action of its version); "
                    "422 `InvalidPayload` (against its version's schema), `InvalidUrl` or "
                    "`AddressNotAllowed` (the callback URL) before anything is sent.",
        responses=_responses(action),
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": _request_body(action)}}},
    )


for _action in sorted(V16.csms_actions | V201.csms_actions):
    _add_action_route(_action)


FleetAction = Annotated[str, Path(description="A CSMS-initiated OCPP 1.6 or 2.0.1 action.",
                                   examples=["RemoteStartTransaction"])]
_FLEET_EXAMPLE = {"charge_point_ids": ["CP-1", "CP-2"], "payload": {"connectorId": 1, "idTag": "FLEET"}}


def _fleet_target(target: Target) -> FleetTargetOut:
    out = FleetTargetOut(charge_point_id=target.charge_point_id, command_id=target.command_id, status="pending")
    if target.refused is not None:
        out.status, out.error_code, out.error_description = "refused", target.refused.code, target.refused.message
    elif target.failed is not None:
        out.status, out.error_code, out.error_description = "error", "InternalError", target.failed
    elif (outcome := target.outcome) is not None:
        out.status, out.response = outcome.kind, outcome.payload
        out.error_code, out.error_description = outcome.error_code, outcome.description
    return out


@router.post("/api/v1/commands/fleet/{action}", summary="Send one action to many charge points",
             response_model=FleetCommandOut, operation_id="fleet_command",
             responses={**declare({404: "`UnknownAction`: not a CSMS-initiated OCPP 1.6 or 2.0.1 action",
                                   422: "`TooManyChargePoints` (over 10,000 once repeats are dropped)"}),
                        202: {"description": "Sent without waiting (`wait=0`): every command sent is "
                                             "`pending`; look each up by its id",
                              "content": body_schema(FleetCommandOut)}},
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "examples": {"RemoteStartTransaction": {"summary": "RemoteStart on two charge points",
                                                         "value": _FLEET_EXAMPLE}}}}}})
async def fleet_command(action: FleetAction, body: FleetCommandIn, response: Response, caller: Sender,
                        fleet: FleetCommands, wait: Wait = 30) -> FleetCommandOut:
    """The same action and payload to each charge point named, each as its own command (own id, own
    record, own outcome, as if sent alone), in the version it speaks; answered once every one has
    ended (or at once with `wait=0`). Per charge point: its outcome, or why it was refused before
    sending (unknown, a payload its version's schema refuses, an action its version lacks); a
    refusal of one holds up none of the others. Cheaper than one request per charge point: the
    payload is checked once per version and the commands are recorded in one statement; each
    outcome is stored as its answer comes."""
    targets = await fleet.run(body.charge_point_ids, action, body.payload, wait=wait, requested_by=caller.name)
    results = [_fleet_target(t) for t in targets]
    if wait == 0:
        response.status_code = 202
    return FleetCommandOut(action=action, counts=dict(Counter(r.status for r in results)), results=results)


@router.get("/api/v1/commands/{command_id}", summary="A command's state and result", dependencies=[read],
            response_model=CommandOut, responses=declare({404: "`CommandNotFound`"}))
async def get_command(command_id: str, reads: Queries) -> dict[str, Any]:
    return await reads.commands.get(command_id)


@router.get("/api/v1/commands", summary="Commands, newest first", dependencies=[read],
            response_model=Paged[CommandOut], responses=declare({}))
async def list_commands(page: Paging, reads: Queries, charge_point_id: str | None = None,
                        action: str | None = None, status: str | None = None) -> dict[str, Any]:
    return await reads.commands.page_of(page, charge_point_id=charge_point_id, action=action, status=status)


_VERSIONS = {"1.6": (V16, EXAMPLES.__getitem__), "2.0.1": (V201, example)}


@cache
def _version_document(name: OcppVersionName) -> OcppVersionOut:
    """Built once: the schemas are the installed OCPP library's, fixed for the process."""
    version: Version
    version, example_of = _VERSIONS[name]
    return OcppVersionOut(ocpp_version=name, subprotocol=version.subprotocol,
                          commands=[CommandSchema(action=a, request_schema=version.request_schema(a),
                                                  example=example_of(a)) for a in sorted(version.csms_actions)],
                          charge_point_actions=sorted(version.cp_actions))


@router.get("/api/v1/ocpp-versions/{ocpp_version}", summary="One OCPP version's commands and their schemas",
            dependencies=[read], response_model=OcppVersionOut, responses=declare({}))
async def ocpp_version(ocpp_version: OcppVersionName) -> OcppVersionOut:
    """Every action the central system can send a charge point of this version, with its request's
    JSON schema (from the OCPP core's version registry) and a valid example: what a client needs
    to offer each command as a form (the dashboard's charge point page does)."""
    return _version_document(ocpp_version)
