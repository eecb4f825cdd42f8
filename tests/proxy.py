"""A TCP proxy that can stall a link: what a charge point sends goes nowhere while stalled (the
bytes are held, never delivered), what the CSMS sends still arrives. For faults that need a
message sent but never answered, with everything real on both sides."""

from __future__ import annotations

import asyncio
import contextlib


class StallingProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.stalled = False
        self.held = 0  # bytes a charge point sent while stalled (never delivered)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def stall(self) -> None:
        """From now on, bytes towards the CSMS are held back."""
        self.stalled = True

    def cut(self) -> None:
        """Drop every link (the held bytes with them) and stop stalling new ones."""
        self.stalled = False
        for writer in list(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._links):
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers.update((client_w, server_w))
        up = asyncio.ensure_future(self._pipe(client_r, server_w, upstream=True))
        down = asyncio.ensure_future(self._pipe(server_r, client_w, upstream=False))
        self._links.update((up, down))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
                self._links.discard(task)
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    upstream: bool) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if upstream and self.stalled:
                    self.held += len(data)
                    continue
                writer.write(data)
                await writer.drain()
