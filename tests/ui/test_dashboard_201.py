"""The dashboard with an OCPP 2.0.1 station (issue #16), in a real headless Chromium: its version,
EVSE topology and device model shown, the commands offered in its version (a 1.6 charge point's
page keeps 1.6's), a base report and a remote start sent from the page, live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from playwright.sync_api import Page, expect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.csms.test_ocpp201_connection import BOOT
from tests.csms.test_ocpp201_device_model import REPORT
from tests.csms.test_ocpp201_device_model import Station as ReportingStation
from tests.ocpp_client import connect
from tests.ui.conftest import Served, admin, command, log_in
from tests.ui.test_dashboard import ok, start_charger


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station(ReportingStation):
    """Reports its model (GetBaseReport), starts a transaction on RequestStartTransaction."""

    received: list[dict[str, Any]]

    async def report(self, request_id: int) -> None:
        """The chain's parts a second apart: the page must follow each (device_model events),
        not only the command's result."""
        for seq, part in enumerate(REPORT):
            await asyncio.sleep(1.0)
            await self.call(call.NotifyReport(request_id=request_id, generated_at=now(), seq_no=seq,
                                              tbc=seq < len(REPORT) - 1, report_data=part))

    @on("RequestStartTransaction")
    def on_start(self, **payload: Any) -> Any:
        self.received.append(payload)
        return call_result.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    async def started(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int = 1, **_: Any) -> None:
        await self.call(call.TransactionEvent(
            event_type="Started", timestamp=now(), trigger_reason="RemoteStart", seq_no=0,
            transaction_info={"transaction_id": "UI-TX-1", "remote_start_id": remote_start_id},
            evse={"id": evse_id, "connector_id": 1}, id_token=id_token))


@contextlib.asynccontextmanager
async def station(url: str) -> AsyncIterator[Station]:
    async with connect(url, "CP-UI-201", cls=Station, subprotocols=("ocpp2.0.1",)) as cp:
        cp.received = []
        await cp.call(BOOT)
        for evse in (1, 2):
            await cp.call(call.StatusNotification(timestamp=now(), connector_status="Available",
                                                  evse_id=evse, connector_id=1))
        yield cp


def test_a_201_station_page_shows_its_model_and_sends_201_commands(site: Stack, page: Page) -> None:
    with admin(site) as rest:
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-UI-201"}), 201)
    with Served(lambda: station(site.ws_url)) as cp:
        log_in(page, site.http_url, token=ADMIN_TOKEN)
        expect(page.locator('#cp-table tr[data-id="CP-UI-201"]')).to_contain_text("2.0.1")
        page.locator('a.cp[data-id="CP-UI-201"]').click()
        expect(page.locator("#boot")).to_contain_text("2.0.1")
        expect(page.locator('#connectors tr[data-evse="2"] .badge')).to_have_text("Available")
        expect(page.locator("#command-count")).to_have_text("40 commands in OCPP 2.0.1")
        expect(page.locator('#command-pick option[value="RemoteStartTransaction"]')).to_have_count(0)
        expect(command(page, "Reset").locator('[name="type"] option')).to_have_text(["Immediate", "OnIdle"])
        model = page.locator("#device-model tbody")
        expect(model).to_contain_text("No device model reported yet")

        command(page, "GetBaseReport").locator("button[type=submit]").click()
        result = page.locator("#command-result")
        expect(result).to_contain_text("GetBaseReport answered Accepted")
        expect(page.locator("#device-model tbody tr")).to_have_count(4)  # pushed: no reload
        page.fill("#component-filter", "OCPPCommCtrlr")
        expect(page.locator("#device-model tbody tr")).to_have_count(1)
        expect(model).to_contain_text("HeartbeatInterval")

        start = command(page, "RequestStartTransaction")
        start.locator('[name="evseId"]').fill("2")
        start.locator('[name="idToken.idToken"]').fill("TAG-UI-201")
        start.locator('[name="idToken.type"]').select_option("ISO14443")
        start.locator("button[type=submit]").click()
        expect(result).to_contain_text("RequestStartTransaction answered Accepted")
        running = page.locator("#transactions tbody tr").first
        expect(running).to_contain_text("UI-TX-1")
        expect(running).to_contain_text("TAG-UI-201")
        stop = command(page, "RequestStopTransaction").locator('[name="transactionId"]')
        expect(stop).to_have_value("UI-TX-1")  # the station's id, filled in for us
        [asked] = cp.received
        assert asked["evse_id"] == 2 and asked["id_token"] == {"id_token": "TAG-UI-201", "type": "ISO14443"}
        assert isinstance(asked["remote_start_id"], int) and asked["remote_start_id"] > 0

    start_charger(site, "CP-UI-16")  # a 1.6 charge point's page keeps 1.6's commands, no model
    page.goto(site.http_url + "/ui/charge-points/CP-UI-16")
    expect(page.locator("#boot")).to_contain_text("1.6")
    expect(command(page, "RemoteStartTransaction")).to_be_visible()
    expect(page.locator('#command-pick option[value="RequestStartTransaction"]')).to_have_count(0)
    expect(page.locator("#device-model-card")).to_be_hidden()
