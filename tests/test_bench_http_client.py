"""bench/rawhttp.py, the benchmarks' HTTP client: keep-alive, a server's "Connection: close", a
timeout and a refused connection each end as an answer or an HttpError, never as a later
request's answer."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from rawhttp import Client, HttpError  # noqa: E402


async def _serve(connections: list[int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                path = head.split(b" ")[1]
                if path == b"/close":
                    writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
                    await writer.drain()
                    return
                if path == b"/slow":
                    await asyncio.sleep(0.5)
                answer = b'{"path": "%s", "body": %d}' % (path, len(body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_answers_in_order_on_one_connection_and_recovers_from_close_and_timeout() -> None:
    connections: list[int] = []
    server = await _serve(connections)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Client("127.0.0.1", port, timeout=0.2) as client:
            first = await client.post("/a", params={"wait": 30}, json={"x": 1})
            assert first.status_code == 200 and first.json() == {"path": "/a?wait=30", "body": 7}
            assert (await client.get("/b")).json()["path"] == "/b"
            assert len(connections) == 1  # kept alive
            assert (await client.get("/close")).status_code == 401
            assert (await client.get("/c")).json()["path"] == "/c"  # on a new connection
            assert len(connections) == 2
            with pytest.raises(HttpError, match="no answer"):
                await client.get("/slow")
            # the late answer to /slow must not be taken for this one's
            assert (await client.get("/d")).json()["path"] == "/d"
            assert len(connections) == 3
    finally:
        server.close()
        await server.wait_closed()


async def test_a_refused_connection_is_an_http_error() -> None:
    server = await _serve([])
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(HttpError, match="cannot connect"):
        await Client("127.0.0.1", port).get("/")
