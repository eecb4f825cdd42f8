"""What the locker-domain routes share: the site service and the actor name.

Scoping (a kiosk sees only its own device's lockers) lives with the queries, in
:mod:`lockers.scope`; it is re-exported here for the routes not yet moved onto services.
"""

from __future__ import annotations

from fastapi import Request

from api.auth import Caller
from lockers.scope import locker_or_404, scoped
from lockers.service import SiteService

__all__ = ["actor", "locker_or_404", "scoped", "site_service", "sites"]


def sites(request: Request) -> SiteService:
    return request.app.state.sites  # type: ignore[no-any-return]


async def site_service(request: Request) -> SiteService:
    """:func:`sites` as a dependency: an ``async def`` runs inline, where FastAPI runs a plain
    ``def`` dependency on a worker thread (a thread hop per request for an attribute read)."""
    return sites(request)


def actor(caller: Caller) -> str:
    """The audit log's "who": the token's name (a login's token is named after its user)."""
    return caller.name
