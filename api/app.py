"""The FastAPI application, built around a running :class:`csms.central.CentralSystem`."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.routes import charge_points, system
from common.version import __version__
from csms.central import CentralSystem


def create_app(central: CentralSystem) -> FastAPI:
    app = FastAPI(
        title="chargebay",
        version=__version__,
        description="OCPP 1.6J central system, charger simulator and locker bridge. "
                    "Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.central = central
    errors.install(app)
    app.include_router(system.router)
    app.include_router(charge_points.router)
    return app
