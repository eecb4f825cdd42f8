"""Shared request plumbing, as ``Annotated`` dependencies: the central system, its services and
reads, pagination.

A route names what it needs by type (``cs: Central``, ``page: Paging``); FastAPI builds it from
the app's central system, so no route reaches into ``request.app.state`` or the store.

Every dependency here is an ``async def``, trivial as it is: FastAPI runs a plain ``def``
dependency on a worker thread, and two such thread hops were ~5 % of a REST command's CPU
(issue #18; ``tests/api/test_dependencies_run_inline.py`` keeps it so across the app).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from csms.central import CentralSystem
from csms.queries import Page, Reads, jsonable, paginate
from csms.services.bulk_commands import BulkCommands
from csms.services.certificates import CertificateService
from csms.services.charge_point_security import ChargePointSecurity
from csms.services.charge_points import ChargePointService
from csms.services.commands import CommandService
from csms.services.id_tags import IdTagService
from csms.services.local_lists import LocalListService
from csms.services.reservations import ReservationService
from csms.services.tokens import TokenService
from csms.services.transactions import TransactionService

__all__ = ["Central", "Certificates", "ChargePoints", "Commands", "Credentials", "FleetCommands", "IdTags",
           "LocalLists", "Page", "Paging", "Queries", "Reservations", "Tokens", "Transactions", "central", "jsonable",
           "page_params", "paginate"]


async def central(request: Request) -> CentralSystem:
    return request.app.state.central  # type: ignore[no-any-return]


Central = Annotated[CentralSystem, Depends(central)]


async def page_params(page: Annotated[int, Query(ge=1, description="Page number, from 1.")] = 1,
                page_size: Annotated[int, Query(ge=1, le=1000, description="Items per page.")] = 50) -> Page:
    return Page(page, page_size)


Paging = Annotated[Page, Depends(page_params)]


async def _reads(cs: Central) -> Reads:
    return cs.reads


async def _charge_points(cs: Central) -> ChargePointService:
    return cs.charge_points


async def _id_tags(cs: Central) -> IdTagService:
    return cs.id_tags


async def _transactions(cs: Central) -> TransactionService:
    return cs.transactions


async def _commands(cs: Central) -> CommandService:
    return cs.commands


async def _bulk_commands(cs: Central) -> BulkCommands:
    return cs.bulk_commands


async def _tokens(cs: Central) -> TokenService:
    return cs.tokens


Queries = Annotated[Reads, Depends(_reads)]
ChargePoints = Annotated[ChargePointService, Depends(_charge_points)]
IdTags = Annotated[IdTagService, Depends(_id_tags)]
Transactions = Annotated[TransactionService, Depends(_transactions)]
Commands = Annotated[CommandService, Depends(_commands)]
FleetCommands = Annotated[BulkCommands, Depends(_bulk_commands)]
Tokens = Annotated[TokenService, Depends(_tokens)]


async def _reservations(cs: Central) -> ReservationService:
    return cs.reservations


async def _local_lists(cs: Central) -> LocalListService:
    return cs.local_lists


async def _credentials(cs: Central) -> ChargePointSecurity:
    return cs.credentials


async def _certificates(cs: Central) -> CertificateService:
    return cs.certificates


Reservations = Annotated[ReservationService, Depends(_reservations)]
LocalLists = Annotated[LocalListService, Depends(_local_lists)]
Credentials = Annotated[ChargePointSecurity, Depends(_credentials)]
Certificates = Annotated[CertificateService, Depends(_certificates)]
