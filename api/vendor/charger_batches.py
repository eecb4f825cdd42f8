"""Simulated chargers by the batch (issue #21): N of one template in one request, and their
automatic transaction generators switched on or off without a restart.

Not in the vendor doc (seed 001): ours, in its conventions (its paths, its bodies' words, one
result per charger where each can fail alone), so that the dashboard builds a test network of
fifty chargers with one call instead of fifty-odd.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.errors import declare
from api.gate import GuardedRoute
from api.vendor.charger_schemas import AtgResults, AtgSwitch, BatchCreated, FromTemplate
from api.vendor.chargers import DISABLED, INVALID, Sim, definition_errors, write

router = APIRouter(tags=["simulator"], route_class=GuardedRoute)


@router.post("/ocpp/chargers/from-template", status_code=201, summary="Create N chargers from a template",
             dependencies=[write], response_model=BatchCreated,
             responses=declare({409: "`ChargerExists`: one or more of the identities is taken (all named); "
                                     "nothing was made", 422: INVALID, 503: DISABLED}))
async def create_from_template(body: FromTemplate, sim: Sim) -> dict[str, Any]:
    """All of them or none. With `start`, every runtime is started once all are made."""
    with definition_errors():
        made = await sim.create_many(body.identities(), body.template, body.csms_url, body.overrides,
                                     body.atg, body.ocpp_version)
    if body.start:
        await sim.start_many(made)
    return {"items": made, "started": body.start}


@router.post("/ocpp/chargers/atg", summary="Switch the automatic transaction generator of many chargers",
             dependencies=[write], response_model=AtgResults, responses=declare({503: DISABLED}))
async def set_atg(body: AtgSwitch, sim: Sim) -> dict[str, Any]:
    """Kept in each definition and applied at once to a running station (no restart, its
    sessions go on); a charger that does not exist is a result of its own (`ChargerNotFound`)."""
    ids = list(dict.fromkeys(body.ids))
    applied = await sim.set_atg(ids, body.enabled)
    missing = {"ok": False, "code": "ChargerNotFound"}
    return {"results": [{"id": i, "ok": True, "atg": body.enabled, "applied": applied[i]} if i in applied
                        else {"id": i, **missing, "message": f"no charger {i!r}"} for i in ids]}
