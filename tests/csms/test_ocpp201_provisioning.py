"""The GetBaseReport after a 2.0.1 station's first boot (issue #16, ``base_report_on_boot``):
sent once the boot's answer is on the wire, recorded as a command, asked again at the next boot
while the station has not reported its model, never once it has; never to a 1.6 charge point."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v201 import call_result

from chargebay.stack import Stack
from csms.services.provisioning import REQUESTED_BY
from tests.api.auth_helpers import ADMIN
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.csms.test_ocpp201_device_model import Station
from tests.helpers import rows
from tests.ocpp_client import connect as connect16
from tests.ocpp_client import ocpp_call as call16

BUDGET = 30.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"base_report_on_boot": "FullInventory"}


class Refusing(Station):
    """A station that cannot report yet (NotSupported), as some do while still starting."""

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return call_result.GetBaseReport(status="NotSupported")


async def commands(client: httpx.AsyncClient, cp_id: str, at_least: int = 0) -> list[dict[str, Any]]:
    """The commands of ``cp_id`` once there are ``at_least`` and each has an outcome, oldest
    first (the central system sends its GetBaseReport after the boot's answer: a list read
    right after that answer may not hold it yet)."""
    for _ in range(200):
        r = await client.get("/api/v1/commands", params={"charge_point_id": cp_id})
        assert r.status_code == 200, r.text
        found = list(reversed(r.json()["items"]))
        if len(found) >= at_least and all(c["status"] != "pending" for c in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"commands of {cp_id} still pending: {found}")


async def variables(client: httpx.AsyncClient, cp_id: str, expected: int) -> int:
    for _ in range(100):
        r = await client.get(f"/api/v1/charge-points/{cp_id}/variables")
        if len(r.json()["items"]) >= expected:
            break
        await asyncio.sleep(0.05)
    return len(r.json()["items"])


async def test_a_first_boot_asks_for_the_model_after_its_answer_and_only_once(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                         timeout=20) as client:
        async with station(stack, "CP-PROV", cls=Station) as cp:
            assert (await cp.call(BOOT)).status == "Accepted"
            assert await variables(client, "CP-PROV", 4) == 4  # the chain answering it is stored
        [asked] = await commands(client, "CP-PROV", 1)
        assert (asked["action"], asked["requested_by"], asked["status"], asked["response"]) == (
            "GetBaseReport", REQUESTED_BY, "result", {"status": "Accepted"})
        assert asked["payload"]["reportBase"] == "FullInventory"
        log = await rows(stack, "SELECT direction, message_type, action FROM messages "
                         "WHERE charge_point_id = 'CP-PROV' ORDER BY id")
        sent = [(m["direction"], m["message_type"], m["action"]) for m in log][:3]
        assert sent == [("in", 2, "BootNotification"), ("out", 3, "BootNotification"),
                        ("out", 2, "GetBaseReport")]  # not before the boot's answer

        async with station(stack, "CP-PROV", cls=Station) as cp:  # reboots: its model is known
            assert (await cp.call(BOOT)).status == "Accepted"
            await asyncio.sleep(0.3)
        assert len(await commands(client, "CP-PROV", 1)) == 1


async def test_a_station_that_did_not_report_is_asked_again_and_a_16_one_never(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                         timeout=20) as client:
        async with station(stack, "CP-LATE", cls=Refusing) as cp, connect16(stack.ws_url, "CP-OLD") as old:
            assert (await cp.call(BOOT)).status == "Accepted"
            boot16 = call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall")
            assert (await old.call(boot16)).status == "Accepted"
            [refused] = await commands(client, "CP-LATE", 1)
            assert refused["response"] == {"status": "NotSupported"}
        async with station(stack, "CP-LATE", cls=Station) as cp:
            assert (await cp.call(BOOT)).status == "Accepted"
            assert await variables(client, "CP-LATE", 4) == 4
        assert [c["response"] for c in await commands(client, "CP-LATE", 2)] == [
            {"status": "NotSupported"}, {"status": "Accepted"}]
        assert await commands(client, "CP-OLD") == []
