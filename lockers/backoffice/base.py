"""What every back-office service is built with: the database and the site (the bridge)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from lockers.service import SiteService


class BackOfficeService:
    """A back-office service, built per request by the REST layer (cheap: it holds two
    references). The site is there for the records the bridge drives (banks, lockers, locker
    types): one truth, so a change here reaches the bridge at once."""

    def __init__(self, engine: AsyncEngine, site: SiteService) -> None:
        self.engine = engine
        self.site = site
