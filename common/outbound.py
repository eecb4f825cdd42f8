"""Which addresses this server may connect to on a client's word (command callbacks, the CSMS URL
of a simulated charger), and the connection to the address that was checked.

An integrator who names a URL makes the server open a connection from inside its network
(server-side request forgery): a callback to 169.254.169.254 reads the cloud's credentials, one
to 127.0.0.1 or 10.0.0.5 reaches services that trust their neighbours. So such a URL is checked
when it is submitted (the client hears why at once) and again when the connection is made (its
name may resolve elsewhere by then: DNS rebinding), and the connection goes to an address that
was just checked, never to the answer of a second lookup.

Refused: loopback, unspecified, private (RFC 1918, fc00::/7), link-local, the cloud metadata
addresses, the shared CGNAT range 100.64.0.0/10, multicast, reserved and anything else that is
not globally routable — each address a host resolves to, IPv4-mapped and other IPv6 forms of an
IPv4 address judged as that address — unless ``CHARGEBAY_OUTBOUND_ALLOW`` names the host, the
address or a network holding it. The URLs the operator configured (the stack's own OCPP URL)
are trusted as they are.

Lives in ``common`` because the central system (callbacks) and the simulator (csms_url) both
need it and may not import each other.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

SETTING = "CHARGEBAY_OUTBOUND_ALLOW"
WEB_SCHEMES = frozenset({"http", "https"})
WEBSOCKET_SCHEMES = frozenset({"ws", "wss"})
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses as text``: the system's resolver, or a test's stand-in."""


class OutboundRefused(ConnectionError):
    """A URL this server does not connect to; the message says why and what would allow it.

    A ``ConnectionError``: a reconnect loop that meets it at connect time logs it and retries
    later like any failed connection, instead of dying.
    """

    code = "OutboundRefused"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidUrl(OutboundRefused):
    """Not a URL of an allowed scheme with a host (checked before any lookup)."""

    code = "InvalidUrl"


class AddressNotAllowed(OutboundRefused):
    """The host resolves to an address this server does not reach for a client (or to none)."""

    code = "AddressNotAllowed"


def _networks(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# The first match names the reason; the metadata addresses come before the ranges that hold them.
_REFUSED: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("a cloud metadata address", _networks("169.254.169.254/32", "fd00:ec2::254/128",
                                           "100.100.100.200/32", "192.0.0.192/32")),
    ("unspecified (it means this host)", _networks("0.0.0.0/8", "::/128")),
    ("a loopback address", _networks("127.0.0.0/8", "::1/128")),
    ("a private address", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("a link-local address", _networks("169.254.0.0/16", "fe80::/10")),
    ("in the shared (CGNAT) range 100.64.0.0/10", _networks("100.64.0.0/10")),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: mapped, 6to4, NAT64 or IPv4-compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address) -> str | None:
    """Why this server does not connect to ``address`` for a client; None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner)
            if why is not None:
                return f"{why} ({inner})"
            if address.ipv4_mapped is not None:  # the very same destination as ``inner``
                return None
    for why, networks in _REFUSED:
        if any(address.version == net.version and address in net for net in networks):
            return why
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class AllowList:
    """The operator's exceptions: host names (exact, case-insensitive) and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """``CHARGEBAY_OUTBOUND_ALLOW``: comma-separated host names, addresses or CIDRs.

        A malformed entry raises ``ValueError`` naming it, so a typo stops the process at start
        rather than silently allowing nothing (or too much)."""
        names: set[str] = set()
        networks: list[Network] = []
        for raw in text.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not all(_LABEL.fullmatch(label) for label in entry.split(".")):
                raise ValueError(f"{SETTING}: {raw.strip()!r} is neither a host name, an address "
                                 "nor a CIDR")
            names.add(entry)
        return cls(frozenset(names), tuple(networks))

    def admits(self, host: str, address: Address) -> bool:
        if host in self.names:
            return True
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a.version == net.version and a in net for a in candidates for net in self.networks)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the system's order (numeric forms such as
    ``2130706433`` or ``0x7f.1`` resolve as the C library reads them: to 127.0.0.1)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to one of ``addresses`` (in order), or, when there are none (a
    trusted URL), as usual."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").rstrip("."), parts.port or _DEFAULT_PORTS.get(scheme, 0)


class OutboundPolicy:
    """Decides whether a client-supplied URL may be reached, and opens the connection to it.

    ``allow`` is the ``CHARGEBAY_OUTBOUND_ALLOW`` text; ``trusted`` are URLs the operator
    configured, always reachable (compared by scheme, host and port); ``resolver`` may be
    replaced by a test that needs a name to resolve differently from one lookup to the next.
    Picklable (the simulator's worker processes receive it).
    """

    def __init__(self, allow: str = "", trusted: Iterable[str] = (),
                 resolver: Resolver = system_resolver, resolve_timeout: float = 10.0) -> None:
        self.allow = AllowList.parse(allow)
        self.trusted = frozenset(_origin(url) for url in trusted)
        self.resolver = resolver
        self.resolve_timeout = resolve_timeout

    async def check(self, url: str, schemes: frozenset[str], field: str) -> Target:
        """Resolve and judge ``url``; raise :class:`OutboundRefused` (with ``field`` named)."""
        scheme, host, port = self._split(url, schemes, field)
        if (scheme, host, port) in self.trusted:
            return Target(url, scheme, host, port, ())
        addresses = await self._resolve(url, host, port, field)
        for text in addresses:
            address = ipaddress.ip_address(text)
            why = None if self.allow.admits(host, address) else refusal(address)
            if why is not None:
                where = text if host == text else f"{host} resolves to {text}, which"
                raise AddressNotAllowed(field, (
                    f"{field} {url!r} is refused: {where} is {why}. This server does not connect "
                    "to loopback, private, link-local, metadata or other non-public addresses "
                    "for a client; an operator allows one by naming the host, the address or "
                    f"its network in {SETTING} (comma-separated host names, addresses or CIDRs)"))
        return Target(url, scheme, host, port, tuple(addresses))

    async def connect(self, url: str, schemes: frozenset[str], field: str,
                      timeout: float = 10.0) -> socket.socket | None:
        """Check ``url`` now and return a TCP socket connected to one of the addresses just
        checked; None for a trusted URL (connect to it as usual)."""
        target = await self.check(url, schemes, field)
        if not target.addresses:
            return None
        return await open_socket(target.addresses, target.port, timeout)

    @staticmethod
    def _split(url: str, schemes: frozenset[str], field: str) -> tuple[str, str, int]:
        if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
            raise InvalidUrl(field, f"{field} must not contain spaces or control characters")
        try:
            scheme, host, port = _origin(url)
        except ValueError as exc:
            raise InvalidUrl(field, f"{field} {url!r} is not a valid URL: {exc}") from None
        if scheme not in schemes:
            raise InvalidUrl(field, f"{field} {url!r} is refused: its scheme must be "
                                    f"{' or '.join(sorted(schemes))}")
        if not host:
            raise InvalidUrl(field, f"{field} {url!r} names no host")
        return scheme, host, port

    async def _resolve(self, url: str, host: str, port: int, field: str) -> list[str]:
        try:
            async with asyncio.timeout(self.resolve_timeout):
                addresses = await self.resolver(host, port)
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise AddressNotAllowed(field, f"{field} {url!r} is refused: {host} does not resolve "
                                           f"({str(exc) or 'timed out'})") from None
        if not addresses:
            raise AddressNotAllowed(field, f"{field} {url!r} is refused: {host} resolves to no address")
        return addresses


async def open_socket(addresses: Sequence[str], port: int, timeout: float) -> socket.socket:
    """A non-blocking TCP socket connected to the first of ``addresses`` that answers."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    for text in addresses:
        family = socket.AF_INET6 if ":" in text else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (text, port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            failures.append(f"{text}: {str(exc) or 'timed out'}")
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise ConnectionError(f"could not connect to port {port} ({'; '.join(failures)})")
