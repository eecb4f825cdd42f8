"""A charge point's local authorization list as a resource (Local Auth List Management):
derived from the id tags, sent Full or Differential with its version, checked against what the
charge point holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import Caller, require
from api.deps import LocalLists, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.routes.commands import Wait, answered
from api.schemas.security import LocalListOut, LocalListSend, LocalListSent, LocalListVersion, summary

router = APIRouter(prefix="/api/v1/charge-points/{charge_point_id}/local-list", tags=["local lists"],
                   route_class=GuardedRoute)
Operator = Annotated[Caller, Depends(require("operator"))]
read = Depends(require("operator", "integrator", "viewer"))
SENT = {404: "`ChargePointNotFound`", 409: "`ChargePointOffline`", 502: "`CallError`", 504: "`Timeout`"}


@router.get("", summary="The list it accepted last", dependencies=[read], response_model=LocalListOut,
            responses=declare({404: "`ChargePointNotFound`"}))
async def get_local_list(charge_point_id: str, reads: Queries) -> dict[str, Any]:
    return await reads.security.local_list(charge_point_id)


@router.post("", summary="Send its list (SendLocalList)", response_model=LocalListSent,
             responses=declare(SENT))
async def send_local_list(charge_point_id: str, body: LocalListSend, caller: Operator,
                          service: LocalLists, wait: Wait = 30) -> dict[str, Any]:
    """Full: every id tag (or the group's) with its idTagInfo as Authorize would answer now.
    Differential: only what changed since the list it accepted last, removed tags without
    idTagInfo. The version is one above the one it holds unless given. The kept list and
    version change only when the charge point answers Accepted (``command.response.status``:
    Accepted, Failed, NotSupported or VersionMismatch)."""
    sent, run = await service.send(charge_point_id, body.update_type, body.group, body.version,
                                   caller.who, max(wait, 1))
    return {**sent, "command": summary(answered(run))}


@router.post("/check", summary="Which version it holds (GetLocalListVersion)",
             response_model=LocalListVersion, responses=declare(SENT))
async def check_local_list(charge_point_id: str, caller: Operator, service: LocalLists,
                           wait: Wait = 30) -> LocalListVersion:
    expected, held, run = await service.check(charge_point_id, caller.who, max(wait, 1))
    answered(run)
    return LocalListVersion(expected=expected, charge_point=held, command=summary(run),
                            in_sync=None if held is None else held == (expected or 0))
