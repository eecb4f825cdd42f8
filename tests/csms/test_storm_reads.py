"""What a connect or reconnect storm reads (issue #18): after a restart every known charge point's
handshake is answered from memory; a boot reads its open transactions once (not once per
connector status), and not at all for a charge point that has none."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from chargebay.stack import running
from tests.conftest import make_settings
from tests.csms.test_ocpp201_known_transactions import selects
from tests.helpers import rows
from tests.ocpp_client import connect

BOOT = call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall")


def status(connector: int) -> call.StatusNotification:
    return call.StatusNotification(connector_id=connector, error_code="NoError", status="Available")


async def test_a_restarted_central_system_knows_its_charge_points_and_a_boot_reads_once(db_url: str) -> None:
    settings = make_settings(db_url)
    async with asyncio.timeout(60):
        async with running(settings, migrate=False) as first:
            for n in range(3):
                async with connect(first.ws_url, f"CP-KNOWN-{n}") as cp:
                    await cp.call(BOOT)
                    if n == 2:
                        await cp.call(call.StartTransaction(connector_id=2, id_tag="TAG-S", meter_start=0,
                                                            timestamp="2026-12-04T10:00:00Z"))
        async with running(settings, migrate=False) as again:
            reads: dict[str, list[str]] = {}
            for cp_id in ("CP-KNOWN-1", "CP-KNOWN-2"):
                with selects(again) as seen:
                    async with connect(again.ws_url, cp_id) as cp:
                        await cp.call(BOOT)
                        for connector in (0, 1, 2, 3):
                            await cp.call(status(connector))
                reads[cp_id] = [s for s in seen if "FROM charge_points" in s or "FROM transactions" in s]
            [tx] = await rows(again, "SELECT end_source FROM transactions")
    assert reads["CP-KNOWN-1"] == []  # known, nothing open: not one read
    assert len(reads["CP-KNOWN-2"]) == 2 and all("FROM transactions" in s for s in reads["CP-KNOWN-2"])
    assert tx["end_source"] == "rebooted"  # the boot's read, then the ending of connector 2
