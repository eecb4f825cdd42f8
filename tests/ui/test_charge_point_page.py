"""The charge point page (issue #21) with a simulated OCPP 1.6 charger, in a real headless
Chromium: every 1.6 command as a form generated from its schema, the answer inline, the command
history with outcomes (live), the configuration as a table edited key by key, the running
transaction's energy and power as numbers and its chart from the start reading, both live from
the meter values, the compact message log; an unknown id's page is a 404 (after the login)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from playwright.sync_api import Page, ViewportSize, expect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.ui.conftest import admin, command, log_in, shot
from tests.ui.test_dashboard import ok, start_charger

PHONE: ViewportSize = {"width": 390, "height": 844}
AXIS_LABEL = re.compile(r"^\d\d:\d\d(:\d\d)?$")  # 24 h local time of day


def chart_axis(page: Page) -> dict[str, Any]:
    """What the drawn chart's time axis really spans (uPlot's own scale) and its labels."""
    found: dict[str, Any] = page.evaluate("""() => { const u = document.getElementById('chart').uplot;
        return {min: u.scales.x.min, max: u.scales.x.max, labels: u.axes[0]._values || []}; }""")
    return found


def no_errors(errors: list[str]) -> None:
    assert not errors, f"the page's scripts failed: {errors}"


def test_a_16_charge_point_page_commands_history_configuration_energy_and_log(site: Stack, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    start_charger(site, "CP-PAGE-16")  # meter values every second
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.goto(site.http_url + "/ui/charge-points/CP-PAGE-16")
    expect(page.locator('#connectors tr[data-connector="1"] .badge')).to_have_text("Available")
    expect(page.locator("#cp-version")).to_have_text("OCPP 1.6")

    # every CSMS-initiated 1.6 action, each with a form from its schema
    expect(page.locator("#command-count")).to_have_text("26 commands in OCPP 1.6")
    actions = page.eval_on_selector_all("#command-pick option", "os => os.map(o => o.value)")
    assert len(actions) == 26 and "SignedUpdateFirmware" in actions and "ExtendedTriggerMessage" in actions
    for action in actions:
        command(page, action)
    reserve = command(page, "ReserveNow")
    expect(reserve.locator('[name="expiryDate"]')).to_have_attribute("type", "datetime-local")
    expect(reserve.locator('[name="reservationId"]')).not_to_have_value("")  # a new id each time
    profile = command(page, "SetChargingProfile")
    expect(profile.locator('select[name="csChargingProfiles.chargingProfilePurpose"] option')).to_have_count(3)
    expect(profile.locator('[name="csChargingProfiles.chargingSchedule.chargingSchedulePeriod"]')).to_have_class(
        re.compile(r"\bjson\b"))  # a list of objects: raw JSON, prefilled from the example
    trigger = command(page, "TriggerMessage")
    expect(trigger.locator('select[name="requestedMessage"] option')).to_have_count(6)

    # a remote start from its form, answered inline, in the history with its outcome
    start = command(page, "RemoteStartTransaction")
    start.locator('[name="connectorId"]').fill("1")
    start.locator('[name="idTag"]').fill("TAG-PAGE")
    start.locator("button[type=submit]").click()
    result = page.locator("#command-result")
    expect(result).to_contain_text("RemoteStartTransaction answered Accepted")
    first = page.locator("#history li").first
    expect(first).to_contain_text("RemoteStartTransaction")
    expect(first.locator(".badge")).to_have_text("Accepted")
    first.locator("summary").click()
    expect(first.locator("pre").first).to_contain_text('"idTag": "TAG-PAGE"')

    # energy and power of the running transaction as numbers, live from its meter values
    tile = page.locator('#live-energy .tile[data-connector="1"]')
    expect(tile).to_contain_text("Connector 1")
    energy = tile.locator('[data-figure="energy"]')
    expect(energy).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(tile.locator('[data-figure="power"]')).to_have_text(re.compile(r"^\d+\.\d$"))
    with admin(site) as rest:
        tx = ok(rest.get("/api/v1/transactions", params={"charge_point_id": "CP-PAGE-16"}))["items"][0]
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-tx", str(tx["id"]))
    readings = int(chart.get_attribute("data-readings") or 0)
    shown = energy.inner_text()
    expect(chart).not_to_have_attribute("data-readings", str(readings))  # points added as they come
    expect(energy).not_to_have_text(shown)  # no reload: pushed meter values
    expect(page.locator("#chart .uplot canvas").first).to_be_visible()
    axis = chart_axis(page)
    started = datetime.fromisoformat(tx["start_timestamp"].replace("Z", "+00:00")).timestamp()
    assert abs(axis["min"] - started) < 1, (axis, tx["start_timestamp"])  # from the start reading
    assert axis["max"] - axis["min"] < 3600, axis  # the transaction's span, not years
    assert axis["labels"] and all(AXIS_LABEL.match(label) for label in axis["labels"]), axis

    # the configuration as a table: read, then one writable key changed from its row
    page.click("#config-read")
    heartbeat = page.locator('#config tr[data-key="HeartbeatInterval"]')
    expect(heartbeat.locator("td.value")).to_have_text("300")
    expect(page.locator('#config tr[data-key="NumberOfConnectors"] button.edit')).to_have_count(0)  # read-only
    expect(page.locator('#config tr[data-key="NumberOfConnectors"]')).to_contain_text("read-only")
    heartbeat.locator("button.edit").click()
    heartbeat.locator('input[name="value"]').fill("120")
    heartbeat.locator("button[type=submit]").click()
    expect(heartbeat.locator("td.value")).to_have_text("120")  # read back from the charge point
    expect(heartbeat.locator(".badge")).to_have_text("Accepted")
    page.fill("#config-filter", "heartbeat")
    expect(page.locator("#config tbody tr")).to_have_count(1)
    expect(page.locator('#history li[data-action="ChangeConfiguration"]').first).to_contain_text("Accepted")
    shot(page, "charge_point")  # charging

    # GetConfiguration from its form: its keys go to the table, the answer stays short
    get_config = command(page, "GetConfiguration")
    get_config.locator("button[type=submit]").click()
    expect(result).to_contain_text(re.compile(r"GetConfiguration answered \d+ keys"))
    box = result.bounding_box()
    assert box is not None and box["height"] < 200, box

    # the stop form names the running transaction; the figures go once it has stopped
    stop = command(page, "RemoteStopTransaction")
    expect(stop.locator('[name="transactionId"]')).to_have_value(str(tx["id"]))
    stop.locator("button[type=submit]").click()
    expect(result).to_contain_text("RemoteStopTransaction answered Accepted")
    expect(page.locator("#live-energy")).to_contain_text("No transaction running.")
    expect(page.locator("#chart-title")).to_contain_text(f"transaction {tx['id']}")

    # the message log: a line per frame, opened to read its payload; filtered by action
    lines = page.locator("#messages > li")
    expect(lines.first).to_be_visible()
    heights = lines.evaluate_all("ls => ls.slice(0, 10).map(l => l.getBoundingClientRect().height)")
    assert max(heights) < 40, heights
    page.fill("#action-filter", "RemoteStartTransaction")
    page.dispatch_event("#action-filter", "change")
    expect(lines).to_have_count(2)  # the CALL and its CALLRESULT
    lines.last.locator("summary").click()
    expect(lines.last.locator("pre")).to_contain_text('"idTag": "TAG-PAGE"')
    no_errors(errors)

    assert page.context.browser is not None
    phone = page.context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        small = phone.new_page()
        log_in(small, site.http_url, token=ADMIN_TOKEN)
        small.goto(site.http_url + "/ui/charge-points/CP-PAGE-16")
        expect(small.locator("#command-count")).to_have_text("26 commands in OCPP 1.6")
        expect(small.locator("#history li").first).to_be_visible()
        command(small, "SetChargingProfile")
        overflow = small.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the charge point page scrolls sideways by {overflow}px on a phone"
        shot(small, "charge_point_phone")
    finally:
        phone.close()


def test_an_unknown_charge_point_is_a_404_page_after_the_login(site: Stack, page: Page) -> None:
    with httpx.Client(base_url=site.http_url, follow_redirects=False) as anonymous:
        r = anonymous.get("/ui/charge-points/NO-SUCH-CP")
    assert r.status_code == 303 and r.headers["location"] == "/?next=/ui/charge-points/NO-SUCH-CP"

    log_in(page, site.http_url, token=ADMIN_TOKEN)
    response = page.goto(site.http_url + "/ui/charge-points/NO-SUCH-CP")
    assert response is not None and response.status == 404
    expect(page.locator("#not-found")).to_contain_text("There is no charge point NO-SUCH-CP")
    expect(page.locator("#command-pick")).to_have_count(0)  # no live page for nothing
    page.click("#not-found a")
    expect(page).to_have_url(site.http_url + "/")
    with admin(site) as rest:
        ok(rest.post("/api/v1/charge-points", json={"id": "CP-KNOWN"}), 201)
    response = page.goto(site.http_url + "/ui/charge-points/CP-KNOWN")
    assert response is not None and response.status == 200
    expect(page.locator("#command-count")).to_have_text("26 commands in OCPP 1.6")


def test_the_configuration_table_survives_many_single_key_reads(site: Stack, page: Page) -> None:
    """Each edit reads its key back; the table is the latest read of every key with the reads of
    single keys since on top, however many came after it (it had shown 1 key of 43 after 21)."""
    start_charger(site, "CP-CONF-16")
    with admin(site) as rest:
        path = "/api/v1/charge-points/CP-CONF-16/commands/GetConfiguration"
        every = ok(rest.post(path, json={}))["response"]["configurationKey"]
        ok(rest.post("/api/v1/charge-points/CP-CONF-16/commands/ChangeConfiguration",
                     json={"key": "HeartbeatInterval", "value": "321"}))
        for _ in range(25):
            ok(rest.post(path, json={"key": ["HeartbeatInterval"]}))
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.goto(site.http_url + "/ui/charge-points/CP-CONF-16")
    expect(page.locator("#config tbody tr[data-key]")).to_have_count(len(every))
    expect(page.locator('#config tr[data-key="HeartbeatInterval"]')).to_contain_text("321")
    # what acts on the station or deletes is asked first: Cancel sends nothing, the confirm does
    clear = command(page, "ClearCache")
    clear.locator("button[type=submit]").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Send ClearCache to CP-CONF-16?")
    dialog.locator('[data-answer="cancel"]').click()
    expect(dialog).to_have_count(0)
    with admin(site) as rest:
        asked = {"charge_point_id": "CP-CONF-16", "action": "ClearCache"}
        assert ok(rest.get("/api/v1/commands", params=asked))["total"] == 0
        clear.locator("button[type=submit]").click()
        dialog.locator('[data-answer="ok"]').click()
        # an answer shown belongs to its command: picking another one hides it
        expect(page.locator("#command-result")).to_contain_text("ClearCache")
        assert ok(rest.get("/api/v1/commands", params=asked))["total"] == 1
    command(page, "GetDiagnostics")
    expect(page.locator("#command-result")).to_be_hidden()
    command(page, "ClearCache")
    expect(page.locator("#command-result")).to_contain_text("ClearCache")
