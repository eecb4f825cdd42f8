"""Who is really calling: the client address behind trusted reverse proxies.

A proxy in front of the REST API or the websocket port (haproxy with ``option forwardfor``)
appends the address it took the connection from to ``X-Forwarded-For``. Anyone can send that
header, so it means something only when the direct peer is a proxy we run
(``CHARGEBAY_TRUSTED_PROXIES``), and then only up to the first hop, read from the right, that is
not one of ours: everything to the left of it was written by the caller. With no trusted proxy
(the default) the header is ignored and the client is the TCP peer.

The REST API (``api.middleware``) and the websocket handshake (``csms.server``) both ask
:class:`TrustedProxies`, so the IP allow-list of the charge integration, the rate limits and the
logs all see the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(spec: str) -> list[Network]:
    """``"10.0.0.5, 172.28.0.0/24, ::1"`` as networks; ValueError names a bad entry."""
    networks = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
    return networks


def parse_address(value: str) -> Address | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``, ``::1``);
    None for anything else (``unknown``, a name, garbage)."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The configured proxies, and the client address a request's peer and headers give."""

    def __init__(self, spec: str = "") -> None:
        self.networks = parse_networks(spec)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The caller's address: the peer, unless the peer is a trusted proxy; then the rightmost
        ``X-Forwarded-For`` hop that is not a trusted proxy (each proxy appends, so everything
        left of it is the caller's own say). A hop that is not an address stops the walk at the
        last proxy that vouched for something, and a chain of nothing but trusted proxies gives
        its leftmost hop (a proxy calling for itself)."""
        current = parse_address(peer) if peer else None
        if current is None:
            return peer or "unknown"
        if not self.trusts(current):
            return str(current)
        hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break
            current = address
            if not self.trusts(address):
                break
        return str(current)
