"""The websocket handshake: Basic auth, TLS, takeover by a newer connection and detection of a
dead peer.

Named after the OCPP 1.6 compliance test cases (OCTT, system under test: Central System) where
one fits.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chargebay.stack import Stack
from tests.csms import handshakes
from tests.csms.handshakes import (
    BOOT,
    STEP,
    TEST_BUDGET,
    basic,
    charge_point_row,
    heartbeat,
    raw_client,
    refused,
    set_password,
    wait_online,
)
from tests.ocpp_client import connect as connect_cp

settings_overrides = handshakes.settings_overrides  # a fixture


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
