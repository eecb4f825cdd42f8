"""The whole stack in one process and one event loop: CSMS websockets + REST API + store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.auth import bootstrap_admin
from chargebay.banner import banner, when_quiet
from chargebay.demo import demo_locker, start_demo
from chargebay.migrate import upgrade
from charger_sim.runtime import ProcessProvider
from charger_sim.service import SimService
from common.db import create_engine
from common.heap import settle as settle_heap
from common.limits import raise_open_files_limit
from common.settings import Role, Settings, warn_of_earlier_state
from csms.central import CentralSystem
from csms.cluster import Cluster
from csms.server import OcppServer
from locker_bridge.config import BridgeConfig
from locker_bridge.config import load as load_bridge_config
from locker_bridge.service import BridgeService
from lockers.ocpp_bays import wire as wire_sites
from lockers.service import SiteService

log = logging.getLogger("chargebay")
# the single writer checkpoints SQLite's log every this many pages (see common.db.create_engine)
WRITER_WAL_PAGES = 10_000


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the stack shuts everything down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Stack:
    """What :func:`running` started; ``ocpp`` is None in an api-only node, ``app`` in an
    ocpp-only one."""

    central: CentralSystem
    ocpp: OcppServer | None
    app: FastAPI | None
    sim: SimService | None
    host: str
    ws_port: int
    http_port: int
    generated_token: str | None
    bridge: BridgeService | None = None
    sites: SiteService | None = None
    cluster: Cluster | None = None

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.central.settings.tls_cert else "ws"
        return f"{scheme}://{self.host}:{self.ws_port}/ocpp"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


def _listen(host: str, port: int) -> socket.socket:
    """The API's listening socket. Created with IPPROTO_TCP explicitly: asyncio only sets
    TCP_NODELAY on sockets that say so, and without it every response waits ~40 ms for a
    delayed ACK (headers and body go out as two writes)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _ocpp_url(settings: Settings, ocpp: OcppServer | None) -> str:
    """Where this process's own charge points (simulator, embedded bridge) connect."""
    if settings.ocpp_url:
        return settings.ocpp_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL (it is parsed now)
    scheme = "wss" if settings.tls_cert else "ws"
    return f"{scheme}://{host}:{ocpp.port if ocpp else settings.ws_port}/ocpp"


async def _start_api(app: FastAPI, host: str, port: int
                     ) -> tuple[_EmbeddedServer, asyncio.Task[None], int]:
    sock = _listen(host, port)
    # proxy_headers off: uvicorn would trust X-Forwarded-For from loopback; the app's own
    # middleware trusts only CHARGEBAY_TRUSTED_PROXIES (api.middleware)
    server = _EmbeddedServer(uvicorn.Config(app, lifespan="off", access_log=False, log_config=None,
                                            ws="none", timeout_graceful_shutdown=5,
                                            proxy_headers=False))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


@contextlib.asynccontextmanager
async def running(settings: Settings, migrate: bool = True, settle: bool = False) -> AsyncIterator[Stack]:
    """Migrate, start what ``settings.role`` asks for, yield, then shut down cleanly in order.

    Shutdown closes every charge point socket with 1001, stops the API, and commits every
    pending write before the database is let go.
    """
    warn_of_earlier_state(settings, log)
    if migrate:
        await upgrade(settings.database_url)
    serves_ocpp = settings.role != Role.api
    serves_api = settings.role != Role.ocpp
    if settings.role == Role.api and not settings.redis_url:
        log.warning("role api without CHARGEBAY_REDIS_URL: no charge point can be reached")
    engine = create_engine(settings.database_url)
    # The writer's connections are only used inside engine.begin() (committed or rolled back
    # there): the pool's rollback on return was one more round trip to the driver per commit.
    write_engine = create_engine(settings.database_url, cache_kib=65536, wal_pages=WRITER_WAL_PAGES,
                                 pool_size=2, max_overflow=0, pool_reset_on_return=None)
    cluster: Cluster | None = None
    if settings.redis_url:
        cluster = Cluster(settings.redis_url, settings.node_id, settings.registry_ttl)
        await cluster.start()
    central = CentralSystem(settings, engine, write_engine=write_engine,
                            router=cluster.router if cluster else None,
                            events=cluster.events if cluster else None)
    await central.start()
    ocpp = OcppServer(central) if serves_ocpp else None
    provider = ProcessProvider(settings.sim_workers, str(settings.sim_dir))
    api_task: asyncio.Task[None] | None = None
    api_server: _EmbeddedServer | None = None
    app: FastAPI | None = None
    sim: SimService | None = None
    bridge: BridgeService | None = None
    bridge_config: BridgeConfig | None = None
    http_port = 0
    token: str | None = None
    demo = contextlib.AsyncExitStack()
    # every node keeps the sites, wired before the first socket: the bays of a bridge elsewhere
    # report to the node that holds their socket, and any node's API may open a door through any
    # bridge
    sites = SiteService(engine)
    wire_sites(central, sites)
    try:
        if settle:  # the last moment without a socket: what is frozen is never collected (common.heap)
            settle_heap()
        if ocpp is not None:
            await ocpp.start(settings.host, settings.ws_port,
                             central.tls.context if central.tls else None)
        own_url = _ocpp_url(settings, ocpp)
        if serves_api:
            token = await bootstrap_admin(engine, settings.api_token)
            sim = SimService(engine, provider, own_url, settings.outbound_allow)
            if settings.demo:
                await start_demo(central, sim)
            resumed = await sim.resume()
            if resumed:
                log.info("simulator: %d charger runtime(s) resumed", resumed)
        if settings.bridge_config:
            bridge_config = load_bridge_config(settings.bridge_config)
        elif settings.demo:
            bridge_config = await demo.enter_async_context(
                demo_locker(settings.data_dir / "demo-locker"))
        if bridge_config is not None:
            # embedded, the bridge's bays are charge points of this very CSMS
            bridge = BridgeService(bridge_config, csms_url=own_url, data_dir=settings.data_dir)
            sites.attach(bridge)  # before it starts: no door event is missed
            await bridge.start()
            await sites.sync_bridge()
        if serves_api:
            assert sim is not None
            app = create_app(central, sim, bridge, sites)
            api_server, api_task, http_port = await _start_api(app, settings.host, settings.http_port)
        yield Stack(central, ocpp, app, sim, settings.host, ocpp.port if ocpp else 0, http_port,
                    token, bridge, sites, cluster)
    finally:
        central.events.close()  # ends open event streams so the API can stop
        if api_server is not None and api_task is not None:
            api_server.should_exit = True
            await api_task
        await provider.close()
        await sites.close()
        if bridge is not None:
            await bridge.close()
        await demo.aclose()
        if ocpp is not None:
            await ocpp.stop()
        await central.stop()
        if cluster is not None:
            await cluster.close()
        await engine.dispose()
        await write_engine.dispose()


def _reload_tls(stack: Stack) -> None:
    """SIGHUP: the TLS certificate, key, client CA and the CA again (csms.tls); a file that does
    not load is logged and the old ones stay in force."""
    try:
        stack.central.reload_tls()
    except (OSError, ValueError, ssl.SSLError) as exc:
        log.error("SIGHUP: TLS not reloaded, the previous certificates stay in force: %s", exc)


GIL_SWITCH_S = 0.0005


async def serve_until_signalled(settings: Settings) -> None:
    """Run the stack until SIGINT or SIGTERM."""
    raise_open_files_limit()
    # Every statement crosses to a database driver thread and back; while the event loop is busy
    # (thousands of sockets) each crossing waits for the GIL, up to the switch interval (5 ms by
    # default), twice. A writer operation of five statements then took ~33 ms under a 10,000-station
    # fleet, and operations run one after another (bench/sim_fleet.py, issue #18).
    sys.setswitchinterval(GIL_SWITCH_S)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings, settle=True) as stack:
        loop.add_signal_handler(signal.SIGHUP, _reload_tls, stack)
        if stack.ocpp is not None:
            log.info("OCPP central system on %s/{chargePointId} (subprotocols ocpp1.6, ocpp2.0.1)", stack.ws_url)
        if stack.app is not None:
            log.info("REST API on %s (OpenAPI at %s/docs)", stack.http_url, stack.http_url)
        await when_quiet()  # after the start-up lines, or it scrolls away among them
        print(banner(http_url=stack.http_url if stack.app is not None else None,
                     ws_url=stack.ws_url if stack.ocpp is not None else None,
                     database_url=settings.database_url, generated_token=stack.generated_token,
                     token_from_settings=bool(settings.api_token), data_dir=settings.data_dir), flush=True)
        await stop.wait()
        log.info("shutting down: closing %d charge point connections",
                 stack.central.router.local_count())
    log.info("stopped")
