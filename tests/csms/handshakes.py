"""Helpers and fixtures of the websocket handshake tests (tests/csms/test_handshake_*.py).
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

import orjson
import pytest
from ocpp.v16 import call
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from chargebay.stack import Stack
from common.passwords import hash_password
from csms.store.models import ChargePoint

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


def basic(user: str, password: str | bytes) -> dict[str, str]:
    """``Basic base64(user:password)``; a bytes password as it is (a binary AuthorizationKey)."""
    raw = password.encode() if isinstance(password, str) else password
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + raw).decode()}


async def admitted(url: str, cp_id: str, password: str | bytes | None = None,
                   tls: ssl.SSLContext | None = None, headers: dict[str, str] | None = None,
                   subprotocol: str = "ocpp1.6") -> int:
    """101 when the handshake is accepted, else the refusal's HTTP status (no retries, no wait)."""
    extra = {**(basic(cp_id, password) if password is not None else {}), **(headers or {})}
    try:
        async with connect(f"{url}/{cp_id}", subprotocols=[subprotocol],  # type: ignore[list-item]
                           additional_headers=extra, ssl=tls, open_timeout=10, close_timeout=1):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


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
