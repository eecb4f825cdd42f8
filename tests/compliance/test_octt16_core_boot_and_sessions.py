"""OCTT 1.6 CSMS test cases, Core profile: boot, charging sessions, authorization (the charge
point's side scripted by :class:`tests.compliance.station.Station`; each case checks what the
central system answered and what it stored)."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from chargebay.stack import Stack
from tests.compliance.station import command, operator, station
from tests.helpers import rows

BUDGET = 30.0


async def test_tc_001_csms_cold_boot_charge_point(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC001") as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted" and answer.interval > 0 and answer.current_time
        assert (await cp.call(call.Heartbeat())).current_time
    [row] = await rows(stack, "SELECT boot_status, vendor, model FROM charge_points WHERE id = 'TC001'")
    assert (row["boot_status"], row["vendor"], row["model"]) == ("Accepted", "OCTT", "Sim-16")
    statuses = await rows(stack, "SELECT connector_id, status FROM connectors WHERE charge_point_id = 'TC001' "
                                 "ORDER BY connector_id")
    assert [(s["connector_id"], s["status"]) for s in statuses] == [(0, "Available"), (1, "Available"),
                                                                    (2, "Available")]


async def test_tc_061_csms_clear_authorization_data_in_authorization_cache(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), station(stack, "TC061") as cp, operator(stack) as client:
        await cp.boot()
        assert await command(client, "TC061", "ClearCache", {}) == {"status": "Accepted"}
        assert cp.got("ClearCache") == [{}]
