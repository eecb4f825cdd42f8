"""The websocket port's TLS: security profiles 2 and 3, and certificates rotated without a restart.

Profile 2 is TLS with the server's certificate; profile 3 adds a client certificate that must
chain to the configured client CA (``--tls-client-ca``) and whose subject CN is the charge point
id (the 1.6 security whitepaper's rule; the CN is checked at the handshake, where the id is known).
A client certificate is optional at the TLS level so charge points at profiles 0-2 can share the
port; one that is presented and does not chain to the CA ends the TLS handshake.

TLS 1.2 at least, with the whitepaper's cipher suites for 1.2 (1.3's are all AEAD).

:class:`ReloadableContext` is what the listener holds: asyncio asks it to wrap each new
connection, and it hands that to the context loaded last, so :meth:`ServerTls.reload` (SIGHUP,
``POST /api/v1/system/tls/reload``) puts a new certificate or CA bundle in force for the next
handshake while every open connection keeps its session.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The 1.6 security whitepaper's suites for TLS 1.2 (ECDSA and RSA server keys), OpenSSL spelling.
CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",
))


def server_context(cert: Path, key: Path, client_ca: Path | None,
                   rsa: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A new server context from the files as they are now; raises (OSError, ssl.SSLError) for
    a file that is missing or does not hold what it should. ``rsa``: a second certificate and
    key of the other key type (OpenSSL holds one per type and picks by what the client offers)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    with _naming(f"{cert} / {key}"):  # OpenSSL's own message ("PEM lib") names no file
        ctx.load_cert_chain(cert, key)
    if rsa is not None:
        with _naming(f"{rsa[0]} / {rsa[1]}"):
            ctx.load_cert_chain(*rsa)
    if client_ca is not None:
        with _naming(str(client_ca)):
            ctx.load_verify_locations(cafile=str(client_ca))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


@contextlib.contextmanager
def _naming(files: str) -> Iterator[None]:
    """Say which file(s) did not load: an ssl.SSLError (an OSError) raised again with them."""
    try:
        yield
    except ssl.SSLError as exc:
        raise ssl.SSLError(exc.errno, f"{files}: {exc.reason or exc}") from exc


class ReloadableContext(ssl.SSLContext):
    """A server context whose connections are made by the context loaded last (see the module).

    asyncio only calls ``wrap_bio`` on the context it was given; everything else about this
    object is a plain, unused context.
    """

    current: ssl.SSLContext

    def __new__(cls, current: ssl.SSLContext) -> ReloadableContext:
        self = super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)
        self.current = current
        return self

    def __init__(self, current: ssl.SSLContext) -> None:
        pass  # SSLContext is set up in __new__

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        return self.current.wrap_bio(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a reload put in force."""

    certificate: str  # the server certificate's subject
    not_after: datetime
    client_ca: bool
    loaded_at: datetime
    rsa_certificate: str | None = None  # the second (RSA) certificate's subject, if any


class ServerTls:
    """The websocket port's TLS settings, reloadable from the same files."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None,
                 rsa: tuple[Path, Path] | None = None) -> None:
        self.cert, self.key, self.client_ca, self.rsa = cert, key, client_ca, rsa
        self.context = ReloadableContext(server_context(cert, key, client_ca, rsa))
        self.loaded = self._describe()

    @property
    def mutual(self) -> bool:
        """Whether client certificates are checked (security profile 3 is possible)."""
        return self.client_ca is not None

    def reload(self) -> Loaded:
        """Load the files again; the new context serves the next handshake. A file that does not
        load raises and leaves the old context in force (a rotation half done breaks nothing)."""
        self.context.current = server_context(self.cert, self.key, self.client_ca, self.rsa)
        self.loaded = self._describe()
        log.info("TLS reloaded: %s, valid until %s%s", self.loaded.certificate,
                 self.loaded.not_after.isoformat(), ", client CA " + str(self.client_ca)
                 if self.client_ca else "")
        return self.loaded

    def _describe(self) -> Loaded:
        from cryptography import x509  # only a TLS node pays the import

        from csms.timeutil import now_utc
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        second = x509.load_pem_x509_certificate(self.rsa[0].read_bytes()) if self.rsa else None
        return Loaded(cert.subject.rfc4514_string(), cert.not_valid_after_utc, self.mutual, now_utc(),
                      second.subject.rfc4514_string() if second else None)


def peer_common_name(ssl_object: ssl.SSLObject | None) -> str | None:
    """The subject CN of the client certificate a TLS connection presented (verified against
    the client CA by then), or None: no TLS, no certificate, no CN."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for pair in rdn:
            if pair[0] == "commonName":
                return str(pair[1])
    return None
