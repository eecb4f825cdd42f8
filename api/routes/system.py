"""Health and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from api.deps import Central
from api.errors import body_schema
from api.gate import GuardedRoute
from common.version import __version__

router = APIRouter(tags=["system"], route_class=GuardedRoute)


class Health(BaseModel):
    """200 ``ok``; 503 ``degraded`` while the database is unreachable."""

    status: str
    version: str
    database: str
    connected_charge_points: int
    node_id: str


@router.get("/health", summary="Liveness, database reachability and connected charge points",
            responses={503: {"description": "`degraded`: the database is unreachable",
                             "content": body_schema(Health)}})
async def health(cs: Central, response: Response) -> Health:
    db_ok = await cs.database_ok()
    if not db_ok:
        response.status_code = 503
    return Health(status="ok" if db_ok else "degraded", version=__version__,
                  database="ok" if db_ok else "unreachable",
                  connected_charge_points=cs.router.local_count(), node_id=cs.settings.node_id)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "The Prometheus text format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(cs: Central) -> Response:
    """The central system's counters and the fleet's gauges, read from the store now (every node
    of a cluster reports the same fleet gauges: docs/monitoring.md)."""
    return Response(await cs.exposition.render(), media_type=CONTENT_TYPE_LATEST)
