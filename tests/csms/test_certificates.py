"""The central system's CA (issue #15 item 5; OCTT TC_074, TC_077): a CSR in, a signed chain out
by CertificateSigned; CSRs the whitepaper does not allow are rejected; renewal; the
``chargebay ca`` commands a new user runs for profiles 2 and 3, end to end."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.routing import on
from ocpp.v16 import call, call_result

from chargebay.stack import Stack, running
from tests.api.auth_helpers import ADMIN
from tests.api.full_cp import eventually
from tests.certs import Kind, client_context, csr
from tests.conftest import make_settings
from tests.helpers import rows
from tests.ocpp_client import TestChargePoint, connect

# The 1.6 security whitepaper's TLS 1.2 suites, OpenSSL spelling: ECDSA, then RSA key exchange
WHITEPAPER_SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                     "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                     "AES128-GCM-SHA256", "AES256-GCM-SHA384")
BUDGET = 30.0
CLI = [sys.executable, "-m", "chargebay.cli"]


class Station(TestChargePoint):
    """Keeps the chains it is sent (answering ``verdict``); a trigger for a new certificate makes
    it send a new CSR, as a real charge point does."""

    verdict = "Accepted"

    def __init__(self, cp_id: str, ws: Any) -> None:
        super().__init__(cp_id, ws)
        self.chains: list[str] = []
        self.kind: Kind = "ec"

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str) -> Any:
        self.chains.append(certificate_chain)
        return call_result.CertificateSigned(status=self.verdict)

    @on("ExtendedTriggerMessage")
    def on_trigger(self, requested_message: str, **_: Any) -> Any:
        self.received.append(("ExtendedTriggerMessage", {"requested_message": requested_message}))
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.request()))
        return call_result.ExtendedTriggerMessage(status="Accepted")

    async def request(self, pem: str | None = None) -> str:
        answer = await self.call(call.SignCertificate(csr=pem or csr(self.id, self.kind)[1]))
        return str(answer.status)


def ca_init(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "ca", "init"], env={**os.environ, "CHARGEBAY_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
async def ca_stack(db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    assert ca_init(tmp_path).returncode == 0
    async with running(make_settings(db_url, data_dir=tmp_path), migrate=False) as stack:
        yield stack


def pems(chain: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain.encode())


async def listed(stack: Stack, cp_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.get("/api/v1/certificates", params={"charge_point_id": cp_id})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("kind", "key_type"), [("ec", "EC-P256"), ("rsa", "RSA-2048")])
async def test_tc_074_a_csr_comes_back_signed_with_the_chain(ca_stack: Stack, tmp_path: Path,
                                                             kind: Kind, key_type: str) -> None:
    ca = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    cp = f"CP-CSR-{kind}"
    async with asyncio.timeout(BUDGET), connect(ca_stack.ws_url, cp, cls=Station) as station:
        key, pem = csr(cp, kind)
        assert await station.request(pem) == "Accepted"
        [chain] = await eventually(lambda: asyncio.sleep(0, station.chains), timeout=10)
        leaf, issuer = pems(chain)
        assert issuer == ca
        leaf.verify_directly_issued_by(ca)
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cp
        assert leaf.public_key() == key.public_key()
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
        [row] = await eventually(lambda: listed(ca_stack, cp))
        await eventually(lambda: listed_status(ca_stack, cp, "Accepted"))
        assert (row["serial"], row["key_type"]) == (format(leaf.serial_number, "x"), key_type)
        async with httpx.AsyncClient(base_url=ca_stack.http_url, headers=ADMIN, timeout=10) as client:
            detail = (await client.get(f"/api/v1/certificates/{row['serial']}")).json()
        assert pems(detail["certificate"]) == [leaf]


async def listed_status(stack: Stack, cp_id: str, status: str) -> bool:
    return [c["status"] for c in await listed(stack, cp_id)] == [status]


def _tampered(cp: str) -> str:
    _, pem = csr(cp)
    body = pem.splitlines()
    middle = len(body) // 2
    line = body[middle]
    body[middle] = line[:10] + ("A" if line[10] != "A" else "B") + line[11:]
    return "\n".join(body) + "\n"


@pytest.mark.parametrize("case", ["other-cn", "rsa1024", "p521", "garbage", "tampered"])
async def test_csrs_the_whitepaper_does_not_allow_are_rejected(ca_stack: Stack, case: str) -> None:
    cp = f"CP-BAD-{case}"
    pem = {"other-cn": lambda: csr("CP-SOMEONE-ELSE")[1], "rsa1024": lambda: csr(cp, "rsa1024")[1],
           "p521": lambda: csr(cp, "p521")[1], "garbage": lambda: "-----BEGIN CSR-----\nnot one\n",
           "tampered": lambda: _tampered(cp)}[case]()
    async with asyncio.timeout(BUDGET), connect(ca_stack.ws_url, cp, cls=Station) as station:
        assert await station.request(pem) == "Rejected"
        await asyncio.sleep(0.2)  # nothing is on its way
        assert station.chains == []
    assert await listed(ca_stack, cp) == []
    events = await rows(ca_stack, "SELECT type, tech_info FROM security_events WHERE charge_point_id = :cp", cp=cp)
    assert [e["type"] for e in events] == ["InvalidCsr"] and events[0]["tech_info"].startswith("CSR refused")


async def test_tc_077_renewal_asks_for_a_new_csr_and_a_rejected_chain_is_recorded(ca_stack: Stack) -> None:
    cp = "CP-RENEW"
    async with (asyncio.timeout(BUDGET), connect(ca_stack.ws_url, cp, cls=Station) as station,
                httpx.AsyncClient(base_url=ca_stack.http_url, headers=ADMIN, timeout=10) as client):
        assert await station.request() == "Accepted"
        await eventually(lambda: listed_status(ca_stack, cp, "Accepted"), timeout=10)
        station.verdict = "Rejected"
        r = await client.post(f"/api/v1/charge-points/{cp}/certificates/renew")
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert station.received[-1] == ("ExtendedTriggerMessage",
                                        {"requested_message": "SignChargePointCertificate"})
        await eventually(lambda: asyncio.sleep(0, len(station.chains) == 2), timeout=10)

        async def both() -> bool:
            return [c["status"] for c in await listed(ca_stack, cp)] == ["Rejected", "Accepted"]
        assert await eventually(both, timeout=10)
        first, second = (pems(c)[0].serial_number for c in station.chains)
        assert first != second


async def test_without_a_ca_renewal_says_how_to_make_one(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.post("/api/v1/charge-points/CP-X/certificates/renew")
    assert r.status_code == 409 and r.json()["code"] == "NoCertificateAuthority"
    assert "chargebay ca init" in r.json()["message"]


async def test_the_readme_way_to_profile_3(db_url: str, tmp_path: Path) -> None:
    """`chargebay ca init`, `ca issue-server` (ECDSA, and RSA beside it), `ca issue-client`, then
    serve with them: a charge point at profile 3 with the issued certificate gets in, over each
    of the whitepaper's TLS 1.2 suites (the RSA ones served by the RSA certificate) and TLS 1.3.
    `ca init` never replaces a CA."""
    env = {**os.environ, "CHARGEBAY_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "ca", *args], env=env, capture_output=True, text=True, timeout=60)

    assert cli("init").returncode == 0
    key_before = (tmp_path / "ca" / "ca.key").read_bytes()
    again = cli("init")
    assert again.returncode == 1 and "exists" in again.stderr
    assert (tmp_path / "ca" / "ca.key").read_bytes() == key_before
    assert oct((tmp_path / "ca" / "ca.key").stat().st_mode & 0o777) == "0o600"
    tls = tmp_path / "tls"
    assert cli("issue-server", "--out", str(tls), "--host", "127.0.0.1").returncode == 0
    rsa = cli("issue-server", "--out", str(tls), "--host", "127.0.0.1", "--key-type", "rsa")
    assert rsa.returncode == 0 and "--tls-rsa-cert" in rsa.stdout, rsa.stderr
    assert cli("issue-client", "CP-README", "--out", str(tls)).returncode == 0
    ca = tmp_path / "ca" / "ca.pem"
    settings = make_settings(db_url, data_dir=tmp_path, tls_cert=tls / "server.pem",
                             tls_key=tls / "server.key", tls_client_ca=ca,
                             tls_rsa_cert=tls / "server-rsa.pem", tls_rsa_key=tls / "server-rsa.key")
    async with asyncio.timeout(BUDGET), running(settings, migrate=False) as stack:
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
            r = await client.post("/api/v1/charge-points", json={"id": "CP-README"})
            assert r.status_code == 201, r.text
            r = await client.patch("/api/v1/charge-points/CP-README", json={"security_profile": 3})
            assert r.status_code == 200 and r.json()["security_profile"] == 3, r.text
            r = await client.get("/api/v1/system/tls")
            assert r.json()["rsa_certificate"] == "CN=127.0.0.1", r.text
        for suite in (*WHITEPAPER_SUITES, None):  # None: TLS 1.3
            ctx = client_context(ca, tls / "CP-README.pem", tls / "CP-README.key")
            if suite is not None:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers(suite)
            async with connect(stack.ws_url, "CP-README", ssl=ctx) as station:
                answer = await station.call(call.BootNotification(charge_point_vendor="Acme",
                                                                  charge_point_model="Wall-22"))
                assert answer.status == "Accepted"
                negotiated = station._connection.transport.get_extra_info("ssl_object").cipher()
                assert negotiated[0] == (suite or negotiated[0]) and negotiated[1] == (
                    "TLSv1.2" if suite else "TLSv1.3"), negotiated
