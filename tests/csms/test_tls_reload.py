"""Certificates rotated without a restart (issue #15 item 2): the server certificate and the client
CA bundle are read again on ``POST /api/v1/system/tls/reload`` and on SIGHUP to ``chargebay
serve``; the next handshake uses them, open connections stay, a broken file changes nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
from pathlib import Path

import httpx
import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect as ws_connect

from chargebay.stack import Stack, running
from tests.api.auth_helpers import ADMIN
from tests.certs import Ca, cert_pem, client_context, key_pem, new_ca
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.ocpp_client import connect
from tests.test_serve import start

BUDGET = 30.0


def install(ca: Ca, folder: Path) -> None:
    """Put a server certificate from ``ca`` where the server reads its files."""
    key, cert = ca.issue("127.0.0.1", server=True)
    (folder / "server.pem").write_bytes(cert_pem(cert))
    (folder / "server.key").write_bytes(key_pem(key))


async def gets_in(url: str, cp_id: str, tls: ssl.SSLContext) -> bool:
    try:
        async with ws_connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                              ssl=tls, open_timeout=10, close_timeout=1):
            return True
    except ssl.SSLCertVerificationError:
        return False


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Ca, Ca]:
    old, new = new_ca("old server CA"), new_ca("new server CA")
    install(old, tmp_path)
    return tmp_path, old, new


async def test_rest_reload_rotates_the_certificate_and_keeps_connections(
        db_url: str, files: tuple[Path, Ca, Ca]) -> None:
    folder, old, new = files
    old_trust, new_trust = old.write(folder, "old-ca"), new.write(folder, "new-ca")
    settings = make_settings(db_url, tls_cert=folder / "server.pem", tls_key=folder / "server.key")
    async with (asyncio.timeout(BUDGET), running(settings, migrate=False) as stack,
                httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client):
        before = (await client.get("/api/v1/system/tls")).json()
        async with connect(stack.ws_url, "CP-STAYS", ssl=client_context(old_trust)) as station:
            install(new, folder)
            r = await client.post("/api/v1/system/tls/reload")
            assert r.status_code == 200 and r.json()["loaded_at"] > before["loaded_at"], r.text
            assert (await station.call(call.Heartbeat())).current_time  # the open one goes on
            assert not await gets_in(stack.ws_url, "CP-NEW-1", client_context(old_trust))
            assert await gets_in(stack.ws_url, "CP-NEW-2", client_context(new_trust))
            (folder / "server.key").write_text("not a key")
            r = await client.post("/api/v1/system/tls/reload")
            assert r.status_code == 422 and r.json()["code"] == "TlsNotLoaded", r.text
            assert await gets_in(stack.ws_url, "CP-NEW-3", client_context(new_trust))  # still in force
            assert (await station.call(call.Heartbeat())).current_time


async def test_reload_without_tls_is_404(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.post("/api/v1/system/tls/reload")
    assert r.status_code == 404 and r.json()["code"] == "NoTls"


async def test_sighup_reloads_the_client_ca_of_a_running_serve(tmp_path: Path, files: tuple[Path, Ca, Ca]) -> None:
    """A charge point at profile 3 whose certificate comes from a CA added to the bundle gets in
    after SIGHUP, without a restart."""
    folder, server_ca, _ = files
    first, second = new_ca("first client CA"), new_ca("second client CA")
    bundle = folder / "client-ca.pem"
    bundle.write_bytes(cert_pem(first.cert))
    trust = server_ca.write(folder, "server-ca")
    served = start(tmp_path, "--tls-cert", str(folder / "server.pem"), "--tls-key", str(folder / "server.key"),
                   "--tls-client-ca", str(bundle), CHARGEBAY_API_TOKEN=ADMIN_TOKEN)
    try:
        url = f"wss://127.0.0.1:{served.ws_port}/ocpp"
        cert, key = second.issue_files(folder / "clients", "CP-HUP")
        with_second = client_context(trust, cert, key)
        async with asyncio.timeout(BUDGET):
            with pytest.raises(Exception):  # noqa: B017 (how the TLS refusal surfaces varies: alert, EOF)
                await gets_in(url, "CP-HUP", with_second)
            bundle.write_bytes(cert_pem(first.cert) + cert_pem(second.cert))
            os.kill(served.proc.pid, signal.SIGHUP)
            for _ in range(100):
                try:
                    if await gets_in(url, "CP-HUP", with_second):
                        break
                except Exception:  # noqa: BLE001 (not reloaded yet)
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the new client CA was never in force")
        assert served.proc.poll() is None
    finally:
        _, _, err = served.stop()
    assert "TLS reloaded" in err
