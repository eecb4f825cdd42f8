"""The websocket handshake: path, id, subprotocol, unknown charge points, Basic auth, TLS,
takeover by a newer connection and detection of a dead peer.

Named after the OCPP 1.6 compliance test cases (OCTT, system under test: Central System) where
one fits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from chargebay.stack import Stack
from common.passwords import hash_password
from csms.store.models import ChargePoint
from tests.conftest import ADMIN_TOKEN
from tests.ocpp_client import connect as connect_cp

CP = ChargePoint.__table__
STEP = 2.0  # seconds any single exchange may take
TEST_BUDGET = 8.0  # hard bound on a whole test body; each runs well under 3 s
BOOT = call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall-22")


# -- fixtures and helpers ---------------------------------------------------------------------
def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway EC certificate for 127.0.0.1, made with the openssl command line."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=20)
    return cert, key


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Per-test settings via indirect parametrisation; ``{"self_signed_tls": True}`` makes a
    certificate in tmp_path and serves wss:// with it."""
    overrides = dict(getattr(request, "param", {}))
    if overrides.pop("self_signed_tls", False):
        cert, key = self_signed_certificate(tmp_path)
        overrides.update(tls_cert=cert, tls_key=key)
    return overrides


def root_url(stack: Stack) -> str:
    return stack.ws_url.rsplit("/ocpp", 1)[0]


async def refused(url: str, **kwargs: Any) -> Response:
    """Connect and expect the HTTP upgrade to be refused; return the HTTP response."""
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    with pytest.raises(InvalidStatus) as info:
        async with asyncio.timeout(STEP):
            async with connect(url, open_timeout=STEP, close_timeout=1, **kwargs):
                pass
    return info.value.response


@contextlib.asynccontextmanager
async def raw_client(stack: Stack, cp_id: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(f"{stack.ws_url}/{cp_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       open_timeout=STEP, close_timeout=1, ping_interval=None, **kwargs) as ws:
        assert ws.subprotocol == "ocpp1.6"
        yield ws


async def heartbeat(ws: ClientConnection, uid: str) -> None:
    await ws.send(orjson.dumps([2, uid, "Heartbeat", {}]).decode())
    async with asyncio.timeout(STEP):
        reply = orjson.loads(await ws.recv())
    assert reply[:2] == [3, uid], reply


async def charge_point_row(stack: Stack, cp_id: str) -> Any:
    await stack.central.writer.flush()
    async with stack.central.engine.connect() as conn:
        return (await conn.execute(select(CP).where(CP.c.id == cp_id))).first()


async def wait_online(stack: Stack, cp_id: str, online: bool, within: float) -> float:
    """Poll the row until ``online`` matches; return how long it took."""
    started = time.monotonic()
    async with asyncio.timeout(within):
        while True:
            row = await charge_point_row(stack, cp_id)
            if row is not None and row.online == online:
                return time.monotonic() - started
            await asyncio.sleep(0.05)


async def set_password(stack: Stack, cp_id: str, password: str) -> None:
    stack.central.register(cp_id, "Accepted")
    await stack.central.writer.flush()
    stmt = update(CP).where(CP.c.id == cp_id).values(password_hash=hash_password(password))
    await stack.central.writer.run(lambda c: c.execute(stmt))
    stack.central.forget(cp_id)  # changed behind the central system's back


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def handshake(url: str, cp_id: str, password: str, source: str = "127.0.0.1",
                    headers: dict[str, str] | None = None) -> tuple[int, Headers]:
    """Connect as ``cp_id`` with its Basic credentials from the local address ``source``
    (127.0.0.2 and up are other callers): 101 when it got in, else the refusal's status and
    headers. Patient (20 s): scrypt checks may queue on a busy machine."""
    try:
        async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           additional_headers={**basic(cp_id, password), **(headers or {})},
                           open_timeout=20, close_timeout=1, ping_interval=None,
                           local_addr=(source, 0)):
            return 101, Headers()
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers


# -- path, id and subprotocol ------------------------------------------------------------------
@pytest.mark.parametrize("subprotocols", [None, ["ocpp2.0.1"], ["ocpp1.5", "ocpp2.0"]],
                         ids=["none", "other", "several-others"])
async def test_missing_subprotocol_is_400(stack: Stack, subprotocols: list[str] | None) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/CP-NOPROTO", subprotocols=subprotocols)
        assert response.status_code == 400
        assert b"ocpp1.6" in response.body
        assert await charge_point_row(stack, "CP-NOPROTO") is None  # nothing registered
        assert stack.central.router.local_count() == 0


async def test_subprotocol_among_several_offered_is_selected(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with connect(f"{stack.ws_url}/CP-MULTI", subprotocols=["ocpp2.0.1", "ocpp1.6"],
                           open_timeout=STEP, close_timeout=1) as ws:
            assert ws.subprotocol == "ocpp1.6"
            await heartbeat(ws, "hb")


async def test_id_of_48_characters_connects_and_49_is_400(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with raw_client(stack, "A" * 48) as ws:
            await heartbeat(ws, "hb")
        response = await refused(f"{stack.ws_url}/{'B' * 49}")
        assert response.status_code == 400
        assert await charge_point_row(stack, "B" * 49) is None


@pytest.mark.parametrize("encoded", ["CP%00X", "CP%07", "CP%0A1", "%7F", "CP%C3%A9",
                                     "%E2%9A%A1CP", "CP%FF", "CP%2FX", ""],
                         ids=["nul", "bell", "newline", "del", "e-acute", "emoji", "bad-utf8",
                              "encoded-slash", "empty"])
async def test_id_not_printable_ascii_is_400(stack: Stack, encoded: str) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/{encoded}")
        assert response.status_code == 400
        assert stack.central.router.local_count() == 0
        async with stack.central.engine.connect() as conn:
            assert (await conn.execute(select(CP.c.id))).all() == []


async def test_percent_encoded_printable_id_is_decoded(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with connect(f"{stack.ws_url}/CP%20%231", subprotocols=["ocpp1.6"],
                           open_timeout=STEP, close_timeout=1) as ws:
            await heartbeat(ws, "hb")
            assert stack.central.router.local("CP #1") is not None
        assert await charge_point_row(stack, "CP #1") is not None


@pytest.mark.parametrize("path", ["/CP-1", "/", "/ocpp", "/OCPP/CP-1", "/api/CP-1",
                                  "/ocppx/CP-1", "/v16/ocpp/CP-1"])
async def test_path_not_under_ocpp_is_404(stack: Stack, path: str) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(root_url(stack) + path)
        assert response.status_code == 404
        assert stack.central.router.local_count() == 0


# -- unknown charge points -----------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "reject"}],
                         indirect=True)
async def test_reject_policy_refuses_unknown_id_with_404(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/CP-STRANGER")
        assert response.status_code == 404
        assert await charge_point_row(stack, "CP-STRANGER") is None  # not registered either
        # Still refused the second time: the first attempt left nothing behind.
        assert (await refused(f"{stack.ws_url}/CP-STRANGER")).status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "reject"}],
                         indirect=True)
async def test_tc_001_reject_policy_lets_a_registered_id_boot(stack: Stack) -> None:
    stack.central.register("CP-KNOWN", "Accepted")
    await stack.central.writer.flush()
    async with asyncio.timeout(TEST_BUDGET):
        async with connect_cp(stack.ws_url, "CP-KNOWN", open_timeout=STEP) as cp:
            res = await cp.call(BOOT)
            assert res.status == "Accepted" and res.interval == 300
            row = await charge_point_row(stack, "CP-KNOWN")
            assert row.online is True and row.boot_status == "Accepted"


@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "pending"}],
                         indirect=True)
async def test_tc_002_cold_boot_pending_until_accepted(stack: Stack) -> None:
    """TC_002: Cold Boot Charge Point - Pending; the operator accepts it over the REST API."""
    async with asyncio.timeout(TEST_BUDGET):
        async with connect_cp(stack.ws_url, "CP-NEW", open_timeout=STEP) as cp, \
                httpx.AsyncClient(base_url=stack.http_url, timeout=STEP) as http:
            res = await cp.call(BOOT)
            assert res.status == "Pending" and res.interval > 0
            row = await charge_point_row(stack, "CP-NEW")
            assert (row.registration_status, row.boot_status) == ("Pending", "Pending")
            # Still Pending when it retries before anyone accepted it.
            assert (await cp.call(BOOT)).status == "Pending"

            answer = await http.post("/api/v1/charge-points/CP-NEW/accept",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["registration_status"] == "Accepted"

            res = await cp.call(BOOT)
            assert res.status == "Accepted" and res.interval == 300
            row = await charge_point_row(stack, "CP-NEW")
            assert (row.registration_status, row.boot_status) == ("Accepted", "Accepted")
        # Accepted for good: a reconnect boots Accepted straight away.
        async with connect_cp(stack.ws_url, "CP-NEW", open_timeout=STEP) as cp:
            assert (await cp.call(BOOT)).status == "Accepted"


async def test_accept_endpoint_needs_a_token_and_a_known_id(stack: Stack) -> None:
    stack.central.register("CP-P", "Pending")
    await stack.central.writer.flush()
    async with asyncio.timeout(TEST_BUDGET), \
            httpx.AsyncClient(base_url=stack.http_url, timeout=STEP) as http:
        no_token = await http.post("/api/v1/charge-points/CP-P/accept")
        assert no_token.status_code == 401
        assert no_token.json()["code"] == "Unauthorized"
        wrong = await http.post("/api/v1/charge-points/CP-P/accept",
                                headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        row = await charge_point_row(stack, "CP-P")
        assert row.registration_status == "Pending"  # neither attempt changed anything

        unknown = await http.post("/api/v1/charge-points/CP-NOBODY/accept",
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert unknown.status_code == 404
        body = unknown.json()
        assert body["code"] == "ChargePointNotFound" and "CP-NOBODY" in body["message"]
        assert await charge_point_row(stack, "CP-NOBODY") is None


# -- security profile 1: HTTP Basic ---------------------------------------------------------------
PASSWORD = "0123456789abcdef0123"  # 20 characters, as OCTT configures a plain-text password


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "no-header"),
    (basic("CP-SP1", "wrong-password-0000"), "wrong-password"),
    (basic("CP-OTHER", PASSWORD), "other-user"),
    (basic("CP-SP1", PASSWORD.upper()), "case-changed"),
    ({"Authorization": "Basic !!!not-base64!!!"}, "not-base64"),
    ({"Authorization": f"Bearer {PASSWORD}"}, "not-basic"),
], ids=["no-header", "wrong-password", "other-user", "case-changed", "not-base64",
        "not-basic"])
async def test_basic_auth_missing_or_wrong_is_401(stack: Stack, headers: dict[str, str],
                                                  why: str) -> None:
    await set_password(stack, "CP-SP1", PASSWORD)
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/CP-SP1", additional_headers=headers)
        assert response.status_code == 401, why
        assert response.headers.get("WWW-Authenticate", "").startswith("Basic")
        assert stack.central.router.local_count() == 0
        assert (await charge_point_row(stack, "CP-SP1")).online is False


async def test_tc_085_basic_auth_valid_credentials_connect_and_boot(stack: Stack) -> None:
    """TC_085_CSMS: Basic Authentication - Valid username/password combination."""
    await set_password(stack, "CP-SP1", PASSWORD)
    async with asyncio.timeout(TEST_BUDGET):
        for _ in range(2):  # the second time is served from the verified-password cache
            async with connect_cp(stack.ws_url, "CP-SP1", open_timeout=STEP,
                                  additional_headers=basic("CP-SP1", PASSWORD)) as cp:
                res = await cp.call(BOOT)
                assert res.status == "Accepted"
                assert (await charge_point_row(stack, "CP-SP1")).online is True
        # The cache must not outlive a password change: the old one is refused afterwards.
        await set_password(stack, "CP-SP1", "a-brand-new-password")
        response = await refused(f"{stack.ws_url}/CP-SP1",
                                 additional_headers=basic("CP-SP1", PASSWORD))
        assert response.status_code == 401


# -- security profile 2: TLS ------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"self_signed_tls": True}], indirect=True)
async def test_tc_086_tls_server_certificate_boot(stack: Stack, tmp_path: Path) -> None:
    """TC_086_CSMS: TLS - server-side certificate - Valid certificate (with Basic auth: profile 2)."""
    assert stack.ws_url.startswith("wss://")
    await set_password(stack, "CP-TLS", PASSWORD)
    trusted = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    async with asyncio.timeout(TEST_BUDGET):
        async with connect_cp(stack.ws_url, "CP-TLS", open_timeout=STEP, ssl=trusted,
                              additional_headers=basic("CP-TLS", PASSWORD)) as cp:
            res = await cp.call(BOOT)
            assert res.status == "Accepted"
            assert (await charge_point_row(stack, "CP-TLS")).online is True
        # The handshake rules still hold behind TLS.
        response = await refused(f"{stack.ws_url}/CP-TLS", ssl=trusted)
        assert response.status_code == 401
        # A client that does not trust the certificate cannot connect.
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(f"{stack.ws_url}/CP-TLS", subprotocols=["ocpp1.6"],
                               ssl=ssl.create_default_context(), open_timeout=STEP):
                pass


# -- one connection per charge point ------------------------------------------------------------------
async def test_newer_connection_takes_over(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with raw_client(stack, "CP-TWIN") as first:
            await heartbeat(first, "a1")
            async with raw_client(stack, "CP-TWIN") as second:
                with pytest.raises(ConnectionClosed):
                    async with asyncio.timeout(STEP):
                        await first.recv()
                assert first.close_code == 4001
                assert "replaced" in (first.close_reason or "")
                await first.wait_closed()
                await heartbeat(second, "b1")
                await asyncio.sleep(0.2)  # let the old socket's handler run to its end
                await heartbeat(second, "b2")
                assert stack.central.router.local_count() == 1
                assert (await charge_point_row(stack, "CP-TWIN")).online is True
        # The row follows the current socket: once the newer one leaves, it is offline.
        await wait_online(stack, "CP-TWIN", False, within=STEP)
        assert stack.central.router.local_count() == 0


async def test_takeover_fails_a_waiting_outbound_call_as_offline(stack: Stack) -> None:
    """A command waiting on the replaced socket ends at once instead of running into its timeout."""
    async with asyncio.timeout(TEST_BUDGET):
        async with raw_client(stack, "CP-TWIN") as first:
            await heartbeat(first, "a1")
            pending = asyncio.create_task(
                stack.central.router.send("CP-TWIN", "ClearCache", {}, timeout=5))
            async with asyncio.timeout(STEP):
                request = orjson.loads(await first.recv())  # the CALL; never answered
            assert request[0] == 2 and request[2] == "ClearCache"
            started = time.monotonic()
            async with raw_client(stack, "CP-TWIN") as second:
                outcome = await pending
                assert outcome.kind == "offline"
                assert time.monotonic() - started < 1.0
                await heartbeat(second, "b1")


# -- dead peer -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"ping_interval": 0.5}], indirect=True)
async def test_dead_peer_is_detected_by_ping(stack: Stack) -> None:
    ws = await connect(f"{stack.ws_url}/CP-DEAD", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       open_timeout=STEP, close_timeout=0.5, ping_interval=None)
    try:
        async with asyncio.timeout(TEST_BUDGET):
            await heartbeat(ws, "hb")
            await wait_online(stack, "CP-DEAD", True, within=STEP)
            ws.transport.pause_reading()  # the peer goes silent: no pong, no close answer
            took = await wait_online(stack, "CP-DEAD", False, within=3.0)
            assert stack.central.router.local_count() == 0
            assert took < 3.0
    finally:
        ws.transport.abort()
    async with asyncio.timeout(TEST_BUDGET), raw_client(stack, "CP-DEAD") as again:
        await heartbeat(again, "back")  # and it can come back


@pytest.mark.parametrize("settings_overrides", [{"ping_interval": 0.5}], indirect=True)
async def test_live_peer_survives_many_ping_intervals(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET), raw_client(stack, "CP-ALIVE") as ws:
        await heartbeat(ws, "hb")
        await asyncio.sleep(1.6)  # three pings, each answered by the client's protocol
        await heartbeat(ws, "hb2")
        assert (await charge_point_row(stack, "CP-ALIVE")).online is True
