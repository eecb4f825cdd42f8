"""Security profiles 1-3 at the handshake of OCPP 2.0.1 stations, as for 1.6 (issue #16): Basic
auth (profile 1, and 2 over TLS), a client certificate for the station's own id (profile 3), with
the ``ocpp`` library's 2.0.1 station booting over each, compressed (permessage-deflate) over TLS."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v201 import ChargePoint as ChargePoint201

from chargebay.stack import Stack
from tests.certs import client_context
from tests.csms.handshakes import admitted, basic
from tests.csms.test_ocpp201_connection import BOOT
from tests.csms.test_security_profiles import PASSWORD, Pki, api, pki, register, tls_stack  # noqa: F401 (fixtures)
from tests.ocpp_client import connect

BUDGET = 30.0
V201 = ("ocpp2.0.1",)


async def test_profile_1_basic_auth_for_a_201_station(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-P1-201", profile=1)
        assert await admitted(stack.ws_url, "CP-P1-201", subprotocol="ocpp2.0.1") == 401
        assert await admitted(stack.ws_url, "CP-P1-201", "wrong-password-0001", subprotocol="ocpp2.0.1") == 401
        async with connect(stack.ws_url, "CP-P1-201", cls=ChargePoint201, subprotocols=V201,
                           additional_headers=basic("CP-P1-201", PASSWORD)) as station:
            assert (await station.call(BOOT)).status == "Accepted"
            assert station._connection.subprotocol == "ocpp2.0.1"


async def test_profiles_2_and_3_over_tls_for_201_stations(
        tls_stack: Stack, pki: tuple[Pki, dict[str, Any]]) -> None:  # noqa: F811 (the fixtures imported above)
    keys, url = pki[0], tls_stack.ws_url
    async with asyncio.timeout(BUDGET), api(tls_stack) as client:
        await register(client, "CP-P2-201", profile=2)
        await register(client, "CP-P3-201", profile=3)
        plain = client_context(keys.server_ca)
        assert await admitted(url, "CP-P2-201", tls=plain, subprotocol="ocpp2.0.1") == 401  # no password
        async with connect(url, "CP-P2-201", cls=ChargePoint201, subprotocols=V201, ssl=plain,
                           additional_headers=basic("CP-P2-201", PASSWORD)) as station:
            assert (await station.call(BOOT)).status == "Accepted"
            extensions = [type(e).__name__ for e in station._connection.protocol.extensions]
            assert extensions == ["PerMessageDeflate"]  # compressed, over TLS
        assert await admitted(url, "CP-P3-201", PASSWORD, tls=plain, subprotocol="ocpp2.0.1") == 403
        own = client_context(keys.server_ca, *keys.client("CP-P3-201"))
        async with connect(url, "CP-P3-201", cls=ChargePoint201, subprotocols=V201, ssl=own) as station:
            assert (await station.call(BOOT)).status == "Accepted"
