"""The FastAPI application, built around a running :class:`csms.central.CentralSystem`."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors, middleware
from api.routes import (
    charge_points,
    chargers,
    commands,
    events,
    id_tags,
    integration,
    locker_admin,
    locker_auth,
    locker_gateway,
    locker_people,
    locker_places,
    lockers,
    smart_locks,
    system,
    tokens,
    transactions,
)
from api.ui import routes as ui
from charger_sim.service import SimService
from common.version import __version__
from csms.central import CentralSystem
from locker_bridge.service import BridgeService
from locker_bridge.sites.service import SiteService


def create_app(central: CentralSystem, sim: SimService | None = None,
               bridge: BridgeService | None = None, sites: SiteService | None = None) -> FastAPI:
    app = FastAPI(
        title="chargebay",
        version=__version__,
        description="OCPP 1.6J central system, charger simulator and locker bridge. "
                    "Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.central = central
    app.state.sim = sim
    app.state.bridge = bridge
    app.state.sites = sites or SiteService(central.engine, bridge)
    errors.install(app)
    middleware.install(app)
    app.include_router(system.router)
    for module in (charge_points, transactions, id_tags, commands, events, tokens, integration,
                   chargers, lockers, locker_admin, locker_people, locker_places, locker_auth,
                   locker_gateway, smart_locks):
        app.include_router(module.router)
    ui.install(app)
    return app
