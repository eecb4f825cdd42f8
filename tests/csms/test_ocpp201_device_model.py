"""The device model of a 2.0.1 station (issue #16): a NotifyReport chain answering GetBaseReport
fills it, GetVariables and an accepted SetVariables confirm values in it (a rejected one changes
nothing), and ``GET /api/v1/charge-points/{id}/variables`` reads it, filtered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call, call_result

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.csms.test_ocpp201_connection import BOOT, station

BUDGET = 30.0
COMM = {"name": "OCPPCommCtrlr"}
EVSE_1 = {"name": "EVSE", "evse": {"id": 1}}
REPORT = [
    [{"component": COMM, "variable": {"name": "HeartbeatInterval"},
      "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
      "variable_characteristics": {"data_type": "integer", "unit": "s", "supports_monitoring": False}},
     {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
      "variable_attribute": [{"value": "1", "mutability": "ReadOnly"}],
      "variable_characteristics": {"data_type": "integer", "supports_monitoring": False}}],
    [{"component": EVSE_1, "variable": {"name": "Power"},
      "variable_attribute": [{"type": "Actual", "value": "0"}, {"type": "MaxSet", "value": "22000"}],
      "variable_characteristics": {"data_type": "decimal", "unit": "W", "supports_monitoring": True}}],
]


class Station(ChargePoint201):
    """Answers GetBaseReport with a two-part NotifyReport chain, GetVariables from ``values``,
    SetVariables Accepted for HeartbeatInterval and Rejected for anything else."""

    values = {"HeartbeatInterval": "300"}

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        asyncio.get_running_loop().create_task(self.report(request_id))
        return call_result.GetBaseReport(status="Accepted")

    async def report(self, request_id: int) -> None:
        await asyncio.sleep(0.05)
        for seq, part in enumerate(REPORT):
            await self.call(call.NotifyReport(request_id=request_id, generated_at=datetime.now(UTC).isoformat(),
                                              seq_no=seq, tbc=seq < len(REPORT) - 1, report_data=part))

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.GetVariables(get_variable_result=[{
            "attribute_status": "Accepted", "attribute_value": self.values[d["variable"]["name"]],
            "component": d["component"], "variable": d["variable"]} for d in get_variable_data])

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return call_result.SetVariables(set_variable_result=[{
            "attribute_status": "Accepted" if d["variable"]["name"] == "HeartbeatInterval" else "Rejected",
            "component": d["component"], "variable": d["variable"]} for d in set_variable_data])


async def model(client: httpx.AsyncClient, cp_id: str, **params: str) -> list[tuple[Any, ...]]:
    r = await client.get(f"/api/v1/charge-points/{cp_id}/variables", params=params)
    assert r.status_code == 200, r.text
    return [(v["component"], v["evse_id"], v["variable"], v["attribute_type"], v["value"], v["mutability"],
             v["unit"], v["source"]) for v in r.json()["items"]]


async def command(client: httpx.AsyncClient, cp_id: str, action: str, payload: dict[str, Any]) -> Any:
    r = await client.post(f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload, params={"wait": 10})
    assert r.status_code == 200, r.text
    return r.json()["response"]


async def test_report_fills_the_model_and_get_set_variables_keep_it(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "CP-DM", cls=Station) as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(BOOT)
        assert await command(client, "CP-DM", "GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"}) == {
            "status": "Accepted"}

        async def reported() -> list[tuple[Any, ...]]:
            return await model(client, "CP-DM")
        for _ in range(100):
            if len(await reported()) == 4:
                break
            await asyncio.sleep(0.05)
        assert await reported() == [
            ("EVSE", 1, "Power", "Actual", "0", "ReadWrite", "W", "NotifyReport"),
            ("EVSE", 1, "Power", "MaxSet", "22000", "ReadWrite", "W", "NotifyReport"),
            ("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual", "300", "ReadWrite", "s", "NotifyReport"),
            ("SecurityCtrlr", 0, "SecurityProfile", "Actual", "1", "ReadOnly", None, "NotifyReport")]

        Station.values["HeartbeatInterval"] = "120"  # changed at the station since its report
        await command(client, "CP-DM", "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        assert await model(client, "CP-DM", variable="HeartbeatInterval") == [
            ("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual", "120", "ReadWrite", "s", "GetVariables")]

        answer = await command(client, "CP-DM", "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"},
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}, "attributeValue": "3"}]})
        assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted", "Rejected"]
        assert await model(client, "CP-DM", component="OCPPCommCtrlr") == [
            ("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual", "60", "ReadWrite", "s", "SetVariables")]
        assert await model(client, "CP-DM", component="SecurityCtrlr") == [
            ("SecurityCtrlr", 0, "SecurityProfile", "Actual", "1", "ReadOnly", None, "NotifyReport")]  # rejected
        r = await client.get("/api/v1/charge-points/NO-SUCH/variables")
        assert (r.status_code, r.json()["code"]) == (404, "ChargePointNotFound")
