"""OCTT 1.6 CSMS test cases, Security profile (security whitepaper), certificates, logs and secure
firmware: TC_074 and TC_077 (a CSR answered by the central system's CA with a CertificateSigned
chain, over real mutual TLS at security profile 3), TC_075 and TC_076 (InstallCertificate,
GetInstalledCertificateIds and DeleteCertificate with the hash data exactly as the charge point
reported it, SHA256/384/512), TC_078 (security events), TC_079 (GetLog), TC_080 and TC_081
(SignedUpdateFirmware). The charge point's side is scripted by
:class:`tests.compliance.station.Station`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.full_cp import eventually
from tests.certs import Kind, PrivateKey
from tests.compliance.flows import at, charge_point, commands_of, connector_statuses, reports, security_events, snake
from tests.compliance.secure import CPO, Pki, pem_chain, register, root_pem, signing_request
from tests.compliance.station import Station, command, operator, station

BUDGET = 30.0
HASHES: dict[str, hashes.HashAlgorithm] = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(),
                                           "SHA512": hashes.SHA512()}


# -- TC_074, TC_077: a new charge point certificate from the central system's CA --------------------
async def certificates(client: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/certificates", params={"charge_point_id": cp_id})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def renewed(stack: Stack, pki: Pki, cp: Station, kind: Kind) -> tuple[PrivateKey, x509.Certificate]:
    """ExtendedTriggerMessage SignChargePointCertificate over REST; the station answers it with a
    SignCertificate (a new key, CN its id, O the CPO), Accepted; the CertificateSigned it gets is
    checked: leaf first, issued by the central system's CA for that key and id. (key, leaf)."""
    key, csr = signing_request(cp.id, kind)
    signed: list[str] = []

    async def sign_certificate(st: Station, _: dict[str, Any]) -> None:
        signed.append((await st.call(call.SignCertificate(csr=csr))).status)
    cp.after["ExtendedTriggerMessage"] = sign_certificate
    async with operator(stack) as client:
        r = await client.post(f"/api/v1/charge-points/{cp.id}/certificates/renew")
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
    assert cp.got("ExtendedTriggerMessage") == [{"requested_message": "SignChargePointCertificate"}]
    [chain] = await eventually(lambda: asyncio.sleep(0, cp.got("CertificateSigned")), timeout=10)
    assert signed == ["Accepted"]
    leaf, issuer = pem_chain(chain["certificate_chain"])
    assert issuer == pki.ca.cert
    leaf.verify_directly_issued_by(pki.ca.cert)
    assert leaf.public_key() == key.public_key()
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cp.id
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO
    assert ExtendedKeyUsageOID.CLIENT_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    return key, leaf


async def certificate_status(stack: Stack, cp_id: str, leaf: x509.Certificate, status: str) -> None:
    """The issued certificate is listed once, with the charge point's answer as its status."""
    expected = [(format(leaf.serial_number, "x"), status)]

    async def listed() -> list[tuple[str, str]]:
        async with operator(stack) as client:
            return [(c["serial"], c["status"]) for c in await certificates(client, cp_id)]

    async def as_expected() -> bool:
        return await listed() == expected
    assert await eventually(as_expected, timeout=10), await listed()


async def test_tc_074_csms_update_charge_point_certificate_by_request_of_central_system(
        secure_stack: Stack, octt_pki: Pki) -> None:
    cp_id = "TC074"
    async with asyncio.timeout(BUDGET):
        async with operator(secure_stack) as client:
            await register(client, cp_id, 3)
        async with station(secure_stack, cp_id, ssl=octt_pki.mtls(cp_id, "rsa")) as cp:
            await cp.boot()
            key, leaf = await renewed(secure_stack, octt_pki, cp, "ec")
            # still connected: the station records CertificateSigned before its answer is on the
            # wire, and a charge point that hangs up unanswered leaves the certificate Failed
            await certificate_status(secure_stack, cp_id, leaf, "Accepted")
        chain = cp.got("CertificateSigned")[0]["certificate_chain"]
        async with station(secure_stack, cp_id, ssl=octt_pki.mtls_with(cp_id, key, chain)) as cp:
            assert (await cp.boot()).status == "Accepted"  # mutual TLS with the new certificate only
    assert (await charge_point(secure_stack, cp_id))["security_profile"] == 3


async def test_tc_077_csms_invalid_charge_point_certificate_security_event(
        secure_stack: Stack, octt_pki: Pki) -> None:
    cp_id = "TC077"

    async def invalid_certificate(st: Station, _: dict[str, Any]) -> None:
        await st.call(call.SecurityEventNotification(type="InvalidChargePointCertificate", timestamp=at(),
                                                     tech_info="chain does not match the key"))
    async with asyncio.timeout(BUDGET), operator(secure_stack) as client:
        await register(client, cp_id, 3)
        async with station(secure_stack, cp_id, ssl=octt_pki.mtls(cp_id)) as cp:
            await cp.boot()
            cp.answers["CertificateSigned"] = {"status": "Rejected"}
            cp.after["CertificateSigned"] = invalid_certificate
            _, leaf = await renewed(secure_stack, octt_pki, cp, "rsa")
            await certificate_status(secure_stack, cp_id, leaf, "Rejected")

            async def reported() -> list[tuple[str, str, str]]:
                return [(e["type"], e["source"], e["tech_info"]) for e in await security_events(client, cp_id)]
            assert await eventually(reported, timeout=5) == [
                ("InvalidChargePointCertificate", "charge_point", "chain does not match the key")]
        [signed] = await commands_of(client, cp_id, "CertificateSigned")
    assert (signed["status"], signed["response"]) == ("result", {"status": "Rejected"})


# -- TC_075, TC_076, TC_078: certificates installed on the charge point -----------------------------
class CertificateStore:
    """A charge point's installed certificates: answers InstallCertificate (Rejected for a PEM that
    is not a certificate), GetInstalledCertificateIds and DeleteCertificate, its hash data made with
    ``algorithm`` as the whitepaper defines it."""

    def __init__(self, cp: Station, algorithm: str = "SHA256") -> None:
        self.algorithm = algorithm
        self.installed: list[tuple[str, dict[str, str]]] = []
        cp.answers.update({"InstallCertificate": self.install, "GetInstalledCertificateIds": self.ids,
                           "DeleteCertificate": self.delete})

    def hash_data(self, cert: x509.Certificate) -> dict[str, str]:
        def digest(data: bytes) -> str:
            h = hashes.Hash(HASHES[self.algorithm])
            h.update(data)
            return h.finalize().hex()
        key = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"hash_algorithm": self.algorithm, "issuer_name_hash": digest(cert.issuer.public_bytes()),
                "issuer_key_hash": digest(key), "serial_number": format(cert.serial_number, "x")}

    def install(self, p: dict[str, Any]) -> dict[str, Any]:
        try:
            cert = x509.load_pem_x509_certificate(p["certificate"].encode())
        except ValueError:
            return {"status": "Rejected"}
        self.installed.append((p["certificate_type"], self.hash_data(cert)))
        return {"status": "Accepted"}

    def ids(self, p: dict[str, Any]) -> dict[str, Any]:
        found = [data for kind, data in self.installed if kind == p["certificate_type"]]
        return {"status": "Accepted", "certificate_hash_data": found} if found else {"status": "NotFound"}

    def delete(self, p: dict[str, Any]) -> dict[str, Any]:
        kept = [(k, d) for k, d in self.installed if d != p["certificate_hash_data"]]
        status = "Accepted" if len(kept) < len(self.installed) else "NotFound"
        self.installed = kept
        return {"status": status}


async def install_and_list(client: httpx.AsyncClient, cp: Station, store: CertificateStore,
                           certificate_type: str) -> dict[str, Any]:
    """InstallCertificate of a new root (Accepted), then GetInstalledCertificateIds of its type:
    the hash data the charge point reported, as the central system recorded it."""
    install = {"certificateType": certificate_type, "certificate": root_pem(f"OCTT {certificate_type}")}
    assert await command(client, cp.id, "InstallCertificate", install) == {"status": "Accepted"}
    assert cp.got("InstallCertificate")[-1] == snake(install)
    listed = await command(client, cp.id, "GetInstalledCertificateIds", {"certificateType": certificate_type})
    [data] = listed["certificateHashData"]
    assert listed == {"status": "Accepted", "certificateHashData": [data]}
    assert snake(data) == store.installed[-1][1]
    recorded = (await commands_of(client, cp.id, "GetInstalledCertificateIds"))[-1]
    assert (recorded["status"], recorded["response"]) == ("result", listed)  # the central system keeps it
    return data  # type: ignore[no-any-return]


async def installed_root(stack: Stack, cp_id: str, certificate_type: str) -> None:
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        store = CertificateStore(cp)
        data = await install_and_list(client, cp, store, certificate_type)
        assert data["hashAlgorithm"] == "SHA256" and len(data["issuerNameHash"]) == 64


async def test_tc_075_1_csms_install_a_certificate_manufacturer_root_certificate(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await installed_root(stack, "TC075-1", "ManufacturerRootCertificate")


async def test_tc_075_2_csms_install_a_certificate_central_system_root_certificate(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        await installed_root(stack, "TC075-2", "CentralSystemRootCertificate")


async def test_tc_076_csms_delete_a_specific_certificate_from_the_charge_point(stack: Stack) -> None:
    kind = {"certificateType": "CentralSystemRootCertificate"}
    async with asyncio.timeout(BUDGET), station(stack, "TC076") as cp, operator(stack) as client:
        await cp.boot()
        store = CertificateStore(cp)
        for algorithm in HASHES:
            store.algorithm = algorithm
            data = await install_and_list(client, cp, store, kind["certificateType"])
            assert data["hashAlgorithm"] == algorithm
            deleted = await command(client, "TC076", "DeleteCertificate", {"certificateHashData": data})
            assert deleted == {"status": "Accepted"}
            assert cp.got("DeleteCertificate")[-1] == {"certificate_hash_data": snake(data)}  # exactly as reported
            assert await command(client, "TC076", "GetInstalledCertificateIds", kind) == {"status": "NotFound"}
        assert store.installed == []


async def test_tc_078_csms_invalid_central_system_certificate_security_event(stack: Stack) -> None:
    invalid = {"certificateType": "CentralSystemRootCertificate",
               "certificate": "-----BEGIN CERTIFICATE-----\nTk9UIEEgQ0VSVElGSUNBVEU=\n-----END CERTIFICATE-----\n"}
    async with asyncio.timeout(BUDGET), station(stack, "TC078") as cp, operator(stack) as client:
        await cp.boot()
        CertificateStore(cp)
        assert await command(client, "TC078", "InstallCertificate", invalid) == {"status": "Rejected"}
        assert cp.got("InstallCertificate") == [snake(invalid)]
        event = call.SecurityEventNotification(type="InvalidCentralSystemCertificate", timestamp=at(-1),
                                               tech_info="InstallCertificate: not a certificate")
        assert await cp.call(event) is not None
        [stored] = await security_events(client, "TC078")
    assert (stored["type"], stored["source"], stored["tech_info"]) == (
        "InvalidCentralSystemCertificate", "charge_point", "InstallCertificate: not a certificate")
    assert stored["timestamp"][:19] == event.timestamp[:19]


# -- TC_079: security log ---------------------------------------------------------------------------
async def test_tc_079_csms_get_security_log(stack: Stack) -> None:
    request = {"logType": "SecurityLog", "requestId": 79, "retries": 1, "retryInterval": 60,
               "log": {"remoteLocation": "https://logs.example.com/octt/upload"}}
    async with asyncio.timeout(BUDGET), station(stack, "TC079") as cp, operator(stack) as client:
        await cp.boot()
        cp.answers["GetLog"] = {"status": "Accepted", "filename": "security-log-79.txt"}
        assert await command(client, "TC079", "GetLog", request) == {"status": "Accepted",
                                                                      "filename": "security-log-79.txt"}
        assert cp.got("GetLog") == [snake(request)]
        for status in ("Uploading", "Uploaded"):
            assert await cp.call(call.LogStatusNotification(status=status, request_id=79)) is not None
    assert await reports(stack, "TC079", "log") == [("Uploading", 79), ("Uploaded", 79)]


# -- TC_080, TC_081: secure firmware update ---------------------------------------------------------
def signed_update(request_id: int) -> dict[str, Any]:
    return {"requestId": request_id, "retries": 1, "retryInterval": 60, "firmware": {
        "location": "https://firmware.example.com/octt/signed-2.0.bin", "retrieveDateTime": at(),
        "installDateTime": at(60), "signingCertificate": root_pem("OCTT firmware signer"),
        "signature": "MEUCIQDw3f0e2Wl6o0c5b8mF0c1rY3pZkX2oVhQe7y1Qm4b6VgIgS2cJ9r8kZx4Vn0p1L5t7w9Qa3s6d8f0g2h4j6k8l0m="}}


async def signed_status(cp: Station, request_id: int, *statuses: str) -> None:
    for status in statuses:
        assert await cp.call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id)) is not None


async def signed_firmware_update(stack: Stack, cp: Station, request_id: int, *statuses: str) -> None:
    """SignedUpdateFirmware Accepted, then SignedFirmwareStatusNotification of each status."""
    update = signed_update(request_id)
    async with operator(stack) as client:
        assert await command(client, cp.id, "SignedUpdateFirmware", update) == {"status": "Accepted"}
    assert cp.got("SignedUpdateFirmware") == [snake(update)]
    await signed_status(cp, request_id, *statuses)


async def test_tc_080_csms_secure_firmware_update(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        async with station(stack, "TC080") as cp:
            await cp.boot()
            await signed_firmware_update(stack, cp, 80, "Downloading", "Downloaded", "SignatureVerified")
            await cp.status(0, "Unavailable")
            await signed_status(cp, 80, "Installing", "InstallRebooting")
            assert (await charge_point(stack, "TC080"))["firmware_status"] == "InstallRebooting"
        async with station(stack, "TC080") as cp:  # rebooted with the new firmware
            boot = call.BootNotification(charge_point_vendor="OCTT", charge_point_model="Sim-16")
            assert (await cp.call(boot)).status == "Accepted"
            assert await cp.call(call.SecurityEventNotification(
                type="FirmwareUpdated", timestamp=at(), tech_info="firmware 2.0 installed")) is not None
            await cp.status(0, "Available")
            await signed_status(cp, 80, "Installed")
        async with operator(stack) as client:
            assert [(e["type"], e["source"]) for e in await security_events(client, "TC080")] == [
                ("FirmwareUpdated", "charge_point")]
    assert await reports(stack, "TC080", "signed_firmware") == [(s, 80) for s in (
        "Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed")]
    assert (await charge_point(stack, "TC080"))["firmware_status"] == "Installed"
    assert (0, "Available") in await connector_statuses(stack, "TC080")


async def test_tc_081_csms_secure_firmware_update_invalid_signature(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC081") as cp:
        await cp.boot()
        await signed_firmware_update(stack, cp, 81, "Downloading", "Downloaded", "InvalidSignature")
    assert await reports(stack, "TC081", "signed_firmware") == [
        ("Downloading", 81), ("Downloaded", 81), ("InvalidSignature", 81)]
    assert (await charge_point(stack, "TC081"))["firmware_status"] == "InvalidSignature"
