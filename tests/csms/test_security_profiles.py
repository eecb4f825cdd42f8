"""Security profiles 0-3 at the handshake, password rotation and profile upgrade over OCPP
(issue #15 items 1-4, 8; OCTT TC_073, TC_083, TC_085-087), over real TLS sockets with
certificates made in the test (RSA and ECDSA), charge points written with the ``ocpp`` library
and ``websockets`` directly."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from websockets.exceptions import InvalidMessage

from chargebay.stack import Stack, running
from tests.api.auth_helpers import ADMIN
from tests.api.full_cp import eventually
from tests.certs import Kind, client_context, new_ca
from tests.conftest import make_settings
from tests.csms.handshakes import admitted, basic
from tests.helpers import rows
from tests.ocpp_client import TestChargePoint, connect

BUDGET = 30.0
BOOT = call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall-22")
PASSWORD = "first-password-0001"
# how a client sees the server end the TLS handshake: an alert, or (TLS 1.3, where the client
# certificate is judged after the client's side is done) the connection closing before the HTTP reply
TLS_ENDED = (ssl.SSLError, ConnectionError, EOFError, InvalidMessage)


class SecureChargePoint(TestChargePoint):
    """Answers ChangeConfiguration with ``answer`` (after ``delay`` s) and Reset Accepted,
    recording what it was sent."""

    answer = "Accepted"
    delay = 0.0

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str) -> Any:
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        await asyncio.sleep(self.delay)
        return call_result.ChangeConfiguration(status=self.answer)

    @on("Reset")
    def on_reset(self, type: str) -> Any:  # noqa: A002 (the OCPP field's name)
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")


@dataclass
class Pki:
    server_ca: Path  # what charge points trust
    client_ca: Path  # what the central system trusts client certificates by
    folder: Path
    clients: Any  # the client CA, to issue certificates with

    def client(self, cn: str, kind: Kind = "ec") -> tuple[Path, Path]:
        return self.clients.issue_files(self.folder / "clients", cn, kind)  # type: ignore[no-any-return]


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Pki, dict[str, Any]]:
    servers, clients = new_ca("server CA"), new_ca("charge point CA", "rsa")
    cert, key = servers.issue_files(tmp_path / "server", "127.0.0.1", "ec", server=True)
    client_ca = clients.write(tmp_path, "client-ca")
    return (Pki(servers.write(tmp_path, "server-ca"), client_ca, tmp_path, clients),
            {"tls_cert": cert, "tls_key": key, "tls_client_ca": client_ca})


@pytest.fixture
async def tls_stack(db_url: str, pki: tuple[Pki, dict[str, Any]]) -> AsyncIterator[Stack]:
    async with running(make_settings(db_url, **pki[1]), migrate=False) as stack:
        yield stack


@contextlib.asynccontextmanager
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=15) as client:
        yield client


async def register(client: httpx.AsyncClient, cp_id: str, password: str | None = PASSWORD,
                   profile: int = 0) -> None:
    r = await client.post("/api/v1/charge-points", json={"id": cp_id, "password": password})
    assert r.status_code == 201, r.text
    if profile:
        r = await client.patch(f"/api/v1/charge-points/{cp_id}", json={"security_profile": profile})
        assert r.status_code == 200 and r.json()["security_profile"] == profile, r.text


async def events_of(stack: Stack, cp_id: str) -> list[tuple[str, str]]:
    async with api(stack) as client:
        r = await client.get(f"/api/v1/charge-points/{cp_id}/security-events")
    assert r.status_code == 200, r.text
    return [(e["type"], e["source"]) for e in r.json()["items"]]


# -- profiles at the handshake --------------------------------------------------------------------
async def test_profile_1_needs_basic_auth_and_2_or_3_cannot_be_set_without_tls(stack: Stack) -> None:
    """On a ws:// central system: profile 1 needs the password (401 without); profiles 2 and 3
    cannot be set (no charge point could connect at them: 409); each refusal is a security event."""
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-P1", profile=1)
        await register(client, "CP-P1-NOPW", password=None)
        r = await client.patch("/api/v1/charge-points/CP-P1-NOPW", json={"security_profile": 1})
        assert r.status_code == 409 and r.json()["code"] == "PasswordRequired"  # it would be locked out
        r = await client.patch("/api/v1/charge-points/CP-P1", json={"password": None})
        assert r.status_code == 409 and r.json()["code"] == "PasswordRequired"
        for profile in (2, 3):
            r = await client.patch("/api/v1/charge-points/CP-P1", json={"security_profile": profile})
            assert (r.status_code, r.json()["code"]) == (409, "TlsRequired"), r.text
        assert (await client.get("/api/v1/charge-points/CP-P1")).json()["security_profile"] == 1
        assert await admitted(stack.ws_url, "CP-P1") == 401
        assert await admitted(stack.ws_url, "CP-P1", "wrong-password-0001") == 401
        assert await admitted(stack.ws_url, "CP-P1", PASSWORD) == 101
        assert await admitted(stack.ws_url, "CP-P1-NOPW") == 101  # still profile 0
        # two refusals of one kind within EVERY seconds: one record (a storm is not a flood of rows)
        assert await events_of(stack, "CP-P1") == [("InvalidChargePointCredentials", "central_system")]


async def test_profile_3_cannot_be_set_without_a_client_ca(db_url: str, pki: tuple[Pki, dict[str, Any]]) -> None:
    server_only = {k: v for k, v in pki[1].items() if k != "tls_client_ca"}
    async with asyncio.timeout(BUDGET), running(make_settings(db_url, **server_only), migrate=False) as stack, \
            api(stack) as client:
        await register(client, "CP-NOCA", profile=2)
        r = await client.patch("/api/v1/charge-points/CP-NOCA", json={"security_profile": 3})
        assert (r.status_code, r.json()["code"]) == (409, "ClientCaRequired"), r.text


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": "127.0.0.1"}])
async def test_profile_2_behind_a_trusted_tls_proxy(stack: Stack) -> None:
    """TLS ended at a load balancer in front: its X-Forwarded-Proto counts, nobody else's."""
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-LB", profile=2)
        https = {"X-Forwarded-Proto": "https"}
        assert await admitted(stack.ws_url, "CP-LB", PASSWORD, headers=https) == 101
        assert await admitted(stack.ws_url, "CP-LB", PASSWORD) == 403


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_tc_087_profile_3_needs_a_client_certificate_for_its_own_id(
        tls_stack: Stack, pki: tuple[Pki, dict[str, Any]], kind: Kind) -> None:
    keys, url = pki[0], tls_stack.ws_url
    cp = f"CP-MTLS-{kind}"
    async with asyncio.timeout(BUDGET), api(tls_stack) as client:
        await register(client, cp, profile=3)
        plain = client_context(keys.server_ca)
        assert await admitted(url, cp, PASSWORD, tls=plain) == 403  # Basic auth is not enough
        other = client_context(keys.server_ca, *keys.client("CP-SOMEONE-ELSE", kind))
        assert await admitted(url, cp, tls=other) == 403  # a certificate for another id
        stranger = new_ca("not trusted").issue_files(keys.folder / "stranger", cp, kind)
        with pytest.raises(TLS_ENDED):  # ends the TLS handshake
            await admitted(url, cp, tls=client_context(keys.server_ca, *stranger))
        own = client_context(keys.server_ca, *keys.client(cp, kind))
        async with connect(url, cp, ssl=own) as station:
            assert (await station.call(BOOT)).status == "Accepted"
        refused = await events_of(tls_stack, cp)
        assert refused.count(("InvalidChargePointCertificate", "central_system")) == 1, refused


async def test_a_certificate_for_another_id_is_refused_even_without_a_profile(
        tls_stack: Stack, pki: tuple[Pki, dict[str, Any]]) -> None:
    """Whatever the profile (here an unknown id, accepted by policy), a client certificate must
    name the charge point it connects as."""
    keys = pki[0]
    borrowed = client_context(keys.server_ca, *keys.client("CP-OWNER"))
    async with asyncio.timeout(BUDGET):
        assert await admitted(tls_stack.ws_url, "CP-IMPOSTOR", tls=borrowed) == 403
        assert await admitted(tls_stack.ws_url, "CP-OWNER", tls=borrowed) == 101
    async with api(tls_stack) as client:
        r = await client.get("/api/v1/charge-points/CP-IMPOSTOR/security-events")
    [event] = r.json()["items"]  # the impostor's attempt is on record, with whose certificate it was
    assert (event["type"], event["source"]) == ("InvalidChargePointCertificate", "central_system")
    assert "'CP-OWNER'" in event["tech_info"] and event["address"] == "127.0.0.1"


async def test_a_certificate_does_not_stand_in_for_the_password_below_profile_3(
        tls_stack: Stack, pki: tuple[Pki, dict[str, Any]]) -> None:
    """A charge point at profile 1 or 2 with a password presents it, certificate or not; at
    profile 3 the certificate is the credential."""
    keys = pki[0]
    own = client_context(keys.server_ca, *keys.client("CP-BOTH"))
    async with asyncio.timeout(BUDGET), api(tls_stack) as client:
        await register(client, "CP-BOTH", profile=2)
        assert await admitted(tls_stack.ws_url, "CP-BOTH", tls=own) == 401
        assert await admitted(tls_stack.ws_url, "CP-BOTH", "wrong-password-0001", tls=own) == 401
        assert await admitted(tls_stack.ws_url, "CP-BOTH", PASSWORD, tls=own) == 101
        r = await client.patch("/api/v1/charge-points/CP-BOTH", json={"security_profile": 3})
        assert r.status_code == 200, r.text
        assert await admitted(tls_stack.ws_url, "CP-BOTH", tls=own) == 101


async def test_tls_1_1_and_weak_ciphers_are_refused(tls_stack: Stack, pki: tuple[Pki, dict[str, Any]]) -> None:
    """Each refused offer is one this client would otherwise complete: TLS 1.1 (the client's own
    floor lowered, security level 0), and TLS 1.2 suites outside the whitepaper's (CBC with
    SHA-256, ChaCha20) that a default OpenSSL server accepts."""
    keys = pki[0]
    old = client_context(keys.server_ca)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1_1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    async with asyncio.timeout(BUDGET):
        with pytest.raises(TLS_ENDED):
            await admitted(tls_stack.ws_url, "CP-OLD", tls=old)
        for suite in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
            weak = client_context(keys.server_ca)
            weak.maximum_version = ssl.TLSVersion.TLSv1_2
            weak.set_ciphers(suite)
            with pytest.raises(TLS_ENDED):
                await admitted(tls_stack.ws_url, "CP-WEAK", tls=weak)
        served = tls_stack.central.tls.context.current  # type: ignore[union-attr]
        assert served.minimum_version == ssl.TLSVersion.TLSv1_2
        assert {c["name"] for c in served.get_ciphers() if c["protocol"] == "TLSv1.2"} == {
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES256-GCM-SHA384", "AES128-GCM-SHA256", "AES256-GCM-SHA384"}  # the whitepaper's
        good = client_context(keys.server_ca)
        good.maximum_version = ssl.TLSVersion.TLSv1_2
        good.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        assert await admitted(tls_stack.ws_url, "CP-GOOD", tls=good) == 101


# -- password rotation (TC_073) -------------------------------------------------------------------
@pytest.mark.parametrize("given", [None, "sixteen-bytes-pw"])
async def test_tc_073_rotated_password_is_the_one_that_gets_in(stack: Stack, given: str | None) -> None:
    """POST .../password sends the whitepaper's hex AuthorizationKey (generated, or the hex of
    the password given); accepted, the decoded bytes are the password from then on."""
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-ROT", profile=1)
        async with connect(stack.ws_url, "CP-ROT", cls=SecureChargePoint,
                           additional_headers=basic("CP-ROT", PASSWORD)) as station:
            r = await client.post("/api/v1/charge-points/CP-ROT/password",
                                  json={} if given is None else {"password": given})
            assert r.status_code == 200, r.text
            key = r.json()["authorization_key"]
            assert r.json()["stored"] is True and r.json()["command"]["response"] == {"status": "Accepted"}
            assert station.received == [("ChangeConfiguration", {"key": "AuthorizationKey", "value": key})]
        assert len(key) == 40 if given is None else key == given.encode().hex()
        assert await admitted(stack.ws_url, "CP-ROT", PASSWORD) == 401
        assert await admitted(stack.ws_url, "CP-ROT", bytes.fromhex(key)) == 101
        assert await admitted(stack.ws_url, "CP-ROT", key) == 101  # firmware that sends the hex itself


async def test_tc_073_a_text_authorization_key_through_the_commands_api(stack: Stack) -> None:
    """The compliance tool's other form: a key that is not hex is the password's own text."""
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-TXT", profile=1)
        async with connect(stack.ws_url, "CP-TXT", cls=SecureChargePoint,
                           additional_headers=basic("CP-TXT", PASSWORD)):
            r = await client.post("/api/v1/charge-points/CP-TXT/commands/ChangeConfiguration",
                                  json={"key": "AuthorizationKey", "value": "plain text password 2"})
            assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert await admitted(stack.ws_url, "CP-TXT", "plain text password 2") == 101
        assert await admitted(stack.ws_url, "CP-TXT", PASSWORD) == 401
        r = await client.post("/api/v1/charge-points/CP-TXT/commands/ChangeConfiguration",
                              json={"key": "AuthorizationKey", "value": "short"})
        assert r.status_code == 422 and r.json()["code"] == "InvalidConfigurationValue"


NEW_PASSWORD = "second-password-02"


@pytest.mark.parametrize(("answer", "delay", "presents"), [
    ("Rejected", 0.0, None), ("Accepted", 3.0, NEW_PASSWORD), ("Rejected", 3.0, PASSWORD)])
async def test_tc_073_rejected_keeps_the_old_password_and_unanswered_lets_either_in_once(
        stack: Stack, answer: str, delay: float, presents: str | None) -> None:
    """Rejected: the old password stays, the new one is refused. No answer in time (its answer
    lost, or a slow refusal): the old one stays and the new one gets in too, until the charge
    point connects with one of them; that one is its password from then on."""
    class Station(SecureChargePoint):
        pass

    Station.answer, Station.delay = answer, delay
    cp = f"CP-KEEP-{answer}-{int(delay)}"
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, cp, profile=1)
        async with connect(stack.ws_url, cp, cls=Station, additional_headers=basic(cp, PASSWORD)):
            r = await client.post(f"/api/v1/charge-points/{cp}/password?wait=1", json={"password": NEW_PASSWORD})
            if delay:
                assert r.status_code == 504 and r.json()["code"] == "Timeout", r.text
            else:
                assert r.status_code == 200 and r.json()["stored"] is False, r.text
        shown = (await client.get(f"/api/v1/charge-points/{cp}")).json()
        assert shown["password_unsettled"] is bool(delay) and shown["has_password"], shown
        if presents is None:
            assert await admitted(stack.ws_url, cp, NEW_PASSWORD) == 401
            assert await admitted(stack.ws_url, cp, PASSWORD) == 101
            return
        assert await admitted(stack.ws_url, cp, presents) == 101  # it settles which one it holds
        other = PASSWORD if presents == NEW_PASSWORD else NEW_PASSWORD
        assert await admitted(stack.ws_url, cp, other) == 401
        assert await admitted(stack.ws_url, cp, presents) == 101
        assert (await client.get(f"/api/v1/charge-points/{cp}")).json()["password_unsettled"] is False


async def test_an_authorization_key_is_kept_in_no_record_or_log(stack: Stack) -> None:
    """The password goes to the charge point only: the command record and the message log,
    which every viewer reads, keep the key redacted."""
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-QUIET", profile=1)
        async with connect(stack.ws_url, "CP-QUIET", cls=SecureChargePoint,
                           additional_headers=basic("CP-QUIET", PASSWORD)) as station:
            r = await client.post("/api/v1/charge-points/CP-QUIET/password", json={"password": NEW_PASSWORD})
            assert r.status_code == 200 and r.json()["stored"] is True, r.text
            r = await client.post("/api/v1/charge-points/CP-QUIET/commands/ChangeConfiguration",
                                  json={"key": "AuthorizationKey", "value": "a text password 03"})
            assert r.status_code == 200, r.text
        sent = [payload["value"] for _, payload in station.received]
        assert sent == [NEW_PASSWORD.encode().hex(), "a text password 03"]  # the charge point got them
        r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-QUIET"})
        assert [c["payload"] for c in r.json()["items"]] == [{"key": "AuthorizationKey", "value": "<redacted>"}] * 2
    frames = " ".join(row["frame"] for row in await rows(
        stack, "SELECT frame FROM messages WHERE charge_point_id = 'CP-QUIET'"))
    assert "<redacted>" in frames and sent[0] not in frames and sent[1] not in frames


# -- profile upgrade (TC_083) ---------------------------------------------------------------------
async def test_tc_083_upgrade_to_profile_3_takes_effect_at_the_first_connect_at_it(
        tls_stack: Stack, pki: tuple[Pki, dict[str, Any]]) -> None:
    keys, url = pki[0], tls_stack.ws_url
    at_2 = client_context(keys.server_ca)
    at_3 = client_context(keys.server_ca, *keys.client("CP-UP"))
    async with asyncio.timeout(BUDGET), api(tls_stack) as client:
        await register(client, "CP-UP", profile=2)
        async with connect(url, "CP-UP", cls=SecureChargePoint, ssl=at_2,
                           additional_headers=basic("CP-UP", PASSWORD)) as station:
            r = await client.post("/api/v1/charge-points/CP-UP/security-profile", json={"profile": 3})
            assert r.status_code == 200 and r.json()["pending"] is True, r.text
            assert station.received == [("ChangeConfiguration", {"key": "SecurityProfile", "value": "3"}),
                                        ("Reset", {"type": "Hard"})]
        shown = (await client.get("/api/v1/charge-points/CP-UP")).json()
        assert (shown["security_profile"], shown["security_profile_pending"]) == (2, 3)
        assert await admitted(url, "CP-UP", PASSWORD, tls=at_2) == 101  # may still fall back
        assert await admitted(url, "CP-UP", tls=at_3) == 101
        shown = (await client.get("/api/v1/charge-points/CP-UP")).json()
        assert (shown["security_profile"], shown["security_profile_pending"]) == (3, None)
        assert await admitted(url, "CP-UP", PASSWORD, tls=at_2) == 403  # not any more
        r = await client.post("/api/v1/charge-points/CP-UP/security-profile", json={"profile": 2})
        assert r.status_code == 409 and r.json()["code"] == "SecurityProfileDowngrade"


async def test_upgrades_a_charge_point_could_not_follow_are_refused(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-NOPW", password=None)
        r = await client.post("/api/v1/charge-points/CP-NOPW/security-profile", json={"profile": 1})
        assert r.status_code == 409 and r.json()["code"] == "PasswordRequired"
        await register(client, "CP-NOTLS")
        r = await client.post("/api/v1/charge-points/CP-NOTLS/security-profile", json={"profile": 2})
        assert r.status_code == 409 and r.json()["code"] == "TlsRequired"
        assert (await rows(stack, "SELECT count(*) AS n FROM commands"))[0]["n"] == 0  # nothing sent


# -- security events ------------------------------------------------------------------------------
async def test_security_events_are_stored_listed_and_pushed(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), api(stack) as client, stack.central.events.subscribe() as queue:
        await register(client, "CP-EVT", profile=1)
        async with connect(stack.ws_url, "CP-EVT", additional_headers=basic("CP-EVT", PASSWORD)) as station:
            await station.call(call.SecurityEventNotification(
                type="TamperDetectionActivated", timestamp="2026-12-01T10:00:00Z", tech_info="lid open"))
        assert await admitted(stack.ws_url, "CP-EVT", "a-wrong-password-01") == 401
        pushed = []
        while len(pushed) < 2:
            event = await queue.get()
            if event and event["type"] == "security_event":
                pushed.append((event["event"], event["source"]))
        assert pushed == [("TamperDetectionActivated", "charge_point"),
                          ("InvalidChargePointCredentials", "central_system")]
        r = await client.get("/api/v1/security-events", params={"charge_point_id": "CP-EVT"})
        items = r.json()["items"]
        assert [(e["type"], e["tech_info"]) for e in items] == [
            ("InvalidChargePointCredentials", "handshake refused: wrong password"),
            ("TamperDetectionActivated", "lid open")]
        assert items[0]["address"] == "127.0.0.1" and items[1]["timestamp"] == "2026-12-01T10:00:00Z"
        r = await client.get("/api/v1/security-events", params={"source": "charge_point", "charge_point_id": "CP-EVT"})
        assert [e["type"] for e in r.json()["items"]] == ["TamperDetectionActivated"]


async def test_a_refusal_storm_is_stored_once_per_interval_with_its_count(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), api(stack) as client:
        await register(client, "CP-STORM", profile=1)
        for _ in range(5):
            assert await admitted(stack.ws_url, "CP-STORM") == 401  # no credentials
        await eventually(lambda: events_of(stack, "CP-STORM"))
        assert await events_of(stack, "CP-STORM") == [("InvalidChargePointCredentials", "central_system")]
