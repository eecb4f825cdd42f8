"""The reference of bench/handshakes.py: a websocket server with nothing of a central system.

It accepts subprotocol ocpp1.6 on any path and holds each connection until the client closes it,
with the same TLS configuration as ``chargebay serve`` (csms.tls.server_context: TLS 1.2+, the
whitepaper's cipher suites, client certificates checked against the CA when one is given). What
chargebay spends per handshake beyond this is its own: the id and its record, the password or
the certificate's CN, the connection's bookkeeping and message log.

    python bench/bare_websockets.py --port 9100 [--tls-cert C --tls-key K [--tls-client-ca CA]]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import websockets
from websockets.asyncio.server import ServerConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from csms.tls import server_context  # noqa: E402  (the repository root, added above)


async def hold(connection: ServerConnection) -> None:
    async for _ in connection:  # until the client closes
        pass


async def serve(args: argparse.Namespace) -> None:
    tls = server_context(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    async with websockets.serve(hold, args.host, args.port, ssl=tls,
                                subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--tls-client-ca", type=Path)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
