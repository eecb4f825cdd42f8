"""What a handler is given: the services it may use and the charge point it answers.

Handlers used to reach through ``conn.central.*`` for the writer, the event bus and the rest,
which tied every handler to the whole central system and every connection to it. Now the server
builds one :class:`Services` and passes it to each handler with the :class:`ChargePointLink` it
answers, so a handler's signature lists what it can touch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from common.settings import Settings
from csms.energy.manager import LoadManager
from csms.events import EventBus
from csms.services.certificates import CertificateService
from csms.services.security_events import SecurityEvents
from csms.services.transactions import TransactionService
from csms.store.writer import Writer

if TYPE_CHECKING:
    from csms.central import CentralSystem, VendorExtension
    from csms.services.provisioning import Provisioning
    from csms.store.known_201 import Known


class ChargePointLink(Protocol):
    """The per-connection state a handler reads and sets."""

    charge_point_id: str
    registration_status: str
    # since its last BootNotification on this socket: when, and the connectors (a bit each) with
    # open transactions that have not reported a status since (csms.handlers.core.status_notification)
    booted_at: datetime | None
    unreported: int
    # 2.0.1: what this socket learnt of its station's open transactions (csms.store.known_201)
    open_transactions: dict[str, Known] | None

    def vouch(self, stored: asyncio.Future[Any]) -> None:
        """The answer says ``stored`` is on disk: if its write fails, the charge point gets an
        InternalError instead, and sends the message again."""

    def after_answer(self, job: Callable[[], None]) -> None:
        """Run ``job`` once the answer to the call being handled is sent (what a handler asks of
        the charge point must not reach it before that answer)."""


@dataclass(frozen=True, slots=True)
class Services:
    """The central system's parts a handler may use (one instance, shared by all connections)."""

    engine: AsyncEngine  # reads
    writer: Writer  # every write
    events: EventBus
    transactions: TransactionService
    settings: Settings
    vendor_extensions: Mapping[str, VendorExtension]  # the live registry: filled after start
    security: SecurityEvents
    certificates: CertificateService
    provisioning: Provisioning
    energy: LoadManager  # load management: told of starts, ends, statuses, draws of members

    @classmethod
    def of(cls, central: CentralSystem) -> Services:
        return cls(central.engine, central.writer, central.events, central.transactions,
                   central.settings, central.vendor_extensions, central.security,
                   central.certificates, central.provisioning, central.energy)


Handler = Callable[[Services, ChargePointLink, dict[str, Any]], Awaitable[dict[str, Any]]]
