"""Request bodies: bounded (CHARGEBAY_MAX_BODY_BYTES), and not read at all before the caller's
credential holds (issue #13, item 6).

The memory tests run ``chargebay serve`` as a user runs it and send it hundreds of MiB, made up
chunk by chunk as they go out (never held here), over raw sockets, while the server's RSS is
sampled: it must stay within a few MiB of where it was. The boundary tests use the in-process
stack on real sockets with a small limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import psutil
import pytest
from fastapi.routing import APIRoute

from api.gate import GuardedRoute, refusal_of
from chargebay.stack import Stack
from common.settings import Settings
from tests.api.auth_helpers import walk_routes
from tests.conftest import ADMIN_TOKEN
from tests.test_serve import Served, start

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MiB = 1024 * 1024
HUGE = 256 * MiB  # the body: one of these took the server from 122 to 632 MiB
CHUNK = b"x" * (64 * 1024)
RSS_BOUND = 50 * MiB  # growth allowed while a huge body is sent (the limit is 4 MiB)
STEP = 30.0  # seconds one exchange may take on a busy machine


# -- a raw HTTP client that streams a body made up on the fly ---------------------------------
def parse_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    answer = {}
    for line in lines:
        name, _, value = line.partition(":")
        answer[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), answer, body[:int(answer.get("content-length", "0"))]


async def send_huge(port: int, path: str, headers: dict[str, str], size: int = HUGE,
                    chunked: bool = False) -> tuple[int, dict[str, str], bytes, int]:
    """POST ``size`` bytes (or chunked, with no length) until the server answers or hangs up;
    returns the status, headers and body of its answer, and how many body bytes went out.

    A bare socket, so that the server hanging up on the sending side (EPIPE) does not throw away
    the answer it sent before, as an asyncio stream would."""
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            *(f"{k}: {v}" for k, v in headers.items()),
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"]
    sent = 0

    async def pump() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):  # the server hung up: it has answered
            await loop.sock_sendall(sock, ("\r\n".join(head) + "\r\n\r\n").encode())
            while sent < size:
                piece = CHUNK[:size - sent]
                await loop.sock_sendall(sock, b"%x\r\n%s\r\n" % (len(piece), piece)
                                        if chunked else piece)
                sent += len(piece)
            if chunked:
                await loop.sock_sendall(sock, b"0\r\n\r\n")

    sender = asyncio.create_task(pump())
    raw = b""
    try:
        async with asyncio.timeout(STEP):
            while True:
                with contextlib.suppress(ConnectionResetError):
                    data = await loop.sock_recv(sock, 65536)
                    raw += data
                    if data and b"\r\n\r\n" in raw:
                        status, answer, body = parse_answer(raw)
                        if len(body) == int(answer.get("content-length", "0")):
                            return status, answer, body, sent
                    if data:
                        continue
                raise AssertionError(f"the server hung up without an answer: {raw!r}")
    finally:
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
        sock.close()


class PeakRss:
    """The peak RSS of a process, sampled every 10 ms in a thread while in the ``with`` block."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.baseline = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``chargebay serve`` with its default limit, warmed up (so the baseline is a steady one)."""
    s = start(tmp_path_factory.mktemp("serve"), CHARGEBAY_API_TOKEN=ADMIN_TOKEN,
              CHARGEBAY_LOG_LEVEL="WARNING")
    try:
        base = f"http://127.0.0.1:{s.http_port}"
        for _ in range(3):
            httpx.post(f"{base}/api/v1/id-tags", json={"id_tag": "WARM"}, headers=ADMIN, timeout=STEP)
            httpx.get(f"{base}/api/v1/charge-points", headers=ADMIN, timeout=STEP)
        yield s
    finally:
        if s.proc.poll() is None:
            s.stop()


def code(body: bytes) -> str:
    return str(orjson.loads(body)["code"])


# -- against chargebay serve: memory --------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "headers", "status", "expected"), [
    ("/api/v1/charge-points", {}, 401, "Unauthorized"),
    ("/api/v1/charge-points", {"Authorization": "Bearer cb_never-issued"}, 401, "Unauthorized"),
    ("/integration/charges/stop", {}, 403, "APIKeyNotFound"),
], ids=["no-token", "unknown-token", "integration-without-key"])
async def test_a_huge_unauthenticated_body_is_refused_unread(
        served: Served, chunked: bool, path: str, headers: dict[str, str], status: int,
        expected: str) -> None:
    with PeakRss(served.proc.pid) as rss:
        got, answer, body, sent = await send_huge(served.http_port, path, headers, chunked=chunked)
    print(f"\n{path} {headers} chunked={chunked}: {got} after {sent / MiB:.1f} MiB sent; server RSS "
          f"{rss.baseline / MiB:.0f} -> peak {rss.peak / MiB:.0f} MiB")
    # a declared length over the limit is refused for its size before anything else
    assert (got, code(body)) == ((413, "PayloadTooLarge") if not chunked else (status, expected))
    assert answer.get("connection") == "close"
    assert rss.growth < RSS_BOUND, f"the server grew by {rss.growth / MiB:.0f} MiB"
    assert served.proc.poll() is None


@pytest.mark.parametrize("path", ["/api/v1/id-tags", "/api/auth/admin-login", "/ui/login"],
                         ids=["authenticated", "public-login", "dashboard-login"])
async def test_a_huge_streamed_body_is_cut_off_at_the_limit(served: Served, path: str) -> None:
    headers = ADMIN if path == "/api/v1/id-tags" else {}
    with PeakRss(served.proc.pid) as rss:
        got, answer, body, sent = await send_huge(served.http_port, path, headers, chunked=True)
    print(f"\n{path} chunked: {got} after {sent / MiB:.1f} MiB sent; server RSS "
          f"{rss.baseline / MiB:.0f} -> peak {rss.peak / MiB:.0f} MiB")
    assert (got, code(body)) == (413, "PayloadTooLarge")
    assert answer.get("connection") == "close"
    assert sent < 64 * MiB  # cut off near the 4 MiB limit, not after the whole body
    assert rss.growth < RSS_BOUND, f"the server grew by {rss.growth / MiB:.0f} MiB"


async def test_three_huge_bodies_at_once(served: Served) -> None:
    """The issue's worst case: three at once peaked at 2.4 GiB."""
    with PeakRss(served.proc.pid) as rss:
        results = await asyncio.gather(
            send_huge(served.http_port, "/api/v1/charge-points", {}, chunked=True),
            send_huge(served.http_port, "/api/v1/id-tags", ADMIN, chunked=True),
            send_huge(served.http_port, "/api/auth/kiosk-login", {}, chunked=True))
    print(f"\nthree at once: {[r[0] for r in results]}; server RSS {rss.baseline / MiB:.0f} -> "
          f"peak {rss.peak / MiB:.0f} MiB")
    assert [r[0] for r in results] == [401, 413, 413]
    assert rss.growth < RSS_BOUND, f"the server grew by {rss.growth / MiB:.0f} MiB"
    r = httpx.get(f"http://127.0.0.1:{served.http_port}/api/v1/charge-points", headers=ADMIN)
    assert r.status_code == 200  # and it serves on


# -- in-process, at the boundary -------------------------------------------------------------------
LIMIT = 2048


async def raw_request(stack: Stack, head: str) -> tuple[int, dict[str, str], bytes]:
    """Send only the head of a request (no body, whatever it declares) and read the answer."""
    reader, writer = await asyncio.open_connection(stack.host, stack.http_port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        async with asyncio.timeout(STEP):
            status_line = await reader.readline()
            answer = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                answer[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(answer.get("content-length", "0")))
    finally:
        writer.close()
    return int(status_line.split()[1]), answer, body


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=STEP) as c:
        yield c


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": LIMIT}])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_credentials_are_checked_before_a_byte_of_the_body(stack: Stack, framing: str) -> None:
    """A body that never comes: a server that read it first would wait for it; the answer comes
    at once, and the connection is closed (the rest is not worth receiving)."""
    length = "Content-Length: 1000" if framing == "content-length" else "Transfer-Encoding: chunked"
    for path, auth, status, expected in [
            ("/api/v1/id-tags", "", 401, "Unauthorized"),
            ("/api/v1/id-tags", "Authorization: Bearer cb_never-issued\n", 401, "Unauthorized"),
            ("/api/admin/lockers", "X-API-Key: cb_never-issued\n", 401, "Unauthorized"),
            ("/integration/charges/stop", "", 403, "APIKeyNotFound"),
            ("/api/locks/1/unlock", "", 401, "Unauthorized")]:  # the smart-lock API's own shape
        got, answer, body = await raw_request(
            stack, f"POST {path} HTTP/1.1\nHost: x\nContent-Type: application/json\n{auth}{length}\n")
        assert (got, orjson.loads(body)["code"]) == (status, expected), (path, body)
        assert answer["connection"] == "close"


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": LIMIT}])
async def test_bodies_up_to_the_limit_pass_and_one_byte_more_is_413(
        stack: Stack, client: httpx.AsyncClient) -> None:
    def tag(size: int) -> bytes:  # a valid id tag body padded with spaces to exactly ``size``
        body = b'{"id_tag": "T-%d"}' % size
        return body[:-1] + b" " * (size - len(body)) + b"}"

    async def chunks(body: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    headers = {**ADMIN, "Content-Type": "application/json"}
    r = await client.post("/api/v1/id-tags", content=tag(LIMIT), headers=headers)
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/id-tags", content=chunks(tag(LIMIT - 1)), headers=headers)
    assert r.status_code == 201, r.text
    for content in (tag(LIMIT + 1), chunks(tag(LIMIT + 1))):
        r = await client.post("/api/v1/id-tags", content=content, headers=headers)
        assert r.status_code == 413 and r.json()["code"] == "PayloadTooLarge", r.text
        assert str(LIMIT) in r.json()["message"]
    # public endpoints are bounded the same way, with the same error
    r = await client.post("/api/auth/admin-login", content=b"{" + b" " * LIMIT + b"}",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PayloadTooLarge"
    assert (await client.get("/health")).status_code == 200


def test_every_route_checks_its_credential_before_the_body(stack: Stack) -> None:
    """Every FastAPI route of the app is a GuardedRoute (a router without ``route_class`` would
    read bodies before checking tokens again), and the walk finds the gated ones."""
    routes = [r for r in walk_routes(stack.app.routes) if isinstance(r, APIRoute)]
    assert len(routes) > 100
    assert [r.path for r in routes if not isinstance(r, GuardedRoute)] == []
    gated = {r.path for r in routes if refusal_of(r.dependant) is not None}
    assert {"/api/v1/id-tags", "/integration/charges/stop", "/api/locks/{lockid}/unlock"} <= gated
    assert not gated & {"/health", "/api/auth/admin-login", "/ui/login", "/admin"}


async def test_the_largest_legitimate_body_fits_the_default(stack: Stack, client: httpx.AsyncClient
                                                            ) -> None:
    """The bulk creation of 10,000 simulated chargers (its maximum), every field filled with a
    realistic value, is read in full under the default limit: it fails validation only because
    its last charger is invalid on purpose (so nothing is created)."""
    charger = {"identity": "SITE-0000-CHARGER-WITH-A-LONG-NAME-000000000000", "ocpp_version": "OCPP1.6",
               "csms_url": "wss://csms.example.com:9000/ocpp", "template": "ac-wallbox",
               "overrides": {"vendor": "Acme", "model": "Wall-22", "connectors": 2}, "atg": True}
    chargers = [{**charger, "identity": f"SITE-{i:04d}-CHARGER-WITH-A-LONG-NAME-0000000000"}
                for i in range(9_999)] + [{**charger, "identity": ""}]
    body = orjson.dumps({"chargers": chargers})
    default = Settings.model_fields["max_body_bytes"].default
    assert 2 * MiB < len(body) < default
    r = await client.post("/ocpp/chargers/bulk", content=body,
                          headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    assert r.json()["code"] == "ValidationError" and "9999" in r.json()["fields"][0]["field"]

