"""Simulated chargers: durable definitions and their runtimes (paths of the vendor doc, seed 001),
bulk operations, and control of a running station by its identity."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require
from api.deps import Page, page_params
from api.errors import ApiError, declare, refused
from api.gate import GuardedRoute
from api.schemas import Paged
from charger_sim.runtime import ACTIONS, SimRuntimeError
from charger_sim.service import ChargerExists, ChargerNotFound, SimService
from charger_sim.template import shipped_templates
from common.outbound import OutboundRefused

router = APIRouter(tags=["simulator"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
write = Depends(require("operator"))


async def service(request: Request) -> SimService:
    sim = getattr(request.app.state, "sim", None)
    if sim is None:
        raise ApiError(503, "SimulatorDisabled", "the simulator runtime is not running in this process")
    return sim  # type: ignore[no-any-return]


Sim = Annotated[SimService, Depends(service)]
Paging = Annotated[Page, Depends(page_params)]


class ChargerCreate(BaseModel):
    identity: str = Field(min_length=1, max_length=48, pattern=r"^[!-~]+$")
    ocpp_version: Literal["OCPP1.6", "OCPP2.0.1"] = Field("OCPP1.6", description=(
        "The version the simulated station speaks (OCPP2.0.1: a 2.0.1 station with its device model)."))
    csms_url: str | None = Field(None, description=(
        "ws or wss; default: this stack's own CSMS (always allowed). A loopback, private, "
        "link-local or metadata address is refused (422 AddressNotAllowed) unless "
        "CHARGEBAY_OUTBOUND_ALLOW names it."))
    template: str = Field("ac-wallbox", description="A shipped template or a file path.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Template fields to override.")
    atg: bool = Field(False, description="Run the automatic transaction generator.")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"identity": "CP-1", "ocpp_version": "OCPP1.6", "csms_url": "ws://127.0.0.1:9000/ocpp",
         "template": "ac-wallbox"}]})


class ChargerUpdate(BaseModel):
    csms_url: str | None = Field(None, description="As at create: checked again (422 AddressNotAllowed).")
    template: str | None = None
    overrides: dict[str, Any] | None = None
    atg: bool | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"template": "dc-fast", "atg": True}]})


class BulkCreate(BaseModel):
    chargers: list[ChargerCreate] = Field(min_length=1, max_length=10000)

    model_config = ConfigDict(json_schema_extra={"examples": [{"chargers": [
        {"identity": "CP-1", "template": "ac-wallbox"}, {"identity": "CP-2", "template": "dc-fast"}]}]})


class BulkIds(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=10000, description="Charger ids.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["2b1f…", "7c9e…"]}]})


class Charger(BaseModel):
    """A simulated charger's durable definition."""

    id: str
    identity: str
    ocpp_version: str
    csms_url: str | None = Field(description="null: this stack's own CSMS.")
    template: str
    overrides: dict[str, Any]
    desired_state: str = Field(description="running or stopped: what a restart of the stack resumes.")
    atg: bool
    created_at: str = Field(description="ISO 8601, UTC (Z).")
    updated_at: str = Field(description="ISO 8601, UTC (Z).")


class Templates(BaseModel):
    templates: list[str]


class Created(BaseModel):
    identity: str
    ok: Literal[True]
    charger: Charger


class NotCreated(BaseModel):
    identity: str
    ok: Literal[False]
    code: str = Field(description="As the single create answers it (ChargerExists, InvalidTemplate, …).")
    message: str


class BulkCreated(BaseModel):
    results: list[Created | NotCreated] = Field(description="One per charger, in the order given.")


class RuntimePayload(BaseModel):
    provider: str = Field(description="Where the station runs: ours (`local`, in this process), "
                          "not the vendor's cloud, so not its `aws`.")
    runtime_kind: str
    service_name: str = Field(description="The charger's id, as the vendor names its service.")
    desired_count: Literal[0, 1] = Field(description="1: running (start, restart); 0: stopped.")
    status: Literal["ACTIVE"] = Field(description=(
        "The runtime service's own state, as the vendor answers it: `ACTIVE` while the charger "
        "is defined, stopped or not (`desired_count` says which)."))


class RuntimeEvent(BaseModel):
    """The vendor doc's answer to a start, stop or restart."""

    id: str
    event_type: Literal["start_charger", "stop_charger", "restart_charger"]
    ocpp_version: str
    payload: RuntimePayload


class RuntimeDone(BaseModel):
    id: str
    ok: Literal[True]
    event_type: Literal["start_charger", "stop_charger", "restart_charger"]
    ocpp_version: str
    payload: RuntimePayload


class RuntimeFailed(BaseModel):
    id: str
    ok: Literal[False]
    code: str
    message: str


class BulkRuntime(BaseModel):
    results: list[RuntimeDone | RuntimeFailed] = Field(description="One per charger, in the order given.")


class Provisioning(BaseModel):
    id: str
    identity: str
    status: Literal["PENDING", "PROVISIONING", "CONNECTED", "STOPPED", "PROVISIONED"]
    desired_state: str
    runtime: dict[str, Any] | None = Field(description="The running station's snapshot; null: not running.")


class ChargerLogEntry(BaseModel):
    ts: str
    kind: str
    text: str


class Logs(BaseModel):
    total: int
    items: list[ChargerLogEntry] = Field(description="Newest first.")
    page: int
    page_size: int


class Controlled(BaseModel):
    result: Any = Field(description="What the action gave (null for most).")
    station: dict[str, Any] = Field(description="The station's snapshot after it.")


# Every route answers 503 `SimulatorDisabled` when the runtime does not run in this process.
_DISABLED = "`SimulatorDisabled`: the simulator runtime is not running in this process"
_NOT_FOUND = {404: "`ChargerNotFound`", 503: _DISABLED}
_INVALID = "`InvalidTemplate`; `InvalidUrl`, `AddressNotAllowed` (csms_url)"


async def _found(sim: SimService, charger_id: str) -> dict[str, Any]:
    try:
        return await sim.get(charger_id)
    except ChargerNotFound:
        raise ApiError(404, "ChargerNotFound", f"no charger {charger_id!r}") from None


def _runtime_event(sim: SimService, charger: dict[str, Any], event: str, desired: int) -> dict[str, Any]:
    """The answer of the vendor doc for start/stop/restart, with its values: the service is
    named by the charger's id and stays ``ACTIVE`` (a stop sets ``desired_count`` 0), issue #20."""
    return {"id": charger["id"], "event_type": event, "ocpp_version": charger["ocpp_version"],
            "payload": {"provider": sim.provider.name, "runtime_kind": sim.provider.runtime_kind,
                        "service_name": charger["id"], "desired_count": desired, "status": "ACTIVE"}}


@router.get("/ocpp/templates", summary="Shipped station templates", dependencies=[read],
            responses=declare({}))
async def templates() -> Templates:
    return Templates(templates=shipped_templates())


@router.get("/ocpp/chargers", summary="List chargers", dependencies=[read], response_model=Paged[Charger],
            responses=declare({503: _DISABLED}))
async def list_chargers(page: Paging, sim: Sim) -> dict[str, Any]:
    items, total = await sim.list((page.page - 1) * page.page_size, page.page_size)
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


async def _create(sim: SimService, body: ChargerCreate) -> dict[str, Any]:
    try:
        return await sim.create(body.identity, body.template, body.csms_url, body.overrides, body.atg,
                                body.ocpp_version)
    except ChargerExists:
        raise ApiError(409, "ChargerExists", f"a charger {body.identity!r} already exists") from None
    except OutboundRefused as exc:  # as an ApiError: a bulk create answers it per charger
        raise refused(exc) from None
    except (FileNotFoundError, ValueError) as exc:
        raise ApiError(422, "InvalidTemplate", str(exc)) from None


@router.post("/ocpp/chargers", status_code=201, summary="Create charger (durable)", dependencies=[write],
             response_model=Charger,
             responses=declare({409: "`ChargerExists`", 422: _INVALID, 503: _DISABLED}))
async def create_charger(body: ChargerCreate, sim: Sim) -> dict[str, Any]:
    return await _create(sim, body)


@router.post("/ocpp/chargers/bulk", summary="Create many chargers; a result per charger",
             dependencies=[write], response_model=BulkCreated, responses=declare({503: _DISABLED}))
async def bulk_create(body: BulkCreate, sim: Sim) -> dict[str, Any]:
    results = []
    for item in body.chargers:
        try:
            results.append({"identity": item.identity, "ok": True, "charger": await _create(sim, item)})
        except ApiError as exc:
            results.append({"identity": item.identity, "ok": False, "code": exc.code, "message": exc.message})
    return {"results": results}


@router.post("/ocpp/chargers/bulk/{operation}", summary="Start, stop or restart many chargers",
             dependencies=[write], response_model=BulkRuntime, responses=declare({503: _DISABLED}))
async def bulk_runtime(operation: Literal["start-charger", "stop-charger", "restart-charger"],
                       body: BulkIds, sim: Sim) -> dict[str, Any]:
    results = []
    for charger_id in body.ids:
        try:
            results.append({"id": charger_id, "ok": True, **await _runtime(sim, charger_id, operation)})
        except ApiError as exc:
            results.append({"id": charger_id, "ok": False, "code": exc.code, "message": exc.message})
    return {"results": results}


@router.get("/ocpp/chargers/{charger_id}", summary="Get charger", dependencies=[read],
            response_model=Charger, responses=declare(_NOT_FOUND))
async def get_charger(charger_id: str, sim: Sim) -> dict[str, Any]:
    return await _found(sim, charger_id)


@router.put("/ocpp/chargers/{charger_id}", summary="Update charger (a running one restarts)",
            dependencies=[write], response_model=Charger,
            responses=declare({**_NOT_FOUND, 422: _INVALID}))
async def update_charger(charger_id: str, body: ChargerUpdate, sim: Sim) -> dict[str, Any]:
    await _found(sim, charger_id)
    try:
        return await sim.update(charger_id, body.model_dump(exclude_unset=True))
    except (FileNotFoundError, ValueError) as exc:
        raise ApiError(422, "InvalidTemplate", str(exc)) from None


@router.delete("/ocpp/chargers/{charger_id}", status_code=204, summary="Delete charger",
               dependencies=[write], responses=declare(_NOT_FOUND))
async def delete_charger(charger_id: str, sim: Sim) -> Response:
    await _found(sim, charger_id)
    await sim.delete(charger_id)
    return Response(status_code=204)


@router.get("/ocpp/chargers/{charger_id}/provisioning", summary="Get charger provisioning status",
            dependencies=[read], response_model=Provisioning, responses=declare(_NOT_FOUND))
async def provisioning(charger_id: str, sim: Sim) -> dict[str, Any]:
    await _found(sim, charger_id)
    return await sim.provisioning(charger_id)


async def _runtime(sim: SimService, charger_id: str, operation: str) -> dict[str, Any]:
    charger = await _found(sim, charger_id)
    if operation == "start-charger":
        await sim.start(charger_id)
        return _runtime_event(sim, charger, "start_charger", 1)
    if operation == "stop-charger":
        await sim.stop(charger_id)
        return _runtime_event(sim, charger, "stop_charger", 0)
    await sim.restart(charger_id)
    return _runtime_event(sim, charger, "restart_charger", 1)


def _runtime_route(operation: str, summary: str) -> None:
    async def endpoint(charger_id: str, sim: Sim) -> dict[str, Any]:
        return await _runtime(sim, charger_id, operation)

    router.add_api_route(f"/ocpp/chargers/{{charger_id}}/{operation}", endpoint, methods=["POST"],
                         summary=summary, dependencies=[write], name=operation.replace("-", "_"),
                         response_model=RuntimeEvent, responses=declare(_NOT_FOUND))


for _operation, _summary in (("start-charger", "Start charger runtime"),
                             ("stop-charger", "Stop charger runtime"),
                             ("restart-charger", "Restart charger runtime")):
    _runtime_route(_operation, _summary)


@router.get("/ocpp/chargers/{charger_id}/logs", summary="List charger logs (frames and events, newest first)",
            dependencies=[read], response_model=Logs, responses=declare(_NOT_FOUND))
async def logs(charger_id: str, page: Paging, sim: Sim) -> dict[str, Any]:
    charger = await _found(sim, charger_id)
    found = await sim.provider.logs(charger["identity"], (page.page - 1) * page.page_size, page.page_size)
    return {**found, "page": page.page, "page_size": page.page_size}


@router.post("/ocpp/sim/{identity}/{action}", summary="Drive a running station by its identity",
             dependencies=[write], response_model=Controlled,
             responses=declare({404: "`UnknownAction`", 409: "`ChargerNotRunning`; `ActionFailed`: the "
                                "action failed (the reason says why)", 503: _DISABLED}))
async def control(identity: str, action: str, sim: Sim,
                  args: Annotated[dict[str, Any], Body(default_factory=dict, examples=[
                      {"connector_id": 1}, {"connector_id": 1, "id_tag": "TAG-1"},
                      {"connector_id": 1, "error_code": "GroundFailure"}, {"seconds": 30},
                      {"frame": "[2,\"1\",\"Heartbeat\",{}]"}, {"enabled": True}])]) -> Any:
    """Actions: plug, unplug, start-transaction, stop-transaction, fault-connector, clear-fault,
    drop-connection, refuse-reconnect, delay-responses, drop-responses, send-raw, send-malformed,
    power-loss, clock-skew, atg."""
    if action not in ACTIONS:
        raise ApiError(404, "UnknownAction", f"{action!r} is not one of {', '.join(ACTIONS)}")
    try:
        return await sim.provider.control(identity, action, args)
    except SimRuntimeError as exc:
        raise ApiError(409, "ChargerNotRunning" if "not running" in str(exc) else "ActionFailed",
                       str(exc)) from None
