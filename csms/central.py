"""The central system as a service: the store, the router, the event bus and the command service.

``api`` and the ``serve`` command build one of these and hand it to the websocket server.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from common.outbound import OutboundPolicy
from common.ratelimit import Throttles
from common.settings import Settings
from csms.alerts.evaluator import AlertEvaluator, groups_over_limit
from csms.alerts.mailer import Mailer, Smtp
from csms.ca import CertificateAuthority, LocalCA
from csms.callbacks import Callbacks
from csms.energy.link import CentralLink
from csms.energy.manager import LoadManager
from csms.events import EventBus
from csms.exposition import Exposition
from csms.passwords import PasswordChecker
from csms.queries import Reads
from csms.queries.gauges import GaugeQueries
from csms.rejected import RejectedFrames
from csms.routing import LocalRouter, Router
from csms.services.alerts import AlertService
from csms.services.bulk_commands import BulkCommands
from csms.services.certificates import CertificateService
from csms.services.charge_point_security import ChargePointSecurity
from csms.services.charge_points import ChargePointService
from csms.services.command_effects import CommandEffects
from csms.services.commands import CommandService
from csms.services.id_tags import IdTagService
from csms.services.load_groups import LoadGroupService
from csms.services.local_lists import LocalListService
from csms.services.provisioning import Provisioning
from csms.services.reservations import ReservationService
from csms.services.security_events import SecurityEvents
from csms.services.tokens import TokenService
from csms.services.transactions import TransactionService
from csms.services.transport import Transport
from csms.services.webhooks import WebhookService
from csms.store.message_log import Indexer
from csms.store.models import ChargePoint, table
from csms.store.retention import prune_expired
from csms.store.writer import Writer
from csms.timeutil import now_utc
from csms.tls import Loaded, ServerTls
from csms.webhooks import Dispatcher, Retry

log = logging.getLogger(__name__)
DRAIN_S = 5.0  # at stop, how long commands sent without waiting may take to be stored
_CP = table(ChargePoint)
LOG_EVERY = 10.0  # seconds between two lines of one kind a peer can cause per frame or handshake
INDEX_EVERY = 10.0  # seconds between two moves of logged frames into the log's index
FIRST_PRUNE = 60.0  # seconds from start to the first pruning (at most): a node that restarts
# more often than the prune interval still prunes, and not in the middle of its reconnect storm


VendorExtension = Callable[[str, str | None, str | None], Awaitable[tuple[str, str | None]]]


@dataclass(slots=True, frozen=True)
class KnownChargePoint:  # its fields in _KNOWN's order
    """What the handshake needs to know about a charge point."""

    id: str
    registration_status: str
    password_hash: str | None
    security_profile: int = 0
    security_profile_pending: int | None = None
    password_pending_hash: str | None = None  # a rotation never answered (csms.server settles it)
    ocpp_version_pinned: str | None = None  # the OCPP version it must connect with, if an operator said
    ocpp_version: str | None = None  # the version it connected with last (what commands are sent in)


_KNOWN = select(_CP.c.id, _CP.c.registration_status, _CP.c.password_hash, _CP.c.security_profile,
                _CP.c.security_profile_pending, _CP.c.password_pending_hash, _CP.c.ocpp_version_pinned,
                _CP.c.ocpp_version)
PRELOAD = 500_000  # charge points known from the start (more are read at their first handshake)


class CentralSystem:
    def __init__(self, settings: Settings, engine: AsyncEngine, router: Router | None = None,
                 events: EventBus | None = None, write_engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine  # reads
        self.writer = Writer(write_engine or engine)
        self.indexer = Indexer(self.writer)  # the message log's index, filled in batches
        self.durable_answers = settings.durable_answers  # read on every frame
        self.router: Router = router or LocalRouter()
        self.events = events or EventBus()
        self.callbacks = Callbacks(self.writer, OutboundPolicy(settings.outbound_allow))
        # every event published here, to the webhooks that want it (csms.webhooks); one guard
        # for every URL a client names
        self.deliveries = Dispatcher(engine, self.writer, self.events, self.callbacks.policy, Retry(
            settings.webhook_attempts, settings.webhook_backoff, settings.webhook_timeout))
        self.webhooks = WebhookService(self.writer, self.callbacks.policy, self.deliveries, self.events)
        # What the REST API asks of the central system: its services (csms.services) and reads.
        self.charge_points = ChargePointService(self.writer, self.router, self.forget, self.transport)
        self.commands = CommandService(self.router, self.writer, self.events, settings.call_timeout,
                                       self.callbacks, self.lookup,
                                       CommandEffects(engine, self.writer, self.charge_points))
        self.bulk_commands = BulkCommands(self.commands)
        self.transactions = TransactionService(engine, self.writer, self.events,
                                               settings.stale_transaction_after,
                                               settings.accept_unknown_id_tags)
        self.security = SecurityEvents(self.writer, self.events)
        self.reservations = ReservationService(engine, self.writer, self.commands)
        # The CA that signs CSRs (csms.ca: a LocalCA from the files, or any other set here) and
        # the websocket port's TLS (csms.tls), both reloaded from their files by reload_tls().
        self.ca: CertificateAuthority | None = None
        self.certificates = CertificateService(self.writer, self.commands, self.security, lambda: self.ca)
        rsa = (settings.tls_rsa_cert, settings.tls_rsa_key or settings.tls_rsa_cert) if settings.tls_rsa_cert else None
        self.tls = (ServerTls(settings.tls_cert, settings.tls_key or settings.tls_cert,
                              settings.tls_client_ca, rsa) if settings.tls_cert else None)
        self.local_lists = LocalListService(engine, self.commands)
        self.provisioning = Provisioning(engine, self.commands, settings.base_report_on_boot or None)
        self.credentials = ChargePointSecurity(engine, self.commands, self.transport)
        self.id_tags = IdTagService(self.writer, self.transactions.tags, self.events)
        self.tokens = TokenService(engine)
        self.reads = Reads(engine, self.writer, settings.stuck_transaction_after)
        # Load management (csms.energy): the allocator, tied to commands, store and events.
        self.load_link = CentralLink(self.reads.load_groups, self.commands, self.writer, self.events)
        self.energy = LoadManager(self.load_link.read_layout, self.load_link.read_open, self.load_link.send,
                                  self.load_link.record, period=settings.load_period,
                                  lease=settings.load_lease, clear=self.load_link.clear)
        self.load_link.manager = self.energy
        self.transactions.stop_listeners.append(self.energy.ended)
        self.load_groups = LoadGroupService(self.writer, self.reads.load_groups, self.energy,
                                            clustered=self._clustered)
        # Alerts (csms.alerts): rules evaluated on a schedule (alert_evaluator.evaluate() runs one
        # now), announced as events (so by the webhooks) and e-mailed, retried as webhooks are
        self.mailer = Mailer(Smtp.of(settings), Retry(settings.webhook_attempts, settings.webhook_backoff))
        self.alerts = AlertService(self.writer, self.events)
        self.alert_evaluator = AlertEvaluator(engine, self.writer, self.reads.network, self.events, self.mailer,
                                              lambda now: groups_over_limit(self.energy, now))
        self.passwords = PasswordChecker(settings)
        # Lines a charge point can cause per frame or per handshake, at most one of a kind per
        # LOG_EVERY seconds (common.ratelimit); what the message log keeps of rejected frames.
        self.throttles = Throttles(LOG_EVERY)
        # GET /metrics on either port: the counters, and the fleet's gauges read at each scrape
        self.exposition = Exposition(GaugeQueries(engine), lambda: self.energy.layout, self.throttles)
        self.rejected = RejectedFrames(settings.rejected_frames_per_minute,
                                       settings.rejected_frame_keep, self.throttles)
        # Outbound message ids: unique per process, short (OCPP-J allows 36 characters).
        self.node_prefix = secrets.token_hex(3) + "-"
        # Handshake facts per charge point, so a reconnect storm does not read the database for
        # each socket. Whatever changes them (the REST API) calls forget().
        self._known: dict[str, KnownChargePoint] = {}
        self._scheduler = AsyncIOScheduler()
        self._follower: asyncio.Task[None] | None = None
        # DataTransfer from charge points by vendorId: (charge point, messageId, data) ->
        # (status, data). Other packages plug their OCPP extensions in here (the locker sites
        # register vendorId "chargebay"), so the central system never imports them.
        self.vendor_extensions: dict[str, VendorExtension] = {}

    def transport(self) -> Transport:
        """What the websocket port offers: TLS here or at a trusted proxy; client certificates."""
        return Transport(self.tls is not None or bool(self.settings.trusted_proxies),
                         self.tls is not None and self.tls.mutual)

    def load_ca(self) -> None:
        """Use the CA files when both exist (``chargebay ca init`` makes them); a CA plugged in
        as :attr:`ca` (not a :class:`LocalCA`) is kept."""
        if self.ca is not None and not isinstance(self.ca, LocalCA):
            return
        cert, key = self.settings.ca_cert, self.settings.ca_key
        if cert is not None and key is not None and cert.exists() and key.exists():
            self.ca = LocalCA(cert, key, self.settings.certificate_days)
            log.info("CSRs are signed by the CA in %s", cert)

    def reload_tls(self) -> Loaded | None:
        """Load the TLS files and the CA again (SIGHUP, the REST call): the next handshake uses
        them, no open connection is dropped. A file that does not load raises; the old stays."""
        loaded = self.tls.reload() if self.tls is not None else None  # a broken CA file stops no rotation
        if self.settings.ca_cert is not None and self.settings.ca_cert.exists():
            self.load_ca()
        return loaded

    async def start(self) -> None:
        # Schemas compile on first use (~10 ms each): compiling all ~180 of both versions here
        # held every start for 1.7 s, most of a restart's time before the first socket is served.
        self.load_ca()
        self.writer.start()
        # A process that died left its charge points marked online; none is connected to us yet.
        await self.writer.run(lambda c: c.execute(
            update(_CP).where(_CP.c.online.is_(True), _CP.c.node_id == self.settings.node_id)
            .values(online=False)))
        if await self._clustered():
            self._follower = asyncio.create_task(self._follow_changes(), name="follow-changes")
            self._scheduler.add_job(self.sweep_dead_nodes, "interval",
                                    seconds=self.settings.registry_ttl, max_instances=1,
                                    coalesce=True)
        await self._preload()
        await self.transactions.preload()
        self.deliveries.start()
        self.mailer.start()
        await self.energy.start()
        if self.energy.layout.groups and await self._clustered():
            log.warning("load groups are defined, but load management sees only the sessions of the "
                        "charge points connected to this node: on a cluster their limits do not hold")
        if self.settings.stale_transaction_after > 0:
            self._scheduler.add_job(self.transactions.sweep, "interval",
                                    seconds=self.settings.stale_sweep_interval, max_instances=1,
                                    coalesce=True)
        # The message log's index is filled in sorted batches (csms.store.message_log); every
        # node moves, each pending frame is moved once.
        self._scheduler.add_job(self._index_job, "interval", seconds=INDEX_EVERY,
                                max_instances=1, coalesce=True, name="CentralSystem.index_messages")
        if self.settings.message_retention_days > 0:  # every node prunes (csms.store.retention)
            interval = self.settings.message_prune_interval
            self._scheduler.add_job(
                self.prune_messages, "interval", seconds=interval, max_instances=1, coalesce=True,
                next_run_time=now_utc() + timedelta(seconds=min(interval, FIRST_PRUNE)))
        if self.settings.alert_interval > 0:  # every node evaluates; an alert opens once (csms.alerts)
            self._scheduler.add_job(self.alert_evaluator.run, "interval", seconds=self.settings.alert_interval,
                                    max_instances=1, coalesce=True)
        if self._scheduler.get_jobs():
            self._scheduler.start()

    async def stop(self) -> None:
        await self.provisioning.stop()
        if self._follower is not None:
            self._follower.cancel()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.indexer.stop()
        await self.energy.close()
        await self.commands.drain(DRAIN_S)
        await self.deliveries.close()
        await self.mailer.close()
        await self.writer.close()

    async def sweep_dead_nodes(self) -> int:
        """Mark offline the charge points that dead nodes left marked online (a SIGKILL, a lost
        machine). Those that reconnected elsewhere were re-marked by their new node already."""
        live = await self.router.live_nodes()
        if live is None:
            return 0
        live.add(self.settings.node_id)
        result = await self.writer.run(lambda c: c.execute(
            update(_CP).where(_CP.c.online.is_(True), _CP.c.node_id.not_in(live))
            .values(online=False)))
        if result.rowcount:
            log.warning("%d charge point(s) of dead nodes marked offline", result.rowcount)
        return int(result.rowcount)

    async def _index_job(self) -> None:
        """The scheduled job (a coroutine: the scheduler runs plain functions on a thread)."""
        self.indexer.start()

    async def index_messages(self) -> int:
        """Move the frames logged since the last run into the message log's index (the job)."""
        return await self.indexer.run()

    async def prune_messages(self) -> int:
        """Delete the message log's frames past their retention (the scheduled job)."""
        return await prune_expired(self.writer, self.settings.message_retention_days)

    async def _clustered(self) -> bool:
        """Whether this node is one of several (a router that knows of nodes): the nodes then
        follow each other's changes, and load management is refused."""
        return await self.router.live_nodes() is not None

    async def database_ok(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            log.exception("database check failed")
            return False

    async def lookup(self, charge_point_id: str, fresh: bool = False) -> KnownChargePoint | None:
        """What the handshake and the commands need to know of a charge point, cached per node
        (``fresh``: read from the store now, and the cache brought up to date)."""
        cached = None if fresh else self._known.get(charge_point_id)
        if cached is not None:
            return cached
        async with self.engine.connect() as conn:
            row = (await conn.execute(_KNOWN.where(_CP.c.id == charge_point_id))).first()
        if row is None:
            return None
        known = self._known[charge_point_id] = KnownChargePoint(*row)
        return known

    async def _preload(self) -> None:
        """Know every charge point before the first handshake: after a restart 10,000 stations
        reconnect at once, and each would otherwise cost a read (issue #18's reconnect storm)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_KNOWN.limit(PRELOAD))).all()
        for row in rows:
            self._known.setdefault(row.id, KnownChargePoint(*row))

    def forget(self, charge_point_id: str, registration_status: str | None = None) -> None:
        """Drop the cached handshake facts (after a change made outside the central system), here
        and, through the event bus, at every other node; a new registration status also applies
        to the live connection wherever it is."""
        self._apply_change(charge_point_id, registration_status)
        self.events.publish("charge_point_changed", charge_point_id,
                            registration_status=registration_status, node_id=self.settings.node_id)

    def _apply_change(self, charge_point_id: str, registration_status: str | None) -> None:
        self._known.pop(charge_point_id, None)
        conn = self.router.local(charge_point_id)
        if conn is not None and registration_status is not None:
            conn.registration_status = registration_status

    async def _follow_changes(self) -> None:
        """Apply the changes made at other nodes (a cluster's handshake caches stay true)."""
        async with self.events.subscribe() as queue:
            while (event := await queue.get()) is not None:
                if (event["type"] == "charge_point_changed"
                        and event.get("node_id") != self.settings.node_id):
                    self._apply_change(event["charge_point_id"], event.get("registration_status"))

    def register(self, charge_point_id: str, registration_status: str) -> None:
        """Create the row of a charge point seen for the first time (a racing twin is harmless).

        Queued, not awaited: the writer keeps order, so the row exists before anything the
        charge point sends next is written.
        """
        self.writer.create(_CP, {"id": charge_point_id, "registration_status": registration_status,
                                 "online": False, "created_at": now_utc()})
        self._known[charge_point_id] = KnownChargePoint(charge_point_id, registration_status, None)

    def set_online(self, charge_point_id: str, online: bool, version: str | None = None) -> None:
        """Queue the online flag, and the OCPP version a connect negotiated (not awaited: a
        connect storm must not wait on the disk).

        Going offline only applies while the row still names this node: with several nodes, the
        charge point may already be online at another one, whose write can land first.
        """
        values: dict[str, object] = {"id": charge_point_id, "online": online, "last_seen": now_utc(),
                                     "node_id": self.settings.node_id}
        if version is not None:
            values["ocpp_version"] = version
            known = self._known.get(charge_point_id)
            if known is not None and known.ocpp_version != version:
                self._known[charge_point_id] = replace(known, ocpp_version=version)
        self.writer.update(_CP, "id" if online else ("id", "node_id"), values)


    async def set_registration(self, charge_point_id: str, status: str) -> bool:
        """Accept (or reject) a charge point; a connected one answers its next boot accordingly."""
        return await self.charge_points.set_registration(charge_point_id, status)
