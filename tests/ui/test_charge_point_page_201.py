"""The charge point page (issue #21) with an OCPP 2.0.1 station, in a real headless Chromium:
its 40 commands as forms from their schemas, the device model as a table edited with
SetVariables (accepted and rejected), a remote start whose energy and power the page shows as
numbers and charts from the start reading as the station's TransactionEvents bring meter values,
the stop, the history of it all and the message log."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from playwright.sync_api import Page, expect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.csms.test_ocpp201_connection import BOOT
from tests.ocpp_client import connect
from tests.ui.conftest import Served, admin, command, log_in, shot
from tests.ui.test_charge_point_page import PHONE, chart_axis, no_errors
from tests.ui.test_dashboard import ok
from tests.ui.test_dashboard_201 import Station, now

REGISTER = "Energy.Active.Import.Register"


def reading(wh: float, watts: float | None = None) -> list[dict[str, Any]]:
    sampled: list[dict[str, Any]] = [{"value": wh, "measurand": REGISTER, "unit_of_measure": {"unit": "Wh"}}]
    if watts is not None:
        sampled.append({"value": watts, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}})
    return [{"sampled_value": sampled}]  # taken at the event's time (Metered.event)


class Metered(Station):
    """Starts its transaction with a register of 1000 Wh, sends meter values when the test says,
    and stops when asked (RequestStopTransaction) with a last reading."""

    seq = 0

    def event(self, event_type: str, trigger: str, meter: list[dict[str, Any]], **extra: Any) -> Any:
        self.seq += 1
        at = now()  # the start reading is the transaction's start: one point, not two a ms apart
        return call.TransactionEvent(event_type=event_type, timestamp=at, trigger_reason=trigger, seq_no=self.seq,
                                     meter_value=[{**m, "timestamp": at} for m in meter], **extra)

    @after("RequestStartTransaction")
    async def started(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int = 1, **_: Any) -> None:
        await self.call(self.event("Started", "RemoteStart", reading(1000), id_token=id_token,
                                   transaction_info={"transaction_id": "UI-TX-2", "remote_start_id": remote_start_id},
                                   evse={"id": evse_id, "connector_id": 1}))

    async def meter(self, wh: float, watts: float) -> None:
        await self.call(self.event("Updated", "MeterValuePeriodic", reading(wh, watts),
                                   transaction_info={"transaction_id": "UI-TX-2", "charging_state": "Charging"}))

    @on("RequestStopTransaction")
    def on_stop(self, transaction_id: str, **_: Any) -> Any:
        return call_result.RequestStopTransaction(status="Accepted")

    @after("RequestStopTransaction")
    async def stopped(self, transaction_id: str, **_: Any) -> None:
        await self.call(self.event("Ended", "RemoteStop", reading(2100), transaction_info={
            "transaction_id": transaction_id, "stopped_reason": "Remote"}))


@contextlib.asynccontextmanager
async def station(url: str) -> AsyncIterator[Metered]:
    async with connect(url, "CP-PAGE-201", cls=Metered, subprotocols=("ocpp2.0.1",)) as cp:
        cp.received = []
        await cp.call(BOOT)
        await cp.call(call.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1, connector_id=1))
        yield cp


def test_a_201_station_page_device_model_energy_and_history(site: Stack, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    served = Served(lambda: station(site.ws_url))
    with served as cp:
        log_in(page, site.http_url, token=ADMIN_TOKEN)
        page.goto(site.http_url + "/ui/charge-points/CP-PAGE-201")
        expect(page.locator("#cp-version")).to_have_text("OCPP 2.0.1")
        expect(page.locator("#config-card")).to_be_hidden()  # 1.6's, not a station's

        # its 40 commands, each a form
        expect(page.locator("#command-count")).to_have_text("40 commands in OCPP 2.0.1")
        actions = page.eval_on_selector_all("#command-pick option", "os => os.map(o => o.value)")
        assert len(actions) == 40 and "SetNetworkProfile" in actions and "RemoteStartTransaction" not in actions
        for action in actions:
            command(page, action)
        variables = command(page, "SetVariables")
        data = variables.locator('[name="setVariableData"]')
        assert '"attributeValue": "300"' in data.input_value()  # the example, to edit
        reset = command(page, "Reset")
        expect(reset.locator('select[name="type"] option')).to_have_text(["Immediate", "OnIdle"])
        expect(reset.locator('[name="evseId"]')).to_have_value("")  # optional: left out unless given
        availability = command(page, "ChangeAvailability")
        expect(availability.locator("details summary")).to_contain_text("evse")  # optional, folded
        availability.locator("button.json-toggle").click()  # the form as JSON, and back
        raw = availability.locator("textarea.json")
        expect(raw).to_have_value(re.compile(r'"operationalStatus": "Inoperative"'))
        raw.fill('{"operationalStatus": "Operative", "evse": {"id": 1}}')
        availability.locator("button.json-toggle").click()
        expect(availability.locator('[name="operationalStatus"]')).to_have_value("Operative")
        expect(availability.locator('[name="evse.id"]')).to_have_value("1")

        # the device model: read from the station, edited row by row
        page.click("#model-read")
        rows = page.locator("#device-model tbody tr")
        expect(rows).to_have_count(4)  # the report's parts, pushed as they come
        heartbeat = page.locator('#device-model tr[data-key^="OCPPCommCtrlr|"]')
        expect(heartbeat.locator("td.value")).to_have_text("300")
        expect(page.locator('#device-model tr[data-key^="SecurityCtrlr|"] button.edit')).to_have_count(0)  # ReadOnly
        heartbeat.locator("button.edit").click()
        heartbeat.locator('input[name="value"]').fill("120")
        heartbeat.locator("button[type=submit]").click()
        expect(heartbeat.locator(".badge")).to_have_text("Accepted")
        expect(heartbeat.locator("td.value")).to_have_text("120")
        expect(heartbeat).to_contain_text("SetVariables")  # learnt from
        power = page.locator('#device-model tr[data-key$="|Power||MaxSet"]')
        power.locator("button.edit").click()
        power.locator('input[name="value"]').fill("11000")
        power.locator("button[type=submit]").click()
        expect(power.locator(".badge")).to_have_text("Rejected")
        expect(power.locator("td.value")).to_have_text("22000")  # refused: unchanged
        with admin(site) as rest:
            model = ok(rest.get("/api/v1/charge-points/CP-PAGE-201/variables",
                                params={"variable": "HeartbeatInterval"}))
        assert [v["value"] for v in model["items"]] == ["120"]

        # a remote start; its energy and power live from its TransactionEvents' meter values
        start = command(page, "RequestStartTransaction")
        start.locator('[name="evseId"]').fill("1")
        start.locator('[name="idToken.idToken"]').fill("TAG-UI-201")
        start.locator('[name="idToken.type"]').select_option("ISO14443")
        start.locator("button[type=submit]").click()
        result = page.locator("#command-result")
        expect(result).to_contain_text("RequestStartTransaction answered Accepted")
        tile = page.locator('#live-energy .tile[data-connector="1"]')
        energy, watts = tile.locator('[data-figure="energy"]'), tile.locator('[data-figure="power"]')
        expect(energy).to_have_text("0.00")  # the start reading
        chart = page.locator("#chart")
        expect(chart).to_have_attribute("data-readings", "1")
        # one reading (the start's) is a chart over the transaction so far: uPlot left to itself
        # ranges a time axis of one point over years (it read "Apr 2027" to "Aug 2029")
        alone = chart_axis(page)
        assert 60 <= alone["max"] - alone["min"] < 3600, alone
        served.run(lambda: cp.meter(1500, 7400))
        expect(energy).to_have_text("0.50")
        expect(watts).to_have_text("7.4")
        expect(chart).to_have_attribute("data-readings", "2")
        served.run(lambda: cp.meter(2000, 7000))
        expect(energy).to_have_text("1.00")
        expect(watts).to_have_text("7.0")
        expect(chart).to_have_attribute("data-readings", "3")
        expect(page.locator("#transactions tbody tr").first.locator("td.energy")).to_have_text("1000")  # Wh, live
        shot(page, "charge_point_201")  # charging
        with admin(site) as rest:
            tx = ok(rest.get("/api/v1/transactions", params={"charge_point_id": "CP-PAGE-201"}))["items"][0]
        axis = chart_axis(page)
        started = datetime.fromisoformat(tx["start_timestamp"].replace("Z", "+00:00")).timestamp()
        assert abs(axis["min"] - started) < 1 and axis["max"] - axis["min"] < 3600, (axis, tx)
        expect(page.locator("#chart-title")).to_contain_text(f"transaction {tx['id']}: 3 readings, 1.00 kWh")

        stop = command(page, "RequestStopTransaction")
        expect(stop.locator('[name="transactionId"]')).to_have_value("UI-TX-2")  # the station's id
        stop.locator("button[type=submit]").click()
        expect(result).to_contain_text("RequestStopTransaction answered Accepted")
        expect(page.locator("#live-energy")).to_contain_text("No transaction running.")
        expect(page.locator("#chart-title")).to_contain_text("4 readings, 1.10 kWh")  # its last one

        # the history: every command with its outcome, newest first
        history = page.locator("#history > li")
        expect(history.first).to_contain_text("RequestStopTransaction")
        outcomes = {a: page.locator(f'#history li[data-action="{a}"]').first.locator(".badge")
                    for a in ("RequestStartTransaction", "GetBaseReport")}
        for badge in outcomes.values():
            expect(badge).to_have_text("Accepted")
        expect(page.locator('#history li[data-action="SetVariables"] .badge')).to_have_text(["Rejected", "Accepted"])

        # the message log: the station's TransactionEvents, one line each
        page.fill("#action-filter", "TransactionEvent")
        page.dispatch_event("#action-filter", "change")
        calls = page.locator('#messages li[data-direction="in"]')
        expect(calls).to_have_count(4)  # Started, two Updated, Ended
        calls.first.locator("summary").click()
        expect(calls.first.locator("pre")).to_contain_text('"eventType": "Ended"')
        no_errors(errors)

        assert page.context.browser is not None
        phone = page.context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        try:
            small = phone.new_page()
            log_in(small, site.http_url, token=ADMIN_TOKEN)
            small.goto(site.http_url + "/ui/charge-points/CP-PAGE-201")
            expect(small.locator("#device-model tbody tr")).to_have_count(4)
            expect(small.locator("#history li").first).to_be_visible()
            overflow = small.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"the station's page scrolls sideways by {overflow}px on a phone"
            shot(small, "charge_point_201_phone")
        finally:
            phone.close()
