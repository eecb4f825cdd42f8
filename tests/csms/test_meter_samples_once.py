"""A sampled value is stored once (the unique index of migrations 0004/0014): a MeterValues sent
again after its answer was lost adds nothing, while samples that differ in what they measure, or
come from another connector or charge point at the same instant, are all kept."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call as call16

from chargebay.stack import Stack
from tests.csms.test_ocpp201_transactions import BUDGET
from tests.helpers import rows
from tests.ocpp_client import connect

AT = "2026-12-05T10:00:00Z"
SAMPLES = [
    {"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "230", "measurand": "Voltage", "phase": "L1", "unit": "V"},
    {"value": "231", "measurand": "Voltage", "phase": "L2", "unit": "V"},
    {"value": "7", "measurand": "Current.Import", "phase": "L1", "context": "Sample.Clock"},
]


async def test_a_resent_meter_value_is_stored_once_and_distinct_samples_all_are(stack: Stack) -> None:
    frame = [{"timestamp": AT, "sampled_value": SAMPLES}]
    async with asyncio.timeout(BUDGET):
        for cp_id in ("CP-ONCE-A", "CP-ONCE-B"):
            async with connect(stack.ws_url, cp_id) as cp:
                await cp.call(call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
                for connector in (1, 1, 2):  # connector 1's frame twice: a resend
                    await cp.call(call16.MeterValues(connector_id=connector, meter_value=frame),
                                  suppress=False)
    stored = await rows(stack, "SELECT charge_point_id, connector_id, value FROM meter_values "
                               "ORDER BY charge_point_id, connector_id, value")
    expected = sorted((cp, connector, s["value"]) for cp in ("CP-ONCE-A", "CP-ONCE-B")
                      for connector in (1, 2) for s in SAMPLES)
    assert [(r["charge_point_id"], r["connector_id"], r["value"]) for r in stored] == expected
