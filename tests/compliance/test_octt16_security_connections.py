"""OCTT 1.6 CSMS test cases, Security profile (security whitepaper), connections: TC_085 (Basic
authentication, profile 1), TC_073 (password rotation with the whitepaper's hex AuthorizationKey),
TC_086 and TC_087 (profiles 2 and 3 over real TLS, server and client certificates made in the
test), TC_083 (a security profile upgrade: ChangeConfiguration SecurityProfile, then Reset Hard;
the old profile refused once the charge point connected at the new one). The charge point's side
is scripted by :class:`tests.compliance.station.Station`."""

from __future__ import annotations

import asyncio
import ssl

from chargebay.stack import Stack
from tests.compliance.flows import charge_point, connector_statuses, security_events
from tests.compliance.secure import Pki, admitted, basic_auth, register, shown
from tests.compliance.station import command, operator, station

BUDGET = 30.0
PASSWORD = "OCTT-password-0001"
ALL_AVAILABLE = [(0, "Available"), (1, "Available"), (2, "Available")]
# the compliance tool's own example: the password, and its AuthorizationKey (hex of its UTF-8, upper case)
NEW_PASSWORD = "OCA_OCTT_admin_test"
AUTHORIZATION_KEY = "4F43415F4F4354545F61646D696E5F74657374"


async def boots(stack: Stack, cp_id: str, password: str | None = None, tls: ssl.SSLContext | None = None) -> None:
    """The charge point gets in: Boot Accepted (currentTime, interval), Status 0/1/2 Available,
    and the central system shows it online with those statuses."""
    headers = basic_auth(cp_id, password) if password is not None else None
    async with station(stack, cp_id, ssl=tls, additional_headers=headers) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted" and answer.interval > 0 and answer.current_time
        assert bool((await charge_point(stack, cp_id))["online"])
    assert await connector_statuses(stack, cp_id) == ALL_AVAILABLE


async def test_tc_085_csms_basic_authentication_valid_username_password_combination(stack: Stack) -> None:
    cp_id = "TC085"
    async with asyncio.timeout(BUDGET), operator(stack) as client:
        await register(client, cp_id, 1, PASSWORD)
        assert await admitted(stack, cp_id) == 401  # no Authorization header
        assert await admitted(stack, cp_id, "OCTT-wrong-password") == 401
        await boots(stack, cp_id, PASSWORD)
        events = [(e["type"], e["source"]) for e in await security_events(client, cp_id)]
    assert ("InvalidChargePointCredentials", "central_system") in events


async def test_tc_073_csms_update_charge_point_password_for_http_basic_authentication(stack: Stack) -> None:
    """The operator enters the new password (POST .../password, as the compliance tool asks): it goes
    out as the hex of its UTF-8; then a key written as the tool writes it (upper-case hex) through
    the commands API. Each time the decoded password, and only it, gets in from then on."""
    cp_id, third = "TC073", "OCTT-third-pass-03"
    async with asyncio.timeout(BUDGET), operator(stack) as client:
        await register(client, cp_id, 1, PASSWORD)
        before = (await charge_point(stack, cp_id))["password_hash"]
        async with station(stack, cp_id, additional_headers=basic_auth(cp_id, PASSWORD)) as cp:
            await cp.boot()
            r = await client.post(f"/api/v1/charge-points/{cp_id}/password", json={"password": NEW_PASSWORD})
            assert r.status_code == 200 and r.json()["stored"] is True, r.text
            [sent] = cp.got("ChangeConfiguration")
            assert sent["key"] == "AuthorizationKey" and sent["value"].upper() == AUTHORIZATION_KEY
        after = (await charge_point(stack, cp_id))["password_hash"]
        assert after and after != before and NEW_PASSWORD not in after  # stored anew, hashed
        assert await admitted(stack, cp_id, PASSWORD) == 401  # the old password is gone
        async with station(stack, cp_id, additional_headers=basic_auth(cp_id, NEW_PASSWORD)) as cp:
            await cp.boot()  # the reconnect presents the decoded key
            change = {"key": "AuthorizationKey", "value": third.encode().hex().upper()}
            assert await command(client, cp_id, "ChangeConfiguration", change) == {"status": "Accepted"}
            assert cp.got("ChangeConfiguration") == [change]
        assert await admitted(stack, cp_id, NEW_PASSWORD) == 401
        await boots(stack, cp_id, third)


async def test_tc_086_csms_tls_server_side_certificate_valid_certificate(secure_stack: Stack, octt_pki: Pki) -> None:
    cp_id = "TC086"
    async with asyncio.timeout(BUDGET), operator(secure_stack) as client:
        await register(client, cp_id, 2, PASSWORD)
        assert secure_stack.ws_url.startswith("wss://")
        assert await admitted(secure_stack, cp_id, tls=octt_pki.wss()) == 401  # TLS alone is not enough
        await boots(secure_stack, cp_id, PASSWORD, tls=octt_pki.wss())
        assert (await shown(client, cp_id))["security_profile"] == 2


async def test_tc_087_csms_tls_client_side_certificate_valid_certificate(secure_stack: Stack, octt_pki: Pki) -> None:
    cp_id = "TC087"
    async with asyncio.timeout(BUDGET), operator(secure_stack) as client:
        await register(client, cp_id, 3)
        assert await admitted(secure_stack, cp_id, tls=octt_pki.wss()) in (401, 403)  # no client certificate
        assert await admitted(secure_stack, cp_id, tls=octt_pki.mtls("TC087-OTHER")) in (401, 403)  # another id's
        await boots(secure_stack, cp_id, tls=octt_pki.mtls(cp_id, "rsa"))  # no Basic auth
        assert (await shown(client, cp_id))["security_profile"] == 3


async def test_tc_083_csms_upgrade_charge_point_security_profile_accepted(secure_stack: Stack, octt_pki: Pki) -> None:
    """Over real TLS from profile 2 (TLS + Basic auth) to 3 (mutual TLS): on this central system's
    one wss:// port a profile 1 charge point already arrives over TLS, so 2 -> 3 is the upgrade
    whose old profile can be told apart from the new one."""
    cp_id, old, new = "TC083", octt_pki.wss(), octt_pki.mtls("TC083")
    async with asyncio.timeout(BUDGET), operator(secure_stack) as client:
        await register(client, cp_id, 2, PASSWORD)
        async with station(secure_stack, cp_id, ssl=old, additional_headers=basic_auth(cp_id, PASSWORD)) as cp:
            await cp.boot()
            r = await client.post(f"/api/v1/charge-points/{cp_id}/security-profile", json={"profile": 3})
            assert r.status_code == 200 and r.json()["pending"] is True, r.text
            assert (r.json()["change_configuration"]["response"], r.json()["reset"]["response"]) == (
                {"status": "Accepted"}, {"status": "Accepted"})
            assert cp.received == [("ChangeConfiguration", {"key": "SecurityProfile", "value": "3"}),
                                   ("Reset", {"type": "Hard"})]  # in this order
        await boots(secure_stack, cp_id, tls=new)  # the reconnect after the reset, at profile 3
        assert ((await shown(client, cp_id))["security_profile"], (await shown(client, cp_id))[
            "security_profile_pending"]) == (3, None)
        assert await admitted(secure_stack, cp_id, PASSWORD, tls=old) in (401, 403)  # steps 11/12: the old profile
        assert await admitted(secure_stack, cp_id, tls=new) == 101  # steps 13/14: the new one
