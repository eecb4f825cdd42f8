"""Read queries of the central system's store, one module per kind of record.

The REST API reads only through these: none of its modules runs SQL or knows a table. A read that
must see every frame handled so far (the message log, a transaction's meter values) commits the
writer's queue first itself, so no caller has to remember to.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from csms.queries.alerts import AlertQueries
from csms.queries.charge_points import ChargePointQueries
from csms.queries.commands import CommandQueries
from csms.queries.id_tags import IdTagQueries
from csms.queries.load_groups import LoadGroupQueries
from csms.queries.network import NetworkQueries
from csms.queries.pages import Page, jsonable, paginate
from csms.queries.security import SecurityQueries
from csms.queries.tokens import TokenQueries
from csms.queries.transactions import TransactionFilter, TransactionQueries
from csms.queries.webhooks import WebhookQueries
from csms.store.writer import Writer

__all__ = ["Page", "Reads", "TransactionFilter", "jsonable", "paginate"]


class Reads:
    """Every read query, over the read engine (and the writer, for reads that flush it)."""

    def __init__(self, engine: AsyncEngine, writer: Writer, stuck_after: float = 1800.0) -> None:
        self.charge_points = ChargePointQueries(engine, writer)
        self.id_tags = IdTagQueries(engine)
        self.transactions = TransactionQueries(engine, writer)
        self.commands = CommandQueries(engine)
        self.tokens = TokenQueries(engine)
        self.security = SecurityQueries(engine, writer)
        self.load_groups = LoadGroupQueries(engine)
        self.webhooks = WebhookQueries(engine, writer)
        self.network = NetworkQueries(engine, stuck_after)
        self.alerts = AlertQueries(engine)
