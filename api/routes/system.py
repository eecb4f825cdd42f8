"""Health and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.gate import GuardedRoute
from common.version import __version__

router = APIRouter(tags=["system"], route_class=GuardedRoute)


@router.get("/health", summary="Liveness, database reachability and connected charge points")
async def health(request: Request, response: Response) -> dict[str, Any]:
    central = request.app.state.central
    db_ok = await central.database_ok()
    if not db_ok:
        response.status_code = 503
    return {"status": "ok" if db_ok else "degraded", "version": __version__,
            "database": "ok" if db_ok else "unreachable",
            "connected_charge_points": central.router.local_count(),
            "node_id": central.settings.node_id}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
