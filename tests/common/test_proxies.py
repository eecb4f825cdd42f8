"""The client address behind trusted proxies: the rule the REST API and the handshake share."""

from __future__ import annotations

import pytest

from common.proxies import TrustedProxies, parse_address, parse_networks


def test_no_trusted_proxy_means_the_header_is_ignored() -> None:
    none = TrustedProxies("")
    assert not none
    assert none.client("127.0.0.1", ["10.1.2.3"]) == "127.0.0.1"


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("10.0.0.9", ["203.0.113.7"], "10.0.0.9"),  # the peer is no proxy of ours: its say is ignored
    ("10.0.0.5", [], "10.0.0.5"),  # a proxy speaking for itself
    ("10.0.0.5", ["203.0.113.7"], "203.0.113.7"),
    ("10.0.0.5", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),  # the caller forged the left one
    ("10.0.0.5", ["198.51.100.1", "203.0.113.7"], "203.0.113.7"),  # two header lines, in order
    ("10.0.0.5", ["203.0.113.7, 10.0.0.6"], "203.0.113.7"),  # a chain of our own proxies
    ("10.0.0.5", ["10.0.0.7, 10.0.0.6"], "10.0.0.7"),  # nothing but proxies: the leftmost
    ("10.0.0.5", ["unknown"], "10.0.0.5"),  # not an address: the last proxy that vouched
    ("10.0.0.5", ["203.0.113.7, garbage, 10.0.0.6"], "10.0.0.6"),
    ("10.0.0.5", ["203.0.113.7:5678"], "203.0.113.7"),
    ("10.0.0.5", ["[2001:db8::1]:443"], "2001:db8::1"),
    ("::ffff:10.0.0.5", ["2001:db8::1"], "2001:db8::1"),  # a dual-stack socket's IPv4 peer
])
def test_the_rightmost_hop_that_is_no_trusted_proxy(peer: str, forwarded: list[str], client: str) -> None:
    assert TrustedProxies("10.0.0.5, 10.0.0.6/31").client(peer, forwarded) == client


def test_parsing() -> None:
    assert [str(n) for n in parse_networks(" 127.0.0.1, 10.0.0.0/8 ,, ::1 ")] == [
        "127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="'haproxy' is not an IP address"):
        parse_networks("127.0.0.1, haproxy")
    assert parse_address("nonsense") is None and str(parse_address(" 1.2.3.4 ")) == "1.2.3.4"
