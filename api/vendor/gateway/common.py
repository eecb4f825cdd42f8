"""What the gateway's resource modules share: its route class and router, roles, path and
query types, and the error answers every route declares."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from api.auth import require
from api.errors import REFUSAL_STATUS, ApiError
from api.ui.routes import PAGES
from api.vendor.errors import VendorRoute, validation_fields
from api.vendor.gateway.schemas import MAX_ID, Error
from api.vendor.sites import sites
from lockers.errors import Invalid, Refused
from lockers.gateway.bank_types import BankTypes
from lockers.gateway.devices import Heartbeats
from lockers.gateway.locker_types import LockerTypes
from lockers.gateway.lockers import GatewayLockers
from lockers.gateway.rentals import Rentals

DASHBOARD_LOCKERS = next(page.path for page in PAGES if page.key == "lockers")


class GatewayRoute(VendorRoute):
    """The doc's dialect: the API's own error body, but a bad request is 400 (the doc's status),
    and so is a request the back office finds it cannot do (:class:`~lockers.errors.Invalid`)."""

    refusal_status: ClassVar[dict[type[Refused], int]] = {**REFUSAL_STATUS, Invalid: 400}

    def invalid(self, exc: RequestValidationError) -> ApiError:
        return ApiError(400, "ValidationError", "the request is not valid", fields=validation_fields(exc))


# -- the router ----------------------------------------------------------------------------------
def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("`ValidationError`: a bad path, query or body (see `fields`)"),
    401: _error("`Unauthorized`: no token, or an unknown or revoked one"),
    403: _error("`Forbidden`: the token's role may not do this"),
    "4XX": _error("Any other client error, with a stable `code`"),
}


def gateway_router() -> APIRouter:
    """A router of one gateway resource: its tag, its error answers, its 400 for a bad request.
    Its operation ids start ``gateway_``: the doc's resources (``/lockers``, ``/transactions``)
    have namesakes in our own and the back office's APIs."""
    return APIRouter(tags=["locker gateway"], route_class=GatewayRoute, responses=ERRORS,
                     generate_unique_id_function=lambda route: f"gateway_{route.name}")

READ = require("operator", "viewer", "kiosk")
RENT = require("operator", "kiosk")  # rent, release, open by transaction
OPEN = require("operator", "kiosk")
CHANGE = require("operator")
ADMIN = require("admin")
HEARTBEAT = require("operator", "kiosk", "device")  # a field device: its device key (api.vendor.gateway.system)

Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
LockerIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]

NOT_FOUND_LOCKER: dict[int | str, dict[str, Any]] = {404: _error("`LockerNotFound`")}
OPEN_ERRORS: dict[int | str, dict[str, Any]] = {
    409: _error("`DoorDidNotOpen` (acknowledged, the door still reads closed, no brokenLock), "
                "`BoardRefused` (the board answered an error status), `LockerNotDriven` (no bridge "
                "drives this locker); the body also holds the LockerOperationResponse fields"),
    503: _error("`BoardUnavailable`: the board did not answer, or its port is down"),
}


# -- the services, one per resource, over the app's site service ----------------------------------
async def _lockers(request: Request) -> GatewayLockers:
    return GatewayLockers(sites(request))


async def _rentals(request: Request) -> Rentals:
    return Rentals(sites(request))


async def _locker_types(request: Request) -> LockerTypes:
    return LockerTypes(sites(request))


async def _bank_types(request: Request) -> BankTypes:
    return BankTypes(sites(request))


async def _heartbeats(request: Request) -> Heartbeats:
    return Heartbeats(sites(request))


LockersService = Annotated[GatewayLockers, Depends(_lockers)]
RentalsService = Annotated[Rentals, Depends(_rentals)]
LockerTypesService = Annotated[LockerTypes, Depends(_locker_types)]
BankTypesService = Annotated[BankTypes, Depends(_bank_types)]
HeartbeatsService = Annotated[Heartbeats, Depends(_heartbeats)]
