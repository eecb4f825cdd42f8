"""A real webhook receiver for tests: an HTTP/1.1 server on 127.0.0.1 (ephemeral port) that keeps
each request's raw body, headers and arrival time, answers as told, and verifies signatures the
way the README tells a receiver to."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.full_cp import ADMIN

HANG = -1  # an answer that never comes (the sender's timeout ends it)


@dataclass
class Received:
    at: float  # monotonic
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)  # type: ignore[no-any-return]

    def signed_with(self, secret: str) -> bool:
        """The README's check: HMAC-SHA256 of the raw body, compared in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-chargebay-signature", ""))


class HookReceiver:
    """Answers each request with the next of ``answers`` (an HTTP status, or :data:`HANG`), then
    with ``default``."""

    def __init__(self, answers: list[int] | None = None, default: int = 204) -> None:
        self.answers = list(answers or [])
        self.default = default
        self.received: list[Received] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(time.monotonic(), path, headers, raw))
            status = self.answers.pop(0) if self.answers else self.default
            if status == HANG:
                await asyncio.sleep(3600)
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.body["event"]["type"] == kind]

    async def __aenter__(self) -> HookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await self._server.wait_closed()


async def create_webhook(client: httpx.AsyncClient, url: str, events: list[str],
                         secret: str | None = "a-test-secret-0123456789") -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": events}
    if secret is not None:
        body["secret"] = secret
    r = await client.post("/api/v1/webhooks", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def deliveries(client: httpx.AsyncClient, webhook_id: int, **params: Any) -> list[dict[str, Any]]:
    """The webhook's delivery log, oldest attempt first."""
    r = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN,
                         params={"page_size": 1000, **params})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


async def waiting(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Await ``check()`` (a coroutine function or a plain one) until truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s (last value {value!r})")
        await asyncio.sleep(0.02)
