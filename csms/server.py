"""The OCPP-J websocket endpoint: ``ws(s)://HOST:PORT/ocpp/{chargePointId}``, subprotocol ocpp1.6.

The handshake is where identity is settled: the path and id are checked, unknown ids follow
UNKNOWN_CHARGE_POINTS, and a known charge point must connect at its security profile (0-3: Basic
auth at 1 and 2, TLS at 2, a client certificate whose CN is its id at 3; see :mod:`csms.tls`),
within the limits on wrong passwords (429 with Retry-After past them, see :mod:`csms.passwords`).
The caller's address is the TCP peer, or behind a trusted proxy what it forwarded
(:mod:`common.proxies`).
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Sequence
from http import HTTPStatus
from urllib.parse import unquote

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from common.proxies import TrustedProxies, parse_address
from common.ratelimit import RefusalLog
from common.settings import UnknownChargePoints
from common.version import __version__
from csms.central import CentralSystem, KnownChargePoint
from csms.connection import Connection
from csms.handlers.context import Services
from csms.tls import peer_common_name
from ocppj.basic_auth import credentials
from ocppj.versions import SERVED, V201, Version

log = logging.getLogger(__name__)

OFFERED = ", ".join(v.subprotocol for v in SERVED)  # newest first (ocppj.versions: the versions served)
PREFIX = "/ocpp/"
MAX_ID = 48


def charge_point_id_from_path(path: str) -> str | None:
    """The id in ``/ocpp/{id}`` (percent-decoded), or None if the path is not of that form."""
    path = path.split("?", 1)[0]
    if not path.startswith(PREFIX):
        return None
    return unquote(path[len(PREFIX):])


def valid_id(cp_id: str) -> bool:
    return 0 < len(cp_id) <= MAX_ID and cp_id.isascii() and cp_id.isprintable() and "/" not in cp_id


def _reply(connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
    """Refuse the upgrade (logged by the caller, throttled: refusals come at attack pace)."""
    return connection.respond(status, text + "\n")


def _typed(response: Response, content_type: str) -> Response:
    """``response`` with one Content-Type: ``respond`` sets text/plain, and a header assigned to
    websockets' Headers is added beside it, not in its place (clients read the first)."""
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response


def _unauthorized(connection: ServerConnection) -> Response:
    response = _reply(connection, HTTPStatus.UNAUTHORIZED,
                      "HTTP Basic authentication with the charge point password required")
    response.headers["WWW-Authenticate"] = 'Basic realm="chargebay", charset="UTF-8"'
    return response


def _too_many(connection: ServerConnection, wait: float) -> Response:
    seconds = max(1, math.ceil(wait))
    response = _reply(connection, HTTPStatus.TOO_MANY_REQUESTS,
                      f"too many wrong passwords; try again in {seconds} s")
    response.headers["Retry-After"] = str(seconds)
    return response


def _chosen(connection: ServerConnection, offered: Sequence[str]) -> Subprotocol:
    """The subprotocol :meth:`OcppServer._process_request` chose for this connection."""
    return Subprotocol(connection.chargebay_version.subprotocol)  # type: ignore[attr-defined]


class OcppServer:
    """Owns the listening socket; one :class:`Connection` per accepted charge point."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central
        self.services = Services.of(central)  # what the handlers get, one for all connections
        self.proxies = TrustedProxies(central.settings.trusted_proxies)
        self._no_credentials = RefusalLog(log)
        self._server: Server | None = None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
        """Refuse the upgrade, logged at most once per status and LOG_EVERY seconds (refusing
        costs the refused nothing: they can ask thousands of times a second). Refused
        credentials are logged apart, as :class:`~common.ratelimit.RefusalLog`."""
        self.central.throttles.log(f"refused {status.value}", log, logging.INFO,
                                   "handshake refused %s: %s", status.value, text)
        return _reply(connection, status, text)

    def client_address(self, connection: ServerConnection, request: Request) -> str:
        """The charge point's address: the peer, or what a trusted proxy says it is."""
        peer = connection.remote_address[0] if connection.remote_address else None
        return self.proxies.client(peer, request.headers.get_all("X-Forwarded-For"))

    async def _plain_http(self, connection: ServerConnection, path: str) -> Response | None:
        """``GET /health`` and ``/metrics`` on the websocket port: a websocket-only node (role
        ocpp) has no REST API, and a load balancer checks each node where it sends sockets. The
        health answer has the REST one's fields (its database: not checked here, the balancer
        asks whether this node takes sockets)."""
        if path == "/health":
            body = orjson.dumps({"status": "ok", "version": __version__, "database": "not checked",
                                 "connected_charge_points": self.central.router.local_count(),
                                 "node_id": self.central.settings.node_id})
            return _typed(connection.respond(HTTPStatus.OK, body.decode()), "application/json")
        if path == "/metrics":
            body = await self.central.exposition.render()
            return _typed(connection.respond(HTTPStatus.OK, body.decode()), CONTENT_TYPE_LATEST)
        return None

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if "upgrade" not in request.headers.get("Connection", "").lower():
            plain = await self._plain_http(connection, request.path.split("?", 1)[0])
            if plain is not None:
                return plain
        cp_id = charge_point_id_from_path(request.path)
        if cp_id is None:
            return self._refuse(connection, HTTPStatus.NOT_FOUND,
                                "OCPP endpoint is /ocpp/{chargePointId}")
        if not valid_id(cp_id):
            return self._refuse(connection, HTTPStatus.BAD_REQUEST,
                                "charge point id must be 1-48 printable ASCII characters")
        offered = [p.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in h.split(",")]
        spoken = [v for v in SERVED if v.subprotocol in offered]  # ours, newest first
        if not spoken:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST,
                                f"the websocket subprotocol must be one of: {OFFERED}")
        central = self.central
        address = self.client_address(connection, request)
        common_name = peer_common_name(connection.transport.get_extra_info("ssl_object"))
        if common_name is not None and common_name != cp_id:  # another station's certificate
            return self._below(connection, cp_id, address, "InvalidChargePointCertificate",
                               f"the client certificate's subject CN is {common_name[:48]!r}, "
                               "not the charge point id")
        connection.chargebay_address = address  # type: ignore[attr-defined]
        known = await central.lookup(cp_id)
        if known is None:
            policy = central.settings.unknown_charge_points
            if policy == UnknownChargePoints.reject:
                return self._refuse(connection, HTTPStatus.NOT_FOUND,
                                    f"unknown charge point {cp_id!r}")
            status = "Pending" if policy == UnknownChargePoints.pending else "Accepted"
            central.register(cp_id, status)
            log.info("new charge point %s registered as %s", cp_id, status)
            registration = status
        else:
            registration = known.registration_status
            if known.ocpp_version_pinned is not None:  # an operator said which version it speaks
                spoken = [v for v in spoken if v.name == known.ocpp_version_pinned]
                if not spoken:
                    return self._refuse(connection, HTTPStatus.BAD_REQUEST, "this charge point is "
                                        f"pinned to OCPP {known.ocpp_version_pinned}: offer its subprotocol")
            refusal = await self._admit(connection, request, known, address, common_name)
            if refusal is not None:
                return refusal
        connection.chargebay_registration = registration  # type: ignore[attr-defined]
        connection.chargebay_version = spoken[0]  # type: ignore[attr-defined]
        if spoken[0] is not V201 and "Sec-WebSocket-Extensions" in request.headers:
            # compression is 2.0.1's (RFC 7692, required of a CSMS there): for 1.6, not offered
            del request.headers["Sec-WebSocket-Extensions"]  # as far as the handshake sees
        return None

    def _tls(self, connection: ServerConnection, request: Request) -> bool:
        """Whether the charge point reached us over TLS: ours, or a trusted proxy's that says so
        (``X-Forwarded-Proto: https``, where TLS ends at the load balancer)."""
        if connection.transport.get_extra_info("ssl_object") is not None:
            return True
        peer = parse_address(connection.remote_address[0]) if connection.remote_address else None
        return (self.proxies.trusts(peer)
                and request.headers.get("X-Forwarded-Proto", "").strip().lower() in ("https", "wss"))

    def _below(self, connection: ServerConnection, cp_id: str, address: str, event: str,
               text: str) -> Response:
        """Refuse a connection below the charge point's security profile: 403, recorded as a
        security event and logged with the id and the address (throttled as :meth:`_refuse`)."""
        self.central.security.seen(cp_id, event, f"handshake refused: {text}", address)
        self.central.throttles.log(f"below {event}", log, logging.WARNING,
                                   "handshake of %s from %s refused 403: %s", cp_id, address, text)
        return _reply(connection, HTTPStatus.FORBIDDEN, text)

    async def _admit(self, connection: ServerConnection, request: Request, known: KnownChargePoint,
                     address: str, common_name: str | None) -> Response | None:
        """Let a known charge point in at its security profile, or refuse (recorded as a
        security event): 403 for a connection below it (no TLS at 2, no client certificate at
        3, a certificate for another id), 401 for missing or wrong Basic credentials (profiles
        1 and 2, or any charge point with a password), 429 past the guess limits. The level it
        reached promotes a pending profile upgrade (TC_083)."""
        cp_id, central = known.id, self.central
        tls = self._tls(connection, request)
        required, pending = known.security_profile, known.security_profile_pending
        certified = common_name is not None  # the CN was checked against the id before the lookup
        if certified and (required >= 3 or pending == 3 or known.password_hash is None):
            level = 3  # at profile 3 (or on its way there) the certificate is the credential
        elif required >= 3:
            return self._below(connection, cp_id, address, "InvalidChargePointCertificate",
                               "security profile 3: a client certificate is required")
        elif required == 2 and not tls:
            return self._below(connection, cp_id, address, "InvalidTLSVersion",
                               "security profile 2: connect with wss:// (TLS)")
        elif known.password_hash or required >= 1:  # a password is checked whatever else it shows
            refusal = await self._check_password(connection, request, known, address)
            if refusal is not None:
                return refusal
            level = 3 if certified else 2 if tls else 1
        else:
            level = 0
        if pending is not None and level >= pending:
            log.info("%s connected at security profile %d: its profile is %d from now on",
                     cp_id, level, pending)
            await central.charge_points.reached_profile(cp_id, pending)
        return None

    async def _check_password(self, connection: ServerConnection, request: Request,
                              known: KnownChargePoint, address: str) -> Response | None:
        cp_id, central = known.id, self.central
        password = credentials(request.headers.get("Authorization", ""), cp_id)
        if password is None or known.password_hash is None:
            self._no_credentials.refused("handshake of %s from %s refused: no Basic "
                                         "credentials for its password", cp_id, address)
            central.security.seen(cp_id, "InvalidChargePointCredentials", "handshake refused: "
                                  + ("no Basic credentials" if known.password_hash else
                                     f"security profile {known.security_profile} and no password set"),
                                  address)
            return _unauthorized(connection)
        verdict = await central.passwords.authenticate(cp_id, address, password, known.password_hash,
                                                       known.password_pending_hash)
        if verdict.retry_after is not None:
            return _too_many(connection, verdict.retry_after)
        if not verdict.ok:
            central.security.seen(cp_id, "InvalidChargePointCredentials",
                                  "handshake refused: wrong password", address)
            return _unauthorized(connection)
        if known.password_pending_hash is not None:  # which one it holds is settled now
            log.warning("%s connected with its %s password: %s", cp_id,
                        "new" if verdict.pending else "old",
                        "the unanswered rotation took, the new one is its password" if verdict.pending
                        else "the unanswered rotation did not take, the new one is dropped")
            await central.charge_points.settle_password(cp_id, known.password_pending_hash, verdict.pending)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        central = self.central
        cp_id = charge_point_id_from_path(ws.request.path)  # type: ignore[union-attr]
        assert cp_id is not None
        version: Version = ws.chargebay_version  # type: ignore[attr-defined]
        conn = Connection(cp_id, ws, central, ws.chargebay_registration,  # type: ignore[attr-defined]
                          self.services, version)
        address = ws.chargebay_address  # type: ignore[attr-defined]
        old = central.router.attach(conn)
        if old is not None:
            log.warning("%s reconnected from %s; closing its previous connection", cp_id, address)
            old.replace("replaced by a newer connection")
        central.set_online(cp_id, True, version.name)
        central.energy.connected(cp_id)  # a load group member is reachable again: its limits go out
        central.events.publish("connected", cp_id, ocpp_version=version.name)
        log.info("%s connected from %s (OCPP %s)", cp_id, address, version.name)
        try:
            await conn.serve()
        finally:
            conn.drop("the charge point disconnected")
            if central.router.detach(conn):
                central.set_online(cp_id, False)
                central.events.publish("disconnected", cp_id, code=ws.close_code,
                                       reason=ws.close_reason)
            log.info("%s disconnected (%s %s)", cp_id, ws.close_code, ws.close_reason or "")

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> Server:
        settings = self.central.settings
        self._server = await serve(
            self._handle, host, port,
            subprotocols=[v.subprotocol for v in SERVED],  # type: ignore[misc]
            # the version _process_request chose (newest both speak, or the pinned one)
            select_subprotocol=_chosen,
            process_request=self._process_request,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_interval,
            # A dead peer never completes the closing handshake: don't wait 10 s for it.
            close_timeout=min(settings.ping_interval, 5.0),
            max_size=settings.max_frame_bytes,
            max_queue=4,
            # permessage-deflate for 2.0.1 connections only (_process_request hides the offer of
            # others), zlib memLevel 2 and a 1 KiB window for what we send; for what the station
            # sends 1 KiB too when it offers client_max_window_bits (RFC 7692 lets a server ask it
            # only then), else its own, up to 32 KiB. OCPP frames are small, and a fleet holds one
            # inflater and one deflater per connection (bench/compression_rss.py)
            compression=None,
            extensions=[ServerPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10,
                                                       compress_settings={"memLevel": 2})],
            ssl=ssl_context,
            server_header="chargebay",
        )
        return self._server

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]  # type: ignore[no-any-return]

    async def stop(self) -> None:
        """Close every socket with 1001 (going away) and wait for the handlers to finish."""
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
