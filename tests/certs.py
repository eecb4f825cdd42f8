"""Certificates made in the tests, with the ``cryptography`` package directly (not the product's CA
code, so a bug there cannot hide in its own test): CAs, server and client certificates, CSRs,
with RSA or ECDSA keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Kind = Literal["rsa", "ec", "rsa1024", "p521"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(kind: Kind) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Ca:
    key: PrivateKey
    cert: x509.Certificate

    def write(self, folder: Path, name: str = "ca") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.pem"
        path.write_bytes(cert_pem(self.cert))
        return path

    def issue(self, cn: str, kind: Kind = "ec", server: bool = False,
              days: int = 1) -> tuple[PrivateKey, x509.Certificate]:
        key = new_key(kind)
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                         else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())

    def issue_files(self, folder: Path, cn: str, kind: Kind = "ec", server: bool = False) -> tuple[Path, Path]:
        """A certificate and its key as files: (cert, key)."""
        key, cert = self.issue(cn, kind, server)
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / f"{cn}.pem", folder / f"{cn}.key"
        cert_path.write_bytes(cert_pem(cert))
        key_path.write_bytes(key_pem(key))
        return cert_path, key_path


def new_ca(cn: str = "test CA", kind: Kind = "ec") -> Ca:
    key = new_key(kind)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Ca(key, cert)


def csr(cn: str, kind: Kind = "ec", key: PrivateKey | None = None) -> tuple[PrivateKey, str]:
    """A key and a CSR for it (PEM) with subject CN ``cn``."""
    key = key or new_key(kind)
    request = x509.CertificateSigningRequestBuilder().subject_name(_name(cn)).sign(key, hashes.SHA256())
    return key, request.public_bytes(serialization.Encoding.PEM).decode()


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A charge point's TLS: trusts ``ca``; presents ``cert`` when given (profile 3)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx
