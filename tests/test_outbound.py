"""common/outbound.py: which addresses a client's URL may make this server connect to (issue #13,
item 7). Names and numeric forms go through the real system resolver; the end-to-end cases are in
tests/api/test_callback_addresses.py and tests/charger_sim/test_csms_url_addresses.py.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pydantic
import pytest

from common.outbound import (
    WEB_SCHEMES,
    WEBSOCKET_SCHEMES,
    AddressNotAllowed,
    AllowList,
    InvalidUrl,
    OutboundPolicy,
    refusal,
)
from tests.conftest import make_settings


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    ("10.0.0.1", "private"), ("172.31.255.255", "private"), ("192.168.0.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"), ("192.0.0.192", "cloud metadata"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("192.0.2.1", "not a globally routable"), ("2001:db8::1", "not a globally routable"),
    # IPv6 forms of an IPv4 address are judged as that address
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"),
    ("64:ff9b::a00:1", "private"), ("2002:7f00:1::1", "loopback"), ("::7f00:1", "loopback"),
])
def test_non_public_addresses_are_refused_with_their_reason(address: str, why: str) -> None:
    found = refusal(ipaddress.ip_address(address))
    assert found is not None and why in found


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "100.128.0.1", "172.32.0.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["http://2130706433/", "http://0x7f.1/", "http://0x7f000001/",
                                 "http://017700000001/", "http://127.1/", "http://[::ffff:127.0.0.1]/",
                                 "http://[::ffff:7f00:1]/", "http://localhost/", "http://LOCALHOST./",
                                 "http://[0:0:0:0:0:0:0:1]/"])
async def test_numeric_and_named_forms_of_loopback_are_refused(url: str) -> None:
    with pytest.raises(AddressNotAllowed, match="loopback"):
        await OutboundPolicy().check(url, WEB_SCHEMES, "callback_url")


@pytest.mark.parametrize("url, schemes", [
    ("ftp://8.8.8.8/", WEB_SCHEMES), ("file:///etc/passwd", WEB_SCHEMES), ("ws://8.8.8.8/", WEB_SCHEMES),
    ("http://8.8.8.8/", WEBSOCKET_SCHEMES), ("http:///x", WEB_SCHEMES), ("http://[::1", WEB_SCHEMES),
    ("http://8.8.8.8:99999/", WEB_SCHEMES), ("http://8.8.8.8/a b", WEB_SCHEMES),
    ("http://8.8.8.8/\r\nX: y", WEB_SCHEMES),
])
async def test_urls_of_other_schemes_or_malformed_are_invalid(url: str, schemes: frozenset[str]) -> None:
    with pytest.raises(InvalidUrl):
        await OutboundPolicy().check(url, schemes, "callback_url")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(AddressNotAllowed, match="does not resolve"):
        await OutboundPolicy().check("http://nothing-here.invalid/", WEB_SCHEMES, "callback_url")


async def test_every_address_a_name_resolves_to_is_judged() -> None:
    async def both(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.8"]

    with pytest.raises(AddressNotAllowed, match="10.0.0.8"):
        await OutboundPolicy(resolver=both).check("http://mixed.invalid/", WEB_SCHEMES, "callback_url")


async def test_the_allow_list_admits_names_addresses_and_networks() -> None:
    policy = OutboundPolicy(" 10.0.0.0/8 , Hooks.Internal. ,127.0.0.1,[::1] ")
    assert policy.allow == AllowList(frozenset({"hooks.internal"}), (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128")))
    for url in ("http://10.20.30.40/", "http://127.0.0.1:8080/", "http://[::1]/",
                "http://[::ffff:127.0.0.1]/"):
        assert (await policy.check(url, WEB_SCHEMES, "callback_url")).addresses
    with pytest.raises(AddressNotAllowed):
        await policy.check("http://127.0.0.2/", WEB_SCHEMES, "callback_url")

    async def internal(host: str, port: int) -> list[str]:
        return ["169.254.169.254"] if host == "hooks.internal" else ["192.168.1.1"]

    policy.resolver = internal  # a named host is trusted wherever the operator's DNS puts it
    target = await policy.check("https://HOOKS.internal/x", WEB_SCHEMES, "callback_url")
    assert (target.host, target.port, target.addresses) == ("hooks.internal", 443, ("169.254.169.254",))
    with pytest.raises(AddressNotAllowed):
        await policy.check("https://other.internal/x", WEB_SCHEMES, "callback_url")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.0/8/1", "*.example.com", "a b", "http://x"])
def test_a_malformed_allow_list_stops_the_settings(entry: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="CHARGEBAY_OUTBOUND_ALLOW"):
        make_settings("sqlite+aiosqlite:///unused.db", outbound_allow=f"127.0.0.1,{entry}")


async def test_trusted_urls_are_matched_by_scheme_host_and_port() -> None:
    policy = OutboundPolicy(trusted=["ws://127.0.0.1:9000/ocpp"])
    for url in ("ws://127.0.0.1:9000/ocpp", "ws://127.0.0.1:9000/ocpp/CP-1"):
        assert (await policy.check(url, WEBSOCKET_SCHEMES, "csms_url")).addresses == ()
        assert await policy.connect(url, WEBSOCKET_SCHEMES, "csms_url") is None  # connect as usual
    for url in ("ws://127.0.0.1:9001/ocpp", "wss://127.0.0.1:9000/ocpp", "ws://localhost:9000/ocpp"):
        with pytest.raises(AddressNotAllowed):
            await policy.check(url, WEBSOCKET_SCHEMES, "csms_url")


async def test_connect_goes_to_the_address_that_was_checked() -> None:
    """A real listener, reached under a name only the policy's resolver knows: no second lookup."""
    accepted: list[str] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    try:
        sock = await OutboundPolicy("127.0.0.1", resolver=resolve).connect(
            f"ws://csms.invalid:{port}/ocpp", WEBSOCKET_SCHEMES, "csms_url")
        assert sock is not None and sock.getpeername() == ("127.0.0.1", port)
        sock.close()
        with pytest.raises(AddressNotAllowed):
            await OutboundPolicy(resolver=resolve).connect(f"ws://csms.invalid:{port}/ocpp",
                                                           WEBSOCKET_SCHEMES, "csms_url")
        await asyncio.sleep(0.1)
        assert accepted == ["127.0.0.1"]
    finally:
        server.close()
        await server.wait_closed()
