"""CSMS-initiated commands in the version the charge point speaks (issue #16): the one commands
route sends 2.0.1 actions to 2.0.1 stations and 1.6 actions to 1.6 ones, each payload checked
against its version's schema; an action its version does not have is refused naming the version.
The 2.0.1 station is the ``ocpp`` library's, which checks each request against the schema."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result

from api.command_examples_201 import example
from chargebay.stack import Stack
from ocppj.versions import V16, V201
from tests.api.auth_helpers import ADMIN
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.ocpp_client import connect as connect16
from tests.ocpp_client import ocpp_call as call16

BUDGET = 30.0


class Station201(ChargePoint201):
    """Answers Reset, ReserveNow and GetVariables, recording what it got."""

    def __init__(self, cp_id: str, ws: Any, **kwargs: Any) -> None:
        super().__init__(cp_id, ws, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("Reset")
    def on_reset(self, **payload: Any) -> Any:
        self.received.append(("Reset", payload))
        return call_result.Reset(status="Accepted")

    @on("ReserveNow")
    def on_reserve_now(self, **payload: Any) -> Any:
        self.received.append(("ReserveNow", payload))
        return call_result.ReserveNow(status="Occupied")

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        return call_result.GetVariables(get_variable_result=[{
            "attribute_status": "Accepted", "attribute_value": "300", **data} for data in get_variable_data])


async def send(client: httpx.AsyncClient, cp_id: str, action: str, payload: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload,
                             params={"wait": 10})


async def test_commands_go_out_in_the_version_the_station_speaks(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "CP-C201", cls=Station201) as cp201, \
            connect16(stack.ws_url, "CP-C16") as cp16, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp201.call(BOOT)
        await cp16.call(call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))

        r = await send(client, "CP-C201", "Reset", {"type": "Immediate"})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        r = await send(client, "CP-C201", "GetVariables", example("GetVariables"))
        assert r.status_code == 200, r.text
        assert r.json()["response"]["getVariableResult"][0]["attributeValue"] == "300"
        # 2.0.1's ReserveNow goes out as given: no 1.6 reservation bookkeeping on its payload
        reserve = {"id": 42, "expiryDateTime": "2030-01-01T00:00:00Z",
                   "idToken": {"idToken": "TAG-1", "type": "ISO14443"}}
        r = await send(client, "CP-C201", "ReserveNow", reserve)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Occupied"}, r.text
        assert [a for a, _ in cp201.received] == ["Reset", "GetVariables", "ReserveNow"]

        # refused before anything is sent: a 1.6 payload, a 1.6-only action, and the other way round
        r = await send(client, "CP-C201", "Reset", {"type": "Hard"})
        assert (r.status_code, r.json()["code"]) == (422, "InvalidPayload") and "2.0.1" in r.json()["message"]
        r = await send(client, "CP-C201", "RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG-1"})
        assert (r.status_code, r.json()["code"]) == (409, "ActionNotInVersion") and "2.0.1" in r.json()["message"]
        r = await send(client, "CP-C16", "GetVariables", example("GetVariables"))
        assert (r.status_code, r.json()["code"]) == (409, "ActionNotInVersion") and "1.6" in r.json()["message"]
        r = await send(client, "CP-C16", "RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG-1"})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert len(cp201.received) == 3
        r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-C201"})
        assert [c["action"] for c in r.json()["items"]] == ["ReserveNow", "GetVariables", "Reset"]


async def test_every_201_action_has_a_route_with_a_valid_example(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as client:
        spec = (await client.get("/openapi.json")).json()
    for action in V201.csms_actions | V16.csms_actions:
        operation = spec["paths"][f"/api/v1/charge-points/{{charge_point_id}}/commands/{action}"]["post"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        for version in (V16, V201):
            name = f"OCPP {version.name}"
            assert (name in examples) is (action in version.csms_actions), (action, name)
            if name in examples:
                version.validator.validate(action, examples[name]["value"])  # raises if it is not valid


async def test_a_pin_changes_no_command_before_the_station_reconnects(stack: Stack) -> None:
    """Pinned to 1.6 while connected as 2.0.1, the station still gets 2.0.1 commands on its
    socket: the pin takes effect at its next connect."""
    async with asyncio.timeout(BUDGET), station(stack, "CP-PIN201", cls=Station201) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        r = await client.patch("/api/v1/charge-points/CP-PIN201", json={"ocpp_version": "1.6"})
        assert r.status_code == 200 and r.json()["ocpp_version_pinned"] == "1.6", r.text
        r = await send(client, "CP-PIN201", "Reset", {"type": "Immediate"})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert cp.received == [("Reset", {"type": "Immediate"})]
