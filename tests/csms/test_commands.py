"""Outbound calls: result, CALLERROR, timeout, offline; one outstanding call per connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call_result

from chargebay.stack import Stack
from csms.services.commands import UnknownAction
from ocppj.validation import SchemaViolation
from tests.helpers import rows
from tests.ocpp_client import TestChargePoint, connect


class SlowChargePoint(TestChargePoint):
    """Takes its time over Reset, fails UnlockConnector, answers garbage to ClearCache."""

    in_flight = 0
    max_in_flight = 0

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        SlowChargePoint.in_flight += 1
        SlowChargePoint.max_in_flight = max(SlowChargePoint.max_in_flight, SlowChargePoint.in_flight)
        await asyncio.sleep(0.2)
        SlowChargePoint.in_flight -= 1
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, **kwargs: Any) -> Any:
        raise ValueError("boom")  # the library answers InternalError

    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        await asyncio.sleep(0.8)
        return call_result.GetConfiguration(configuration_key=[])


async def test_result(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-C1") as cp:
        await asyncio.sleep(0.05)
        outcome = await stack.central.commands.send("CP-C1", "RemoteStartTransaction",
                                                    {"idTag": "TAG", "connectorId": 1}, timeout=5)
        assert outcome.kind == "result" and outcome.payload == {"status": "Accepted"}
        assert cp.received == [("RemoteStartTransaction", {"id_tag": "TAG", "connector_id": 1})]
    log = await rows(stack, "SELECT direction, message_type, action FROM messages "
                            "WHERE charge_point_id='CP-C1' ORDER BY id")
    assert [(m["direction"], m["message_type"], m["action"]) for m in log] == [
        ("out", 2, "RemoteStartTransaction"), ("in", 3, "RemoteStartTransaction")]


async def test_call_error(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-C2", cls=SlowChargePoint):
        await asyncio.sleep(0.05)
        outcome = await stack.central.commands.send("CP-C2", "UnlockConnector", {"connectorId": 1}, 5)
        assert outcome.kind == "call_error" and outcome.error_code == "InternalError"
        not_supported = await stack.central.commands.send("CP-C2", "ClearCache", {}, 5)
        assert not_supported.kind == "call_error" and not_supported.error_code in (
            "NotSupported", "NotImplemented")


async def test_timeout_then_connection_still_usable(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-C3", cls=SlowChargePoint):
        await asyncio.sleep(0.05)
        outcome = await stack.central.commands.send("CP-C3", "GetConfiguration", {}, timeout=0.3)
        assert outcome.kind == "timeout"
        again = await stack.central.commands.send("CP-C3", "Reset", {"type": "Soft"}, timeout=5)
        assert again.kind == "result" and again.payload == {"status": "Accepted"}


async def test_offline(stack: Stack) -> None:
    outcome = await stack.central.commands.send("NOBODY", "ClearCache", {}, timeout=1)
    assert outcome.kind == "offline"


async def test_disconnect_while_waiting_is_offline(stack: Stack) -> None:
    async with connect(stack.ws_url, "CP-C4", cls=SlowChargePoint) as cp:
        await asyncio.sleep(0.05)
        pending = asyncio.create_task(stack.central.commands.send("CP-C4", "GetConfiguration", {}, 5))
        await asyncio.sleep(0.1)
        await cp._connection.close()
        outcome = await asyncio.wait_for(pending, 3)
    assert outcome.kind == "offline"


async def test_one_outstanding_call_per_connection(stack: Stack) -> None:
    SlowChargePoint.max_in_flight = 0
    async with connect(stack.ws_url, "CP-C5", cls=SlowChargePoint):
        await asyncio.sleep(0.05)
        outcomes = await asyncio.gather(*[
            stack.central.commands.send("CP-C5", "Reset", {"type": "Hard"}, timeout=5) for _ in range(4)])
    assert [o.kind for o in outcomes] == ["result"] * 4
    assert SlowChargePoint.max_in_flight == 1


async def test_payload_and_action_are_checked_before_sending(stack: Stack) -> None:
    with pytest.raises(SchemaViolation) as bad:
        await stack.central.commands.send("CP-X", "Reset", {"type": "Sideways"})
    assert bad.value.code == "PropertyConstraintViolation"
    with pytest.raises(UnknownAction):
        await stack.central.commands.send("CP-X", "BootNotification", {})


async def test_charging_profile_decimals_are_valid(stack: Stack) -> None:
    """21.4 A is a valid limit although 21.4 / 0.1 is not an integer in binary floating point."""
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "A",
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}]}}
    stack.central.commands.check("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
