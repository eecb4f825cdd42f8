"""The central system's certificate authority: charge point certificates from their CSRs
(SignCertificate → CertificateSigned, TC_074/077), and the certificates an operator needs to run
security profiles 2 and 3 (``chargebay ca``).

:class:`CertificateAuthority` is the plug-in point: :class:`LocalCA` signs with a key on disk
(``chargebay ca init``, or ``CHARGEBAY_CA_CERT``/``CHARGEBAY_CA_KEY`` naming existing ones); an
external CA (a PKI's REST API, an HSM) is any object with the same ``sign`` (returning an
:class:`Issued`: the leaf, and the chain the charge point installs), set as ``CentralSystem.ca``,
which a reload then leaves in place. A CSR is judged here, before any CA sees it (:func:`check_csr`), so every
CA gets only requests the whitepaper allows.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MIN_RSA_BITS = 2048
CURVES = {"secp256r1": "P256", "secp384r1": "P384"}
PEM = serialization.Encoding.PEM


class CsrRefused(ValueError):
    """A CSR the central system will not have signed; the message says why."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A signed certificate: the leaf, and the chain a charge point installs (leaf first)."""

    certificate: str
    chain: str
    serial: str  # hex
    subject: str
    key_type: str
    not_before: dt.datetime
    not_after: dt.datetime


class CertificateAuthority(Protocol):
    """Signs a checked CSR for a charge point (see the module)."""

    def sign(self, csr: x509.CertificateSigningRequest, charge_point_id: str) -> Issued: ...


def key_type(key: object) -> str:
    """``RSA-2048``, ``EC-P256``, ...; CsrRefused for a key the whitepaper does not allow."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused(f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            raise CsrRefused(f"an EC key on {key.curve.name} (P-256 or P-384 only)")
        return f"EC-{CURVES[key.curve.name]}"
    raise CsrRefused(f"a {type(key).__name__} key (RSA or ECDSA only)")


def check_csr(pem: str, charge_point_id: str) -> tuple[x509.CertificateSigningRequest, str]:
    """Parse and judge a CSR: its signature, its key, its CN (the charge point id). Returns it
    with its key type; CsrRefused says what is wrong."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise CsrRefused(f"not a PEM certificate signing request ({exc})") from None
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise CsrRefused("its signature does not verify")
    kind = key_type(csr.public_key())
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else None
    if common_name != charge_point_id:
        raise CsrRefused(f"its subject CN is {common_name!r}, not the charge point id {charge_point_id!r}")
    return csr, kind


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def init_ca(cert: Path, key: Path, name: str = "chargebay CA", days: int = 3650) -> x509.Certificate:
    """Create a CA key (ECDSA P-256) and its self-signed certificate; FileExistsError if either
    file exists (a CA is replaced on purpose only: every certificate it issued dies with it)."""
    for path in (cert, key):
        if path.exists():
            raise FileExistsError(path)
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()),
                                  critical=False)
                   .sign(private, hashes.SHA256()))
    _write(key, _key_pem(private), private=True)
    _write(cert, certificate.public_bytes(PEM), private=False)
    return certificate


class LocalCA:
    """A CA whose key is a file (see the module)."""

    def __init__(self, cert: Path, key: Path, days: int = 365) -> None:
        self.cert_path, self.key_path, self.days = cert, key, days
        self._bundle = cert.read_text()  # the CA certificate, and its own chain if it has one
        self.certificate = x509.load_pem_x509_certificate(self._bundle.encode())
        loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key}: an RSA or EC key is needed")
        self._key = loaded

    def _build(self, subject: x509.Name, public_key: object, days: int,
               usage: x509.ObjectIdentifier,
               names: list[x509.GeneralName]) -> x509.Certificate:
        now = _now()
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(self.certificate.subject).public_key(public_key)  # type: ignore[arg-type]
                   .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(min(now + dt.timedelta(days=days), self.certificate.not_valid_after_utc))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, True, False, True, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self._key, hashes.SHA256())

    def sign(self, csr: x509.CertificateSigningRequest, charge_point_id: str) -> Issued:
        """A client certificate for a checked CSR (:func:`check_csr`): its subject, CN the id."""
        cert = self._build(csr.subject, csr.public_key(), self.days, ExtendedKeyUsageOID.CLIENT_AUTH, [])
        return self._issued(cert)

    def _issued(self, cert: x509.Certificate) -> Issued:
        leaf = _pem(cert)
        return Issued(leaf, leaf + self._bundle, format(cert.serial_number, "x"),
                      cert.subject.rfc4514_string(), key_type(cert.public_key()),
                      cert.not_valid_before_utc, cert.not_valid_after_utc)

    def issue(self, common_name: str, server: bool, hosts: list[str] | None = None,
              days: int | None = None, key_type: str = "ec") -> tuple[bytes, Issued]:
        """A new key (ECDSA P-256, or ``key_type`` "rsa": RSA 3072) and its certificate: a
        server's (``hosts``: the names and addresses it is reached at) or a charge point's for
        profile 3 (CN its id). Returns the key's PEM."""
        private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=3072) if key_type == "rsa"
            else ec.generate_private_key(ec.SECP256R1()))
        names: list[x509.GeneralName] = []
        for host in hosts or []:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = self._build(subject, private.public_key(), days or self.days, usage, names)
        return _key_pem(private), self._issued(cert)


def write_issued(key_pem: bytes, issued: Issued, key: Path, cert: Path) -> None:
    """Save what :meth:`LocalCA.issue` made: the key (mode 600) and the chain."""
    _write(key, key_pem, private=True)
    _write(cert, issued.chain.encode(), private=False)
