"""Helpers of the compliance suite's security cases (TC_073-087): the keys and certificates of a
central system served over real TLS (made with ``cryptography`` through tests/certs.py, RSA and
ECDSA), charge points registered at a security profile, and websocket handshakes judged by the
HTTP status they get. The fixtures are in tests/compliance/conftest.py."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from chargebay.stack import Stack
from tests.certs import Ca, Kind, PrivateKey, cert_pem, client_context, key_pem, new_ca, new_key
from tests.csms.handshakes import admitted as admit
from tests.csms.handshakes import basic

CPO = "OCTT-CPO"  # the organisation the compliance tool puts in a charge point's certificate


@dataclass
class Pki:
    """A server certificate from a CA charge points trust, and the central system's own CA: it
    signs CSRs and client certificates must chain to it."""

    folder: Path
    server_ca: Path
    ca: Ca
    settings: dict[str, Path]  # tls_cert, tls_key, tls_client_ca, ca_cert, ca_key

    def wss(self) -> ssl.SSLContext:
        """A charge point's TLS at profile 2: trusts the server, presents nothing."""
        return client_context(self.server_ca)

    def mtls(self, cp_id: str, kind: Kind = "ec") -> ssl.SSLContext:
        """A charge point's TLS at profile 3: a client certificate for ``cp_id`` from the CA."""
        cert, key = self.ca.issue_files(self.folder / "clients", cp_id, kind)
        return client_context(self.server_ca, cert, key)

    def mtls_with(self, name: str, key: PrivateKey, chain: str) -> ssl.SSLContext:
        """Profile 3 TLS presenting ``chain`` (PEM, leaf first) with its ``key``."""
        cert_path, key_path = self.folder / f"{name}.chain.pem", self.folder / f"{name}.key"
        cert_path.write_text(chain)
        key_path.write_bytes(key_pem(key))
        return client_context(self.server_ca, cert_path, key_path)


def make_pki(folder: Path) -> Pki:
    servers, ca = new_ca("OCTT server CA"), new_ca("chargebay test CA", "rsa")
    tls_cert, tls_key = servers.issue_files(folder / "server", "127.0.0.1", "ec", server=True)
    ca_cert = ca.write(folder, "csms-ca")
    ca_key = folder / "csms-ca.key"
    ca_key.write_bytes(key_pem(ca.key))
    settings = {"tls_cert": tls_cert, "tls_key": tls_key, "tls_client_ca": ca_cert, "ca_cert": ca_cert,
                "ca_key": ca_key}
    return Pki(folder, servers.write(folder, "server-ca"), ca, settings)


def signing_request(cp_id: str, kind: Kind) -> tuple[PrivateKey, str]:
    """A new key and a CSR for it as the compliance tool makes one: CN the id, O the CPO."""
    key = new_key(kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cp_id),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, CPO)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return key, request.public_bytes(serialization.Encoding.PEM).decode()


def pem_chain(chain: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain.encode())


def root_pem(cn: str, kind: Kind = "ec") -> str:
    """A root certificate's PEM (what InstallCertificate carries)."""
    return cert_pem(new_ca(cn, kind).cert).decode()


basic_auth = basic  # the Authorization header of profiles 1 and 2: ``Basic base64(id:password)``


async def admitted(stack: Stack, cp_id: str, password: str | None = None,
                   tls: ssl.SSLContext | None = None) -> int:
    """101 when the central system takes the websocket handshake, else its refusal's HTTP status."""
    return await admit(stack.ws_url, cp_id, password, tls)


async def register(client: httpx.AsyncClient, cp_id: str, profile: int, password: str | None = None) -> None:
    """A charge point the central system knows, at ``profile`` (with ``password`` for 1 and 2)."""
    r = await client.post("/api/v1/charge-points", json={"id": cp_id, "password": password})
    assert r.status_code == 201, r.text
    r = await client.patch(f"/api/v1/charge-points/{cp_id}", json={"security_profile": profile})
    assert r.status_code == 200 and r.json()["security_profile"] == profile, r.text


async def shown(client: httpx.AsyncClient, cp_id: str) -> dict[str, Any]:
    """The charge point as GET /api/v1/charge-points/{id} shows it."""
    r = await client.get(f"/api/v1/charge-points/{cp_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
