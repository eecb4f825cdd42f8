"""A real webhook receiver for tests: an HTTP/1.1 server on 127.0.0.1 (ephemeral port) that keeps
each request's raw body, headers and arrival time, answers as told, and verifies signatures the
way the README tells a receiver to."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.full_cp import ADMIN, CallbackReceiver, read_request

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


class HookReceiver(CallbackReceiver):
    """Keeps each request whole (:attr:`posts`) and answers it with the next of ``answers`` (an
    HTTP status, or :data:`HANG`), then with ``default``."""

    def __init__(self, answers: list[int] | None = None, default: int = 204) -> None:
        super().__init__()
        self.answers = list(answers or [])
        self.default = default
        self.posts: list[Received] = []
        self._release = asyncio.Event()  # ends the answers that hang, at exit

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, path, headers, raw = await read_request(reader)
            self.posts.append(Received(time.monotonic(), path, headers, raw))
            status = self.answers.pop(0) if self.answers else self.default
            if status == HANG:
                await self._release.wait()
                return
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> HookReceiver:
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._release.set()
        await super().__aexit__(*exc)


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
