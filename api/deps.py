"""Shared request plumbing, as ``Annotated`` dependencies: the central system, its services and
reads, pagination.

A route names what it needs by type (``cs: Central``, ``page: Paging``); FastAPI builds it from
the app's central system, so no route reaches into ``request.app.state`` or the store.

Every dependency here is an ``async def``, trivial as it is: FastAPI runs a plain ``def``
dependency on a worker thread, and two such thread hops were ~5 % of a REST command's CPU
(issue #18; ``tests/api/test_dependencies_run_inline.py`` keeps it so across the app). A service
is read from the request in one step, not through :data:`Central`: each level of dependencies
is solved anew on every request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from csms.central import CentralSystem
from csms.queries import Page, Reads, jsonable, paginate
from csms.services.alerts import AlertService
from csms.services.bulk_commands import BulkCommands
from csms.services.certificates import CertificateService
from csms.services.charge_point_security import ChargePointSecurity
from csms.services.charge_points import ChargePointService
from csms.services.commands import CommandService
from csms.services.id_tags import IdTagService
from csms.services.load_groups import LoadGroupService
from csms.services.local_lists import LocalListService
from csms.services.reservations import ReservationService
from csms.services.tokens import TokenService
from csms.services.transactions import TransactionService
from csms.services.webhooks import WebhookService

__all__ = ["Alerts", "Central", "Certificates", "ChargePoints", "Commands", "Credentials", "FleetCommands", "IdTags",
           "LoadGroups", "LocalLists", "Page", "Paging", "Queries", "Reservations", "Tokens", "Transactions",
           "Webhooks", "central", "jsonable", "page_params", "paginate"]


async def central(request: Request) -> CentralSystem:
    return request.app.state.central  # type: ignore[no-any-return]


Central = Annotated[CentralSystem, Depends(central)]


async def page_params(page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
                page_size: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 50) -> Page:
    return Page(page, page_size)


Paging = Annotated[Page, Depends(page_params)]


def _service(name: str) -> Any:
    """``Depends`` on the central system's attribute ``name``, read from the request in one step."""
    async def service(request: Request) -> Any:
        return getattr(request.app.state.central, name)

    service.__name__ = f"_{name}"
    return Depends(service)


Queries = Annotated[Reads, _service("reads")]
ChargePoints = Annotated[ChargePointService, _service("charge_points")]
IdTags = Annotated[IdTagService, _service("id_tags")]
Transactions = Annotated[TransactionService, _service("transactions")]
Commands = Annotated[CommandService, _service("commands")]
FleetCommands = Annotated[BulkCommands, _service("bulk_commands")]
Tokens = Annotated[TokenService, _service("tokens")]
Reservations = Annotated[ReservationService, _service("reservations")]
LocalLists = Annotated[LocalListService, _service("local_lists")]
LoadGroups = Annotated[LoadGroupService, _service("load_groups")]
Credentials = Annotated[ChargePointSecurity, _service("credentials")]
Certificates = Annotated[CertificateService, _service("certificates")]
Webhooks = Annotated[WebhookService, _service("webhooks")]
Alerts = Annotated[AlertService, _service("alerts")]
