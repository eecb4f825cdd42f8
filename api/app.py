"""The FastAPI application, built around a running :class:`csms.central.CentralSystem`."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api import docs_pages, errors, middleware, openapi_doc
from api.auth import remember_tokens
from api.routes import (
    alerts,
    charge_points,
    commands,
    events,
    id_tags,
    load_groups,
    local_lists,
    network,
    reservations,
    security,
    system,
    tokens,
    transactions,
    webhooks,
)
from api.ui import routes as ui
from api.vendor import routers as vendor_routers
from charger_sim.service import SimService
from common.version import __version__
from csms.central import CentralSystem
from locker_bridge.service import BridgeService
from lockers.service import SiteService

# No OpenTelemetry here (metrics are Prometheus', /metrics): a FastAPI that has it built in
# otherwise asks the OpenTelemetry API for its providers on every request (~3 % of a REST
# command's CPU). Older FastAPI releases (pyproject allows them) have no such setting.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def operation_id(route: APIRoute) -> str:
    """An operation's id is its function's name (``list_charge_points``): what a generated client
    names its method. FastAPI's default appends the path and method (94 ids were over 40
    characters); the names are kept unique across the app (tests/api/test_openapi.py)."""
    return route.name


def create_app(central: CentralSystem, sim: SimService | None = None,
               bridge: BridgeService | None = None, sites: SiteService | None = None) -> FastAPI:
    app = FastAPI(
        title="chargebay",
        version=__version__,
        description="OCPP 1.6J and 2.0.1 central system, charger simulator and locker bridge. "
                    "Authenticate with `Authorization: Bearer <token>` (or `X-API-Key: <token>`); "
                    "docs/auth.md says which role each vendor API needs.",
        docs_url=None, redoc_url=None,  # served by api.docs_pages from local files, not a CDN
        generate_unique_id_function=operation_id,
        **_NO_TELEMETRY,
    )
    app.state.central = central
    remember_tokens(app.state, central.settings)
    app.state.sim = sim
    app.state.bridge = bridge
    app.state.sites = sites or SiteService(central.engine, bridge)
    errors.install(app)
    openapi_doc.install(app)
    middleware.install(app)
    app.include_router(commands.first)  # the REST command route: matched before all others
    app.include_router(system.router)
    app.include_router(docs_pages.router)
    for module in (charge_points, transactions, id_tags, commands, events, tokens, security,
                   reservations, local_lists, load_groups, webhooks, network, alerts):
        app.include_router(module.router)
    for router in vendor_routers.ROUTERS:
        app.include_router(router)
    ui.install(app)
    return app
