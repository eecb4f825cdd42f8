"""OCTT 1.6 CSMS test cases, Core profile: the commands an operator sends (UnlockConnector,
GetConfiguration, ChangeConfiguration, RemoteStart/Stop refused, ClearCache) with every answer a
charge point may give, and authorization (invalid, expired, blocked id tags; DataTransfer to an
unknown vendor; a connector lock failure). The central system must send what the operator asks
(an unknown connector or transaction, a key or value it does not know) and keep the answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.compliance.flows import charge, commands_of, connector_statuses
from tests.compliance.station import Station, command, operator, station
from tests.helpers import add_id_tag, rows

BUDGET = 30.0
TAG = "OCTT-CMD-TAG"

# What a station reports for GetConfiguration without keys (OCTT's list, readonly flags included)
CONFIGURATION: list[dict[str, Any]] = [
    {"key": "AuthorizeRemoteTxRequests", "readonly": False, "value": "true"},
    {"key": "ClockAlignedDataInterval", "readonly": False, "value": "0"},
    {"key": "ConnectionTimeOut", "readonly": False, "value": "60"},
    {"key": "GetConfigurationMaxKeys", "readonly": True, "value": "50"},
    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    {"key": "LocalAuthorizeOffline", "readonly": False, "value": "true"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {"key": "SupportedFeatureProfiles", "readonly": True,
     "value": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"},
    {"key": "LocalAuthListEnabled", "readonly": False, "value": "true"},
    {"key": "LocalAuthListMaxLength", "readonly": True, "value": "100"},
    {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"},
    {"key": "MaxChargingProfilesInstalled", "readonly": True, "value": "10"},
]


def octt(*values: Any) -> Any:
    """A parametrised case named after its OCTT test case (its first value)."""
    return pytest.param(*values, id=values[0])


def configuration(payload: dict[str, Any]) -> dict[str, Any]:
    """The station's GetConfiguration answer: the keys asked for (all without any), unknown apart."""
    asked = payload.get("key") or [entry["key"] for entry in CONFIGURATION]
    known = [entry for entry in CONFIGURATION if entry["key"] in asked]
    unknown = [key for key in asked if key not in {entry["key"] for entry in known}]
    return {"configuration_key": known} | ({"unknown_key": unknown} if unknown else {})


async def answered(stack: Stack, cp_id: str, action: str, payload: dict[str, Any],
                   answer: dict[str, Any]) -> tuple[dict[str, Any], Station, httpx.AsyncClient]:
    """Boot ``cp_id``, send ``action`` through the commands API, the station answering ``answer``;
    asserts the station got exactly ``payload``; the answer the API gave."""
    async with station(stack, cp_id) as cp, operator(stack) as client:
        await cp.boot()
        cp.answers[action] = answer
        response = await command(client, cp_id, action, payload)
        assert len(cp.received) == 1, cp.received
        return response, cp, client


async def recorded(stack: Stack, cp_id: str, action: str) -> list[dict[str, Any]]:
    async with operator(stack) as client:
        return await commands_of(client, cp_id, action)


# -- UnlockConnector ------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "connector", "status"), [
    octt("TC_017_1", 1, "Unlocked"),       # no session, a detachable cable
    octt("TC_017_2", 1, "NotSupported"),   # no session, a fixed cable
    octt("TC_030", 1, "UnlockFailed"),
    octt("TC_031", 9, "NotSupported"),     # a connector the charge point does not have
])
async def test_tc_017_030_031_csms_unlock_connector_answers(stack: Stack, case: str, connector: int,
                                                            status: str) -> None:
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, case, "UnlockConnector", {"connectorId": connector},
                                         {"status": status})
    assert response == {"status": status}
    assert cp.got("UnlockConnector") == [{"connector_id": connector}]
    [sent] = await recorded(stack, case, "UnlockConnector")
    assert (sent["payload"], sent["response"]) == ({"connectorId": connector}, {"status": status})


async def test_tc_018_1_csms_unlock_connector_with_charging_session(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC018") as cp, operator(stack) as client:
        await cp.boot()
        transaction_id = await charge(cp, TAG)
        assert await command(client, "TC018", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        await cp.status(1, "Finishing")
        stopped = await cp.call(call.StopTransaction(meter_stop=900, timestamp=datetime.now(UTC).isoformat(),
                                                     transaction_id=transaction_id, reason="UnlockCommand"))
        assert stopped.id_tag_info is None  # no idTag in the stop: nothing to authorize
        await cp.status(1, "Available")
    [tx] = await rows(stack, "SELECT stop_reason, meter_stop FROM transactions WHERE id = :t", t=transaction_id)
    assert (tx["stop_reason"], tx["meter_stop"]) == ("UnlockCommand", 900)
    assert (1, "Available") in await connector_statuses(stack, "TC018")


# -- configuration --------------------------------------------------------------------------------
async def test_tc_019_1_csms_retrieve_all_configuration_keys(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, "TC019-1", "GetConfiguration", {}, configuration)
    assert cp.got("GetConfiguration") == [{}]  # an empty request: every key
    assert response == {"configurationKey": CONFIGURATION}  # each with its readonly flag, as sent
    [sent] = await recorded(stack, "TC019-1", "GetConfiguration")
    assert len(sent["response"]["configurationKey"]) == len(CONFIGURATION)


async def test_tc_019_2_csms_retrieve_specific_configuration_key(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, "TC019-2", "GetConfiguration",
                                         {"key": ["SupportedFeatureProfiles"]}, configuration)
    assert cp.got("GetConfiguration") == [{"key": ["SupportedFeatureProfiles"]}]
    [entry] = response["configurationKey"]
    assert (entry["key"], entry["readonly"]) == ("SupportedFeatureProfiles", True) and "unknownKey" not in response


@pytest.mark.parametrize(("case", "key", "value", "status"), [
    octt("TC_021", "MeterValueSampleInterval", "60", "Accepted"),
    octt("TC_040_1", "OCTTCustomKey", "123", "NotSupported"),               # a key the CSMS does not know
    octt("TC_040_2", "MeterValueSampleInterval", "INVALID_VALUE", "Rejected"),  # sent as is, not pre-judged
])
async def test_tc_021_040_csms_change_configuration(stack: Stack, case: str, key: str, value: str,
                                                    status: str) -> None:
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, case, "ChangeConfiguration", {"key": key, "value": value},
                                         {"status": status})
    assert response == {"status": status}
    assert cp.got("ChangeConfiguration") == [{"key": key, "value": value}]
    [sent] = await recorded(stack, case, "ChangeConfiguration")
    assert sent["response"] == {"status": status}


# -- remote start and stop refused, cache ---------------------------------------------------------
async def test_tc_026_csms_remote_start_charging_session_rejected(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, "TC026", "RemoteStartTransaction",
                                         {"connectorId": 1, "idTag": TAG}, {"status": "Rejected"})
    assert response == {"status": "Rejected"}
    assert await rows(stack, "SELECT id FROM transactions WHERE charge_point_id = 'TC026'") == []
    [sent] = await recorded(stack, "TC026", "RemoteStartTransaction")
    assert sent["response"] == {"status": "Rejected"}


async def test_tc_028_csms_remote_stop_transaction_rejected(stack: Stack) -> None:
    # OCTT asks for a transaction the charge point does not know: the CSMS must send it all the same
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, "TC028", "RemoteStopTransaction", {"transactionId": 987654},
                                         {"status": "Rejected"})
    assert response == {"status": "Rejected"}
    assert cp.got("RemoteStopTransaction") == [{"transaction_id": 987654}]


async def test_tc_061_csms_clear_authorization_data_in_authorization_cache(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET):
        response, cp, _ = await answered(stack, "TC061", "ClearCache", {}, {"status": "Accepted"})
    assert response == {"status": "Accepted"} and cp.got("ClearCache") == [{}]


# -- authorization --------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "tag", "expected"), [
    octt("TC_023_1", None, "Invalid"),   # an id tag the central system does not know
    octt("TC_023_2", {"expiry_date": datetime.now(UTC) - timedelta(days=1)}, "Expired"),
    octt("TC_023_3", {"status": "Blocked"}, "Blocked"),
])
async def test_tc_023_csms_start_charging_session_authorize_refused(stack: Stack, case: str,
                                                                   tag: dict[str, Any] | None,
                                                                   expected: str) -> None:
    id_tag = f"OCTT-{case}"
    if tag is not None:
        await add_id_tag(stack, id_tag, **tag)
    async with asyncio.timeout(BUDGET), station(stack, case) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        answer = await cp.call(call.Authorize(id_tag=id_tag))
        assert answer.id_tag_info["status"] == expected
        await cp.status(1, "Available")  # refused: the session never starts
    assert await rows(stack, "SELECT id FROM transactions WHERE charge_point_id = :cp", cp=case) == []


async def test_tc_024_csms_start_charging_session_lock_failure(stack: Stack) -> None:
    await add_id_tag(stack, TAG)
    async with asyncio.timeout(BUDGET), station(stack, "TC024") as cp:
        await cp.boot()
        assert (await cp.call(call.Authorize(id_tag=TAG))).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Faulted", error_code="ConnectorLockFailure")
    [row] = await rows(stack, "SELECT status, error_code FROM connectors WHERE charge_point_id = 'TC024' "
                              "AND connector_id = 1")
    assert (row["status"], row["error_code"]) == ("Faulted", "ConnectorLockFailure")


async def test_tc_064_csms_data_transfer_to_a_central_system(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC064") as cp:
        await cp.boot()
        answer = await cp.call(call.DataTransfer(vendor_id="specific-vendor-id", message_id="specific-message-id",
                                                 data="specific-data"))
        assert answer.status in {"Rejected", "UnknownMessageId", "UnknownVendorId"}
    [kept] = await rows(stack, "SELECT status, detail FROM notifications WHERE charge_point_id = 'TC064' "
                               "AND kind = 'data_transfer'")
    assert kept["status"] == "specific-vendor-id" and "specific-data" in kept["detail"]
