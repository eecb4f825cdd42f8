"""Simulated chargers: durable definitions and their runtimes (paths of the vendor doc, seed 001),
bulk operations, and control of a running station by its identity."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from api.auth import require
from api.deps import Page, page_params
from api.errors import ApiError, declare, refused
from api.gate import GuardedRoute
from api.schemas import Paged
from api.vendor.charger_schemas import (
    BulkCreate,
    BulkCreated,
    BulkIds,
    BulkRuntime,
    Charger,
    ChargerCreate,
    ChargerUpdate,
    ConnectorStatus,
    Controlled,
    ListedCharger,
    Logs,
    Provisioning,
    RuntimeEvent,
    Status,
    Templates,
)
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


# Every route answers 503 `SimulatorDisabled` when the runtime does not run in this process.
DISABLED = "`SimulatorDisabled`: the simulator runtime is not running in this process"
_NOT_FOUND = {404: "`ChargerNotFound`", 503: DISABLED}
INVALID = "`InvalidTemplate`; `InvalidUrl`, `AddressNotAllowed` (csms_url)"


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


@router.get("/ocpp/chargers", summary="List chargers", dependencies=[read],
            response_model=Paged[ListedCharger], responses=declare({503: DISABLED}))
async def list_chargers(
        page: Paging, sim: Sim,
        q: Annotated[str | None, Query(max_length=48, description="Part of the identity, in any case.")] = None,
        status: Annotated[Status | None, Query(description="Only chargers in this provisioning status.")] = None,
        connector_status: Annotated[ConnectorStatus | None, Query(
            description="Only running chargers with a connector in this status.")] = None,
        runtime: Annotated[bool, Query(description=(
            "Each charger with its status and its station's snapshot (connectors, generator), "
            "read in one request per simulator worker: a page of many chargers in one call."))] = False,
) -> dict[str, Any]:
    offset = (page.page - 1) * page.page_size
    if runtime or status or connector_status:
        items, total = await sim.overview(offset, page.page_size, q, status, connector_status)
    else:
        items, total = await sim.list(offset, page.page_size, q)
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


@contextlib.contextmanager
def definition_errors() -> Iterator[None]:
    """A definition the service refuses, as the API answers it (an ApiError, so that a bulk
    create can answer it per charger): one mapping for a create, a batch and an update."""
    try:
        yield
    except ChargerExists as exc:
        taken = ", ".join(repr(i) for i in exc.identities)
        raise ApiError(409, "ChargerExists", f"a charger already exists: {taken}") from None
    except OutboundRefused as exc:
        raise refused(exc) from None
    except (FileNotFoundError, ValueError) as exc:
        raise ApiError(422, "InvalidTemplate", str(exc)) from None


async def _create(sim: SimService, body: ChargerCreate) -> dict[str, Any]:
    with definition_errors():
        return await sim.create(body.identity, body.template, body.csms_url, body.overrides, body.atg,
                                body.ocpp_version)


@router.post("/ocpp/chargers", status_code=201, summary="Create charger (durable)", dependencies=[write],
             response_model=Charger,
             responses=declare({409: "`ChargerExists`", 422: INVALID, 503: DISABLED}))
async def create_charger(body: ChargerCreate, sim: Sim) -> dict[str, Any]:
    return await _create(sim, body)


@router.post("/ocpp/chargers/bulk", summary="Create many chargers; a result per charger",
             dependencies=[write], response_model=BulkCreated, responses=declare({503: DISABLED}))
async def bulk_create(body: BulkCreate, sim: Sim) -> dict[str, Any]:
    results = []
    for item in body.chargers:
        try:
            results.append({"identity": item.identity, "ok": True, "charger": await _create(sim, item)})
        except ApiError as exc:
            results.append({"identity": item.identity, "ok": False, "code": exc.code, "message": exc.message})
    return {"results": results}


@router.post("/ocpp/chargers/bulk/{operation}", summary="Start, stop or restart many chargers",
             dependencies=[write], response_model=BulkRuntime, responses=declare({503: DISABLED}))
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
            responses=declare({**_NOT_FOUND, 422: INVALID}))
async def update_charger(charger_id: str, body: ChargerUpdate, sim: Sim) -> dict[str, Any]:
    await _found(sim, charger_id)
    with definition_errors():
        return await sim.update(charger_id, body.model_dump(exclude_unset=True))


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
                                "action failed (the reason says why)", 503: DISABLED}))
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
