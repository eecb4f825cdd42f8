"""A minimal HTTP/1.1 keep-alive client for the REST benchmarks: one connection, one request at a time.

Why not httpx: on this machine httpx spent ~0.5 ms of the load generator's CPU per request, more
than the server under test spends on a bare FastAPI route; with 1,000 charge points answering on
the same core, the client, not the server, set the pace of bench/api_commands.py's fan-out
(90 % of its CPU). This client writes a request in one ``transport.write`` and reads the answer
with httptools (the parser uvicorn itself uses): a few tens of µs a request. It speaks just what
the benchmarks need — JSON bodies, ``Content-Length`` or chunked answers, keep-alive — and is
not a general HTTP client (an answer framed by closing the connection, which uvicorn never sends,
is not read).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import httptools
import orjson


class HttpError(Exception):
    """No answer: the connection failed, closed or timed out."""


class Response:
    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Protocol(asyncio.Protocol):
    """Parses answers as they arrive; hands each complete one to the waiting request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed: {exc!r}"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Response(self.parser.get_status_code(), b"".join(self.body)))
        if not self.parser.should_keep_alive():  # "Connection: close" (a 401 before the body, a 413)
            self.close()

    def close(self) -> None:
        """Close now, and let no later request be written to this connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Client:
    """One keep-alive connection to ``host:port``; every request carries ``headers``."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {host}:{port}\r\n{extra}".encode()
        self._protocol: _Protocol | None = None

    async def __aenter__(self) -> Client:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc!r}") from None
        self._protocol = protocol
        return protocol

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
        self._protocol = None

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                      json: Any = None) -> Response:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        if params:
            path = f"{path}?{urlencode(params)}"
        body = b"" if json is None else orjson.dumps(json)
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._head
        if json is not None:
            head += b"Content-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        assert protocol.waiter is None, "one request at a time on a Client"
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        assert protocol.transport is not None
        protocol.transport.write(head + body)
        answered = False
        try:
            async with asyncio.timeout(self.timeout):
                response = await waiter
            answered = True
            return response
        except TimeoutError:
            raise HttpError(f"no answer in {self.timeout} s") from None
        finally:
            protocol.waiter = None
            if not answered:  # timed out, cancelled or broken: its answer must not meet a later request
                protocol.close()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Response:
        return await self.request("GET", path, params)

    async def post(self, path: str, params: dict[str, Any] | None = None, json: Any = None) -> Response:
        return await self.request("POST", path, params, json)
