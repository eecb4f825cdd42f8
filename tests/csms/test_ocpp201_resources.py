"""The REST resources built on commands, for OCPP 2.0.1 stations (issue #16): reservations
(ReserveNow in 2.0.1's shape, CancelReservation, ReservationStatusUpdate, a TransactionEvent
using one), local lists (SendLocalList with idTokenInfo, GetLocalListVersion's versionNumber),
the password (SetVariables SecurityCtrlr.BasicAuthPassword, never shown in the logs or the device
model, the new one required at the next handshake) and certificates (renewal by TriggerMessage,
CertificateSigned with its certificateType, V2G CSRs refused). The station is the ``ocpp``
library's, which checks every request against the 2.0.1 schema."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call, call_result

from chargebay.stack import Stack, running
from tests.api.auth_helpers import ADMIN
from tests.certs import csr
from tests.conftest import make_settings
from tests.csms.test_certificates import ca_init, pems
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.helpers import rows

BUDGET = 30.0


def at(seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


class Station(ChargePoint201):
    """Accepts what the resources send, keeping each request; holds the local list's version."""

    def __init__(self, cp_id: str, ws: Any, **kwargs: Any) -> None:
        super().__init__(cp_id, ws, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.list_version = 0
        self.chains: list[tuple[str, str | None]] = []
        self.seq = itertools.count()

    def got(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]

    @on("ReserveNow")
    def on_reserve(self, **p: Any) -> Any:
        self.received.append(("ReserveNow", p))
        return call_result.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def on_cancel(self, **p: Any) -> Any:
        self.received.append(("CancelReservation", p))
        return call_result.CancelReservation(status="Accepted")

    @on("SendLocalList")
    def on_send_list(self, **p: Any) -> Any:
        self.received.append(("SendLocalList", p))
        self.list_version = p["version_number"]
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_list_version(self, **p: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.list_version)

    @on("SetVariables")
    def on_set(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("SetVariables", {"set_variable_data": set_variable_data}))
        return call_result.SetVariables(set_variable_result=[{
            "attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])

    @on("GetVariables")
    def on_get(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """Answers even the WriteOnly password (a careless station): the central system must not keep it."""
        return call_result.GetVariables(get_variable_result=[{
            "attribute_status": "Accepted", "attribute_value": "careless-secret-007", "component": d["component"],
            "variable": d["variable"]} for d in get_variable_data])

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, **_: Any) -> Any:
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        if requested_message == "SignChargingStationCertificate":
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.sign()))
        return call_result.TriggerMessage(status="Accepted")

    async def sign(self, kind: str = "ChargingStationCertificate") -> str:
        answer = await self.call(call.SignCertificate(csr=csr(self.id)[1], certificate_type=kind))
        return str(answer.status)

    @on("CertificateSigned")
    def on_signed(self, certificate_chain: str, certificate_type: str | None = None, **_: Any) -> Any:
        self.chains.append((certificate_chain, certificate_type))
        return call_result.CertificateSigned(status="Accepted")


async def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


async def test_reservations_on_a_201_station(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "CP-R201", cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        for tag, parent in (("FLEET", None), ("TAG-R1", "FLEET"), ("TAG-R2", None)):
            r = await client.post("/api/v1/id-tags", json={"id_tag": tag, "parent_id_tag": parent})
            assert r.status_code == 201, r.text
        made = []
        for connector, tag in ((1, "TAG-R1"), (0, "TAG-R2")):
            r = await client.post("/api/v1/reservations", json={
                "charge_point_id": "CP-R201", "connector_id": connector, "id_tag": tag, "expiry_date": at(3600)})
            assert r.status_code == 201, r.text
            assert r.json()["reservation"]["status"] == "Accepted"
            made.append(r.json()["reservation"]["id"])
        first, anywhere = cp.got("ReserveNow")
        assert first["id"] == made[0] and first["evse_id"] == 1
        assert first["id_token"] == {"id_token": "TAG-R1", "type": "ISO14443"}
        assert first["group_id_token"] == {"id_token": "FLEET", "type": "Central"}  # the tag's parent
        assert "evse_id" not in anywhere and anywhere["id"] == made[1]  # 0: any EVSE

        r = await client.post(f"/api/v1/reservations/{made[1]}/cancel")
        assert r.status_code == 200, r.text
        assert cp.got("CancelReservation") == [{"reservation_id": made[1]}]
        await cp.call(call.TransactionEvent(
            event_type="Started", timestamp=at(), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-RES"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "TAG-R1", "type": "ISO14443"}, reservation_id=made[0]))
        r = await client.post("/api/v1/reservations", json={
            "charge_point_id": "CP-R201", "connector_id": 2, "id_tag": "TAG-R2", "expiry_date": at(60)})
        late = r.json()["reservation"]["id"]
        await cp.call(call.ReservationStatusUpdate(reservation_id=late, reservation_update_status="Expired"))
        status = {row["id"]: (row["status"], row["transaction_id"]) for row in await rows(
            stack, "SELECT id, status, transaction_id FROM reservations WHERE charge_point_id = 'CP-R201'")}
        [tx] = await rows(stack, "SELECT id FROM transactions WHERE station_transaction_id = 'TX-RES'")
        assert status == {made[0]: ("Used", tx["id"]), made[1]: ("Cancelled", None), late: ("Expired", None)}


async def test_local_lists_on_a_201_station(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "CP-L201", cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        for tag in ("TAG-L1", "TAG-L2"):
            assert (await client.post("/api/v1/id-tags", json={"id_tag": tag})).status_code == 201
        base = "/api/v1/charge-points/CP-L201/local-list"
        r = await client.post(base, json={"update_type": "Full"})
        assert r.status_code == 200 and r.json()["command"]["response"] == {"status": "Accepted"}, r.text
        [full] = cp.got("SendLocalList")
        assert (full["version_number"], full["update_type"]) == (1, "Full")
        assert full["local_authorization_list"] == [
            {"id_token": {"id_token": t, "type": "ISO14443"}, "id_token_info": {"status": "Accepted"}}
            for t in ("TAG-L1", "TAG-L2")]
        kept = (await client.get(base)).json()
        assert kept["version"] == 1 and [e["id_tag"] for e in kept["entries"]] == ["TAG-L1", "TAG-L2"]

        assert (await client.patch("/api/v1/id-tags/TAG-L2", json={"status": "Blocked"})).status_code == 200
        assert (await client.delete("/api/v1/id-tags/TAG-L1")).status_code in (200, 204)
        r = await client.post(base, json={"update_type": "Differential"})
        assert r.status_code == 200, r.text
        diff = cp.got("SendLocalList")[-1]
        assert diff["version_number"] == 2 and diff["local_authorization_list"] == [
            {"id_token": {"id_token": "TAG-L2", "type": "ISO14443"}, "id_token_info": {"status": "Blocked"}},
            {"id_token": {"id_token": "TAG-L1", "type": "ISO14443"}}]  # no info: delete it
        check = (await client.post(base + "/check")).json()
        assert (check["expected"], check["charge_point"], check["in_sync"]) == (2, 2, True)
        kept = (await client.get(base)).json()
        assert [(e["id_tag"], e["status"]) for e in kept["entries"]] == [("TAG-L2", "Blocked")]


def basic(cp_id: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cp_id}:{password}".encode()).decode()}


async def handshake(stack: Stack, cp_id: str, headers: dict[str, str] | None = None) -> int:
    try:
        async with websockets.connect(f"{stack.ws_url}/{cp_id}", subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                                      additional_headers=headers or {}):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


async def test_the_password_of_a_201_station_and_no_profile_upgrade_by_16_means(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                         timeout=20) as client:
        async with station(stack, "CP-P201", cls=Station) as cp:
            await cp.call(BOOT)
            short = await client.post("/api/v1/charge-points/CP-P201/password", json={"password": "too-short"})
            assert short.status_code == 422 and short.json()["code"] == "InvalidPassword", short.text
            r = await client.post("/api/v1/charge-points/CP-P201/password", json={})
            assert r.status_code == 200, r.text
            body = r.json()
            password = body["authorization_key"]
            assert (body["sent_as"], body["stored"], len(password)) == ("BasicAuthPassword", True, 40)
            [asked] = cp.got("SetVariables")
            assert asked["set_variable_data"] == [{"component": {"name": "SecurityCtrlr"},
                                                   "variable": {"name": "BasicAuthPassword"},
                                                   "attribute_value": password}]
            r = await client.post("/api/v1/charge-points/CP-P201/security-profile", json={"profile": 1})
            assert r.status_code == 409 and r.json()["code"] == "NotInVersion", r.text
            # 2.0.1 names are case-insensitive: however a raw SetVariables spells it, it is the password
            spelled = {"setVariableData": [{"component": {"name": "securityctrlr"},
                                            "variable": {"name": "BASICAUTHPASSWORD"},
                                            "attributeValue": password[::-1]}]}
            r = await client.post("/api/v1/charge-points/CP-P201/commands/SetVariables", json=spelled,
                                  params={"wait": 10})
            assert r.status_code == 200, r.text
            password = password[::-1]
        logged = await rows(stack, "SELECT frame FROM messages WHERE charge_point_id = 'CP-P201' "
                                   "AND action = 'SetVariables'")
        recorded = await rows(stack, "SELECT payload FROM commands WHERE charge_point_id = 'CP-P201'")
        model = await rows(stack, "SELECT variable, value FROM device_variables WHERE charge_point_id = 'CP-P201'")
        assert logged and recorded and all(password not in str(row) for row in [*logged, *recorded, *model])
        assert any("<redacted>" in row["frame"] for row in logged)
        assert [m for m in model if m["variable"] == "BasicAuthPassword"] == []
        assert await handshake(stack, "CP-P201") == 401  # a password now: Basic auth required
        assert await handshake(stack, "CP-P201", basic("CP-P201", "not-the-password-00")) == 401
        assert await handshake(stack, "CP-P201", basic("CP-P201", password)) == 101


@pytest.fixture
async def ca_stack(db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    assert ca_init(tmp_path).returncode == 0
    async with running(make_settings(db_url, data_dir=tmp_path), migrate=False) as s:
        yield s


async def test_certificates_of_a_201_station(ca_stack: Stack) -> None:
    stack = ca_stack
    async with asyncio.timeout(BUDGET), station(stack, "CP-C201", cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        r = await client.post("/api/v1/charge-points/CP-C201/certificates/renew")
        assert r.status_code == 200, r.text
        assert cp.got("TriggerMessage") == [{"requested_message": "SignChargingStationCertificate"}]
        await wait_until(lambda: asyncio.sleep(0, cp.chains))
        [(chain, kind)] = cp.chains
        assert kind == "ChargingStationCertificate"
        assert pems(chain)[0].subject.rfc4514_string() == "CN=CP-C201"
        assert await cp.sign("V2GCertificate") == "Rejected"  # no ISO 15118 PKI here
        await asyncio.sleep(0.2)
        assert len(cp.chains) == 1


async def test_a_secret_a_station_sends_is_kept_nowhere_and_no_16_command_reaches_it(stack: Stack) -> None:
    secret = "careless-secret-007"
    async with asyncio.timeout(BUDGET), station(stack, "CP-S201", cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        password = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
        r = await client.post("/api/v1/charge-points/CP-S201/commands/GetVariables",
                              json={"getVariableData": [password]}, params={"wait": 10})
        assert r.status_code == 200, r.text
        assert r.json()["response"]["getVariableResult"][0]["attributeValue"] == "<redacted>"
        await cp.call(call.NotifyReport(request_id=1, generated_at=at(), seq_no=0, report_data=[{
            "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
            "variable_attribute": [{"value": secret, "mutability": "WriteOnly"}]}]))
        # a command made for 1.6 (as another node may, before this connect's version is stored)
        outcome = await stack.central.router.send("CP-S201", "Reset", {"type": "Hard"}, 5)
        assert (outcome.kind, outcome.error_code) == ("call_error", "InvalidPayload"), outcome
        assert "2.0.1" in (outcome.description or "")
    everything = [*await rows(stack, "SELECT frame FROM messages WHERE charge_point_id = 'CP-S201'"),
                  *await rows(stack, "SELECT response FROM commands WHERE charge_point_id = 'CP-S201'"),
                  *await rows(stack, "SELECT detail FROM notifications WHERE charge_point_id = 'CP-S201'"),
                  *await rows(stack, "SELECT value FROM device_variables WHERE charge_point_id = 'CP-S201'")]
    assert everything and all(secret not in str(row) for row in everything)
    assert await rows(stack, "SELECT id FROM messages WHERE charge_point_id = 'CP-S201' AND action = 'Reset'") == []
