"""OCPP 2.0.1 beside 1.6 on one endpoint (issue #16, first part): the subprotocol negotiated
(newest both sides speak, or the version an operator pinned), errors spelled as 2.0.1 spells
them, and every charging-station-initiated 2.0.1 action validated, answered and stored. The
stations are written with the ``ocpp`` library's ``v201`` module, which checks every answer
against the 2.0.1 schemas (an answer that breaks them fails the call)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call

from chargebay.stack import Stack
from csms.handlers import handlers_of
from ocppj.versions import V201
from tests.api.auth_helpers import ADMIN
from tests.helpers import add_id_tag, rows
from tests.ocpp_client import connect

BUDGET = 30.0
BOOT = call.BootNotification(charging_station={"vendor_name": "Acme Charging Solutions Ltd", "model": "Duo-201",
                                               "serial_number": "SN-201-1", "firmware_version": "2.0.1-rc7",
                                               "modem": {"iccid": "8931", "imsi": "2620"}},
                             reason="PowerUp")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def station(stack: Stack, cp_id: str, offer: tuple[str, ...] = ("ocpp2.0.1",),
            cls: type[ChargePoint201] = ChargePoint201) -> contextlib.AbstractAsyncContextManager[Any]:
    """A 2.0.1 charging station (the ``ocpp`` library's, or ``cls``), connected and reading."""
    return connect(stack.ws_url, cp_id, cls=cls, subprotocols=offer)


async def negotiated(stack: Stack, cp_id: str, offer: list[str]) -> str | int:
    """The subprotocol the server picked, or the HTTP status it refused with."""
    try:
        async with websockets.connect(f"{stack.ws_url}/{cp_id}", subprotocols=offer) as ws:  # type: ignore[arg-type]
            return ws.subprotocol or ""
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


async def shown(stack: Stack, cp_id: str) -> dict[str, Any]:
    await stack.central.writer.flush()
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
        r = await client.get(f"/api/v1/charge-points/{cp_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_newest_version_both_speak_is_picked_and_a_pin_holds_it(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        assert await negotiated(stack, "CP-NEG", ["ocpp1.6", "ocpp2.0.1"]) == "ocpp2.0.1"
        assert await negotiated(stack, "CP-NEG", ["ocpp1.6"]) == "ocpp1.6"
        assert await negotiated(stack, "CP-NEG", ["ocpp2.1"]) == 400
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=10) as client:
            r = await client.patch("/api/v1/charge-points/CP-NEG", json={"ocpp_version": "1.6"})
            assert r.status_code == 200 and r.json()["ocpp_version_pinned"] == "1.6", r.text
            assert await negotiated(stack, "CP-NEG", ["ocpp2.0.1", "ocpp1.6"]) == "ocpp1.6"
            assert await negotiated(stack, "CP-NEG", ["ocpp2.0.1"]) == 400  # pinned: the other is refused
            r = await client.patch("/api/v1/charge-points/CP-NEG", json={"ocpp_version": None})
            assert r.status_code == 200 and r.json()["ocpp_version_pinned"] is None, r.text
            assert await negotiated(stack, "CP-NEG", ["ocpp2.0.1", "ocpp1.6"]) == "ocpp2.0.1"
            r = await client.patch("/api/v1/charge-points/CP-NEG", json={"ocpp_version": "3.0"})
            assert r.status_code == 422, r.text


async def test_a_201_and_a_16_station_side_by_side(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-SIDE", parent_id_tag="GROUP-SIDE",
                     expiry_date=datetime(2031, 1, 1, tzinfo=UTC))
    async with asyncio.timeout(BUDGET), station(stack, "CP-201") as cp201, connect(stack.ws_url, "CP-16") as cp16:
        booted = await cp201.call(BOOT)
        assert booted.status == "Accepted" and booted.interval > 0 and booted.current_time
        old = await cp16.call(call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
        assert old.status == "Accepted"
        assert (await cp201.call(call.Heartbeat())).current_time
        for evse, connector, status in ((1, 1, "Available"), (2, 1, "Occupied"), (2, 2, "Unavailable")):
            await cp201.call(call.StatusNotification(timestamp=now(), connector_status=status, evse_id=evse,
                                                     connector_id=connector))
        await cp16.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        authorized = await cp201.call(call.Authorize(id_token={"id_token": "TAG-SIDE", "type": "ISO14443"}))
        assert authorized.id_token_info["status"] == "Accepted"
        assert authorized.id_token_info["group_id_token"] == {"id_token": "GROUP-SIDE", "type": "Central"}
        assert authorized.id_token_info["cache_expiry_date_time"].startswith("2031-01-01")
        unknown = await cp201.call(call.Authorize(id_token={"id_token": "NOBODY", "type": "ISO14443"}))
        assert unknown.id_token_info["status"] == "Invalid"
        old_auth = await cp16.call(call16.Authorize(id_tag="TAG-SIDE"))
        assert old_auth.id_tag_info["status"] == "Accepted"

    new, legacy = await shown(stack, "CP-201"), await shown(stack, "CP-16")
    assert (new["ocpp_version"], legacy["ocpp_version"]) == ("2.0.1", "1.6")
    assert (new["vendor"], new["model"], new["charge_point_serial"], new["firmware_version"], new["iccid"]) == (
        "Acme Charging Solutions Ltd", "Duo-201", "SN-201-1", "2.0.1-rc7", "8931")  # a 27-character vendor
    assert [(e["evse_id"], [(c["connector_id"], c["status"]) for c in e["connectors"]]) for e in new["evses"]] == [
        (1, [(1, "Available")]), (2, [(1, "Occupied"), (2, "Unavailable")])]
    assert [(c["connector_id"], c["status"]) for c in new["connectors"]] == [(1, "Available"), (2, "Unavailable")]
    assert [(c["connector_id"], c["status"]) for c in legacy["connectors"]] == [(1, "Charging")]
    assert legacy["evses"] == []
    [reason] = await rows(stack, "SELECT status FROM notifications WHERE charge_point_id = 'CP-201' "
                                 "AND kind = 'boot_reason'")
    assert reason["status"] == "PowerUp"


CALLS: dict[str, Any] = {
    "ClearedChargingLimit": call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1),
    "DataTransfer": call.DataTransfer(vendor_id="com.example", message_id="hello", data="hi"),
    "FirmwareStatusNotification": call.FirmwareStatusNotification(status="Downloading", request_id=7),
    "Get15118EVCertificate": call.Get15118EVCertificate(iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                                                        action="Install", exi_request="AAAA"),
    "GetCertificateStatus": call.GetCertificateStatus(ocsp_request_data={
        "hash_algorithm": "SHA256", "issuer_name_hash": "a" * 64, "issuer_key_hash": "b" * 64,
        "serial_number": "01", "responder_url": "http://ocsp.example"}),
    "LogStatusNotification": call.LogStatusNotification(status="Uploading", request_id=8),
    "MeterValues": call.MeterValues(evse_id=1, meter_value=[{"timestamp": "2026-12-04T10:00:00Z",
                                                             "sampled_value": [{"value": 1234.5}]}]),
    "NotifyChargingLimit": call.NotifyChargingLimit(charging_limit={"charging_limit_source": "SO"}),
    "NotifyCustomerInformation": call.NotifyCustomerInformation(data="x", seq_no=0, generated_at=now(),
                                                                request_id=9),
    "NotifyDisplayMessages": call.NotifyDisplayMessages(request_id=10),
    "NotifyEVChargingNeeds": call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
        "requested_energy_transfer": "AC_single_phase"}),
    "NotifyEVChargingSchedule": call.NotifyEVChargingSchedule(time_base=now(), evse_id=1, charging_schedule={
        "id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]}),
    "NotifyEvent": call.NotifyEvent(generated_at=now(), seq_no=0, event_data=[{
        "event_id": 1, "timestamp": now(), "trigger": "Delta", "actual_value": "Faulted",
        "event_notification_type": "HardWiredNotification", "component": {"name": "Connector"},
        "variable": {"name": "Problem"}}]),
    "NotifyMonitoringReport": call.NotifyMonitoringReport(request_id=11, seq_no=0, generated_at=now()),
    "NotifyReport": call.NotifyReport(request_id=12, generated_at=now(), seq_no=0),
    "PublishFirmwareStatusNotification": call.PublishFirmwareStatusNotification(status="Published",
                                                                                location=["http://a"], request_id=13),
    "ReportChargingProfiles": call.ReportChargingProfiles(request_id=14, charging_limit_source="CSO", evse_id=1,
                                                          charging_profile=[{
        "id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Relative", "charging_schedule": [{
            "id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]}]}]),
    "ReservationStatusUpdate": call.ReservationStatusUpdate(reservation_id=5, reservation_update_status="Expired"),
    "SecurityEventNotification": call.SecurityEventNotification(type="FirmwareUpdated", timestamp=now(),
                                                                tech_info="1.2.3"),
    "SignCertificate": call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"),
    "TransactionEvent": call.TransactionEvent(event_type="Started", timestamp=now(), trigger_reason="Authorized",
                                              seq_no=0, transaction_info={"transaction_id": "TX-201-1"},
                                              id_token={"id_token": "NOBODY", "type": "ISO14443"}),
}


async def test_every_charging_station_action_is_answered_by_its_schema_and_stored(stack: Stack) -> None:
    assert set(handlers_of("2.0.1")) == V201.cp_actions  # a handler for each, nothing else
    covered = set(CALLS) | {"Authorize", "BootNotification", "Heartbeat", "StatusNotification"}
    assert covered == V201.cp_actions  # every 2.0.1 action a station sends is tried here
    async with asyncio.timeout(BUDGET), station(stack, "CP-ALL") as cp:
        await cp.call(BOOT)
        answers = {action: await cp.call(payload) for action, payload in CALLS.items()}
    assert answers["TransactionEvent"].id_token_info == {"status": "Invalid"}
    assert answers["DataTransfer"].status == "UnknownVendorId"
    assert answers["NotifyEVChargingNeeds"].status == "Rejected"
    assert answers["SignCertificate"].status in ("Accepted", "Rejected")
    kept = await rows(stack, "SELECT kind, status, detail FROM notifications WHERE charge_point_id = 'CP-ALL'")
    kinds = {r["kind"] for r in kept}
    assert {"notify_event", "notify_report", "firmware", "log",
            "data_transfer", "reservation_status_update", "get15118_ev_certificate", "notify_ev_charging_needs",
            "publish_firmware_status"} <= kinds, kinds
    [tx] = await rows(stack, "SELECT station_transaction_id, id_tag, id_tag_status FROM transactions "
                             "WHERE charge_point_id = 'CP-ALL'")  # TransactionEvent: a transaction
    assert (tx["station_transaction_id"], tx["id_tag"], tx["id_tag_status"]) == ("TX-201-1", "NOBODY", "Invalid")
    [sample] = await rows(stack, "SELECT connector_id, value, transaction_id FROM meter_values "
                                 "WHERE charge_point_id = 'CP-ALL'")  # MeterValues: a meter value
    assert (sample["connector_id"], sample["value"], sample["transaction_id"]) == (1, "1234.5", None)
    [event] = [r for r in kept if r["kind"] == "notify_event"]
    assert json.loads(event["detail"])["eventData"][0]["actualValue"] == "Faulted"  # kept whole
    logged = await rows(stack, "SELECT action FROM messages WHERE charge_point_id = 'CP-ALL' AND direction = 'in'")
    assert {r["action"] for r in logged} == set(CALLS) | {"BootNotification"}


@pytest.mark.parametrize(("frame", "code"), [
    ("not json", "RpcFrameworkError"),
    ('[2, "1", "Heartbeat", []]', "FormatViolation"),
    ('[2, "2", "BootNotification", {"reason": "PowerUp"}]', "OccurrenceConstraintViolation"),
    ('[2, "3", "BootNotification", {"reason": "Sunrise", "chargingStation": {"model": "m", "vendorName": "v"}}]',
     "PropertyConstraintViolation"),
    ('[2, "4", "Reboot", {}]', "NotImplemented"),
    ('[2, "5", "RequestStartTransaction", {}]', "NotSupported"),
    ('[7, "6", "Heartbeat", {}]', "MessageTypeNotSupported"),
])
async def test_bad_frames_get_callerrors_spelled_as_201_spells_them(stack: Stack, frame: str, code: str) -> None:
    async with asyncio.timeout(BUDGET), websockets.connect(f"{stack.ws_url}/CP-ERR",
                                                           subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        await ws.send(frame)
        answer = json.loads(await ws.recv())
    assert answer[0] == 4 and answer[2] == code, answer


async def test_compression_is_taken_for_201_and_not_for_16(stack: Stack) -> None:
    """RFC 7692: a 2.0.1 central system must accept permessage-deflate; a 1.6 connection keeps
    its memory (the offer is not taken)."""
    async with asyncio.timeout(BUDGET):
        for offer, compressed in ((["ocpp2.0.1"], True), (["ocpp1.6"], False)):
            async with websockets.connect(f"{stack.ws_url}/CP-DEFLATE", subprotocols=offer,  # type: ignore[arg-type]
                                          compression="deflate") as ws:
                taken = [type(e).__name__ for e in ws.protocol.extensions]
                assert taken == (["PerMessageDeflate"] if compressed else []), (offer, taken)
                await ws.send('[2, "hb", "Heartbeat", {}]')  # the same frame in both versions
                answer = json.loads(await ws.recv())
                assert answer[0] == 3 and "currentTime" in answer[2], answer
        async with station(stack, "CP-DEFLATE-2") as cp:  # the ocpp library's station, compressed
            assert (await cp.call(BOOT)).status == "Accepted"


async def test_a_16_client_that_offers_no_extension_connects(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), websockets.connect(f"{stack.ws_url}/CP-PLAIN16", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                                           compression=None) as ws:
        await ws.send('[2, "hb", "Heartbeat", {}]')
        assert json.loads(await ws.recv())[0] == 3
