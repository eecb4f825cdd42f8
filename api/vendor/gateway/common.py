"""What the gateway's resource modules share: its route class and router, roles, path and
query types, and the error answers every route declares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import require
from api.errors import ApiError
from api.ui.routes import PAGES
from api.vendor.errors import VendorRoute, validation_fields
from api.vendor.gateway.schemas import MAX_ID, Error
from lockers.models import AuditEntry, Bank, BankTypeLockerType, Device, Rental, User, table
from lockers.models import BankType as BankTypeRow
from lockers.models import Locker as LockerRow
from lockers.models import LockerType as LockerTypeRow

LOCKERS = table(LockerRow)
BANKS = table(Bank)
TYPES = table(LockerTypeRow)
BANK_TYPES = table(BankTypeRow)
ASSOCIATIONS = table(BankTypeLockerType)
RENTALS = table(Rental)
DEVICES = table(Device)
USERS = table(User)
AUDIT = table(AuditEntry)
ACTIVE = RENTALS.alias("active_rental")

NOT_OPERATIONAL = ("Faulted", "Unavailable")  # bridge statuses under which a locker is not rented
DASHBOARD_LOCKERS = next(page.path for page in PAGES if page.key == "lockers")


class GatewayRoute(VendorRoute):
    """The doc's dialect: the API's own error body, but a bad request is 400 (the doc's status)."""

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
    """A router of one gateway resource: its tag, its error answers, its 400 for a bad request."""
    return APIRouter(tags=["locker gateway"], route_class=GatewayRoute, responses=ERRORS)

READ = require("operator", "viewer", "kiosk")
RENT = require("operator", "kiosk")  # rent, release, open by transaction
OPEN = require("operator", "kiosk")
CHANGE = require("operator")
ADMIN = require("admin")
HEARTBEAT = require("operator", "kiosk")

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


def engine_of(request: Request) -> AsyncEngine:
    return request.app.state.central.engine  # type: ignore[no-any-return]


