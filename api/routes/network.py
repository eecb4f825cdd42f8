"""The whole network at a glance: totals for the dashboard's cards, and the problems list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import Paging, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.network import NetworkSummary, Problem
from csms.queries.network import ProblemKind

router = APIRouter(prefix="/api/v1/network", tags=["network"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))


@router.get("/summary", summary="Totals of the online network, problems counted", dependencies=[read],
            response_model=NetworkSummary, responses=declare({}))
async def network_summary(
        reads: Queries,
        since: Annotated[datetime | None, Query(description=(
            "Start of the energy figure (ISO 8601; a dashboard sends its local midnight). "
            "Default: the start of the UTC day."))] = None,
) -> dict[str, Any]:
    """A few hundred bytes whatever the fleet's size: poll it, or read it again when the event
    stream says something changed."""
    return await reads.network.summary(since)


@router.get("/problems", summary="What needs looking at, newest first", dependencies=[read],
            response_model=Paged[Problem], responses=declare({}))
async def network_problems(page: Paging, reads: Queries,
                           kind: Annotated[ProblemKind | None, Query(description="Only this kind.")] = None,
                           ) -> dict[str, Any]:
    """Connectors Faulted on online charge points, charge points offline (once connected),
    boots rejected, and open sessions without a meter value for `stuck_transaction_after`."""
    return await reads.network.problems(page, kind)
