"""The dashboard in a real headless Chromium against a real stack: log in, watch a simulated charger
come online, charge from the page, open an emulated locker door, administer, and see a viewer's
command refused, each without reloading the page (the simulator page: test_simulator_page.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator
from tests.conftest import ADMIN_TOKEN
from tests.ui.conftest import Served, admin, command, log_in, shot

FAST = {"meter_interval": 1, "plug_in_delay": 0.2}  # meter values every second, quick plug-in


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def start_charger(stack: Stack, identity: str) -> dict[str, Any]:
    """A simulated charger started, and connected: the central system knows its id (a charge
    point page of an id it does not know yet is a 404)."""
    with admin(stack) as rest:
        charger = ok(rest.post("/ocpp/chargers", json={"identity": identity, "template": "ac-wallbox",
                                                       "overrides": FAST}), 201)
        ok(rest.post(f"/ocpp/chargers/{charger['id']}/start-charger"))
        wait_for(lambda: rest.get(f"/api/v1/charge-points/{identity}").status_code == 200, 30)
    return charger  # type: ignore[no-any-return]


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    """Poll a REST condition (for what the test arranges, not for what the page shows)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def test_login_then_a_simulated_charger_comes_online_live(site: Stack, page: Page) -> None:
    page.goto(site.http_url + "/")
    expect(page.locator("h1")).to_have_text("Operator dashboard")
    expect(page.locator('form[data-form="token"]')).to_be_visible()
    expect(page.locator('form[data-form="admin"]')).to_be_hidden()  # one tab at a time
    shot(page, "login")
    log_in(page, site.http_url, token="not-a-token")
    expect(page.locator("#login-error")).to_contain_text("unknown, expired or revoked token")
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    expect(page.locator("#charge-points")).to_contain_text("No charge points yet")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))  # the event stream is open

    start_charger(site, "CP-UI-1")  # no reload from here on
    card = page.locator('a.cp[data-id="CP-UI-1"]')
    expect(card).to_have_attribute("data-online", "true")
    expect(page.locator('#cp-table tr[data-id="CP-UI-1"] .pills .badge').first).to_have_text("1 Available")
    expect(page.locator('[data-stat="online"] .stat-value')).to_have_text("1/1")
    page.fill("#search", "no-such-charger")
    expect(page.locator("#charge-points")).to_contain_text("No charge point matches")
    page.fill("#search", "ui-1")
    page.select_option("#status-filter", "Available")
    expect(card).to_be_visible()
    shot(page, "network")


def test_start_and_stop_a_charge_from_the_charge_point_page(site: Stack, page: Page) -> None:
    start_charger(site, "CP-UI-2")
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.goto(site.http_url + "/ui/charge-points/CP-UI-2")
    connector = page.locator('#connectors tr[data-connector="1"] .badge')
    expect(connector).to_have_text("Available")
    expect(page.locator("#boot")).to_contain_text("SIM-AC22")

    start = command(page, "RemoteStartTransaction")
    start.locator('[name="connectorId"]').fill("1")
    start.locator('[name="idTag"]').fill("TAG-UI")
    start.locator("button[type=submit]").click()
    result = page.locator("#command-result")
    expect(result).to_contain_text("RemoteStartTransaction answered Accepted")
    expect(connector).to_have_text("Charging")  # pushed by the event stream
    running = page.locator("#transactions tbody tr").first
    expect(running).to_contain_text("TAG-UI")
    expect(running).to_contain_text("running")
    with admin(site) as rest:
        tx = ok(rest.get("/api/v1/transactions", params={"charge_point_id": "CP-UI-2"}))["items"][0]
        wait_for(lambda: len(ok(rest.get(f"/api/v1/transactions/{tx['id']}"))["meter_values"]) >= 2)

    stop = command(page, "RemoteStopTransaction")
    expect(stop.locator('[name="transactionId"]')).to_have_value(str(tx["id"]))  # filled in for us
    stop.locator("button[type=submit]").click()
    expect(result).to_contain_text("RemoteStopTransaction answered Accepted")
    expect(connector).not_to_have_text("Charging")
    expect(running).not_to_contain_text("running")
    expect(page.locator("#chart .uplot canvas").first).to_be_visible()  # energy and power
    expect(page.locator("#chart-title")).to_contain_text(f"transaction {tx['id']}")

    page.fill("#action-filter", "RemoteStartTransaction")
    page.dispatch_event("#action-filter", "change")
    messages = page.locator("#messages li")
    expect(messages).to_have_count(2)  # the CALL and its CALLRESULT
    expect(messages.first).to_contain_text('{"status":"Accepted"}')

    page.click("nav >> text=Transactions")
    row = page.locator(f'#tx-table tr[data-id="{tx["id"]}"]')
    expect(row).to_contain_text("CP-UI-2")
    expect(row).to_contain_text("Remote")
    page.fill('#tx-filters [name="id_tag"]', "TAG-UI")
    page.click("#tx-filters button")
    expect(page.locator("#page-info")).to_contain_text("· 1 transaction")
    with page.expect_download() as download:
        page.click("#csv")
    csv = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert csv[0].startswith("id,") and len(csv) == 2 and csv[1].startswith(f"{tx['id']},CP-UI-2,")
    shot(page, "transactions")


def test_lockers_page_opens_an_emulated_door_and_charges_a_bay(
        locker_site: tuple[Stack, Emulator, Served[Any]], page: Page) -> None:
    stack, emu, served = locker_site
    with admin(stack) as rest:
        role = ok(rest.post("/api/roles", json={"name": "Site staff", "permissions": ["operate"]}), 201)
        ok(rest.post("/api/users", json={"username": "olga", "name": "Olga Operator",
                                         "roleId": role["id"], "password": "locker room key"}), 201)
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-1"}), 201)  # the page's default tag
    log_in(page, stack.http_url, "admin", username="olga", password="locker room key")
    expect(page.locator(".who")).to_contain_text("olga")
    page.click("nav >> text=Lockers")
    bays = page.locator(".bank .bay")
    expect(bays).to_have_count(4)

    first = page.locator('.bay[data-identity="LOCKER-A-01"]')
    expect(first).to_have_attribute("data-door", "closed")
    first.locator('[data-act="open"]').click()
    page.get_by_role("alertdialog").locator('[data-answer="ok"]').click()  # asked first: test_safety.py
    expect(first).to_have_attribute("data-door", "open")
    expect(first.locator(".door")).to_have_text("open")
    assert emu.boards[1].bays[1].door_open  # the emulated board's door really opened

    bay2 = emu.boards[1].bays[2]
    served.call(lambda: (bay2.open_door(), bay2.place(Device.phone()), bay2.close_door()))
    second = page.locator('.bay[data-identity="LOCKER-A-02"]')
    expect(second).to_have_attribute("data-status", "Preparing")  # a phone inside, door shut
    second.locator('[data-act="start"]').click()
    expect(second).to_have_attribute("data-status", "Charging")
    assert bay2.outlet_on
    second.locator('[data-act="stop"]').click()
    expect(second).not_to_have_attribute("data-status", "Charging")

    third = page.locator('.bay[data-identity="LOCKER-A-03"]')
    third.locator('[data-act="service"]').click()
    expect(third).to_have_class(re.compile(r"\boos\b"))
    expect(third.locator('[data-act="service"]')).to_have_text("In service")
    audit = page.locator("#audit tbody")
    expect(audit).to_contain_text("locker.open")
    expect(audit).to_contain_text("locker.service")
    shot(page, "lockers")

    page.click("text=Log out")  # a password login's token is revoked on the way out
    expect(page.locator("h1")).to_have_text("Operator dashboard")
    with admin(stack) as rest:
        tokens = ok(rest.get("/api/v1/tokens"))["items"]
    assert [t["name"] for t in tokens] == ["CHARGEBAY_API_TOKEN"]


def test_admin_page_and_a_viewer_on_a_phone(site: Stack, page: Page, context: BrowserContext) -> None:
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.click("nav >> text=Admin")
    page.fill('#token-form [name="name"]', "qa-viewer")
    page.click("#token-form button")
    secret = page.locator("#new-secret")
    expect(secret).to_have_text(re.compile(r"^cb_"))
    viewer_token = secret.inner_text()
    expect(page.locator('#tokens tr[data-name="qa-viewer"]')).to_contain_text("viewer")
    page.fill('#tag-form [name="id_tag"]', "TAG-ADMIN")
    page.click("#tag-form button")
    expect(page.locator("#tags")).to_contain_text("TAG-ADMIN")
    page.fill('#role-form [name="name"]', "Auditors")
    page.check('#role-form [value="view"]')
    page.click("#role-form button")
    expect(page.locator("#roles")).to_contain_text("Auditors")
    expect(page.locator("#user-role option", has_text="Auditors")).to_have_count(1)
    page.fill('#user-form [name="username"]', "vera")
    page.fill('#user-form [name="name"]', "Vera Viewer")
    page.select_option("#user-role", label="Auditors")
    page.click("#user-form button")
    expect(page.locator("#users")).to_contain_text("Vera Viewer")
    expect(page.locator("#roles tr", has_text="Auditors").locator("td").nth(2)).to_have_text("1")
    shot(page, "admin")

    with admin(site) as rest:
        ok(rest.post("/api/v1/charge-points", json={"id": "CP-VIEW"}), 201)
    assert context.browser is not None
    phone = context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                        has_touch=True)
    try:
        viewer = phone.new_page()
        log_in(viewer, site.http_url, token=viewer_token)
        expect(viewer.locator('a.cp[data-id="CP-VIEW"]')).to_have_attribute("data-online", "false")
        expect(viewer.locator("nav a")).to_have_count(6)  # no Admin for a viewer
        overflow = viewer.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the overview scrolls sideways by {overflow}px on a phone"
        shot(viewer, "network_phone")
        viewer.click('a.cp[data-id="CP-VIEW"]')
        reset = command(viewer, "Reset")
        reset.locator("button[type=submit]").click()
        viewer.get_by_role("alertdialog").locator('[data-answer="ok"]').click()  # a reset is asked first
        result = viewer.locator("#command-result")
        expect(result).to_have_attribute("data-status", "403")
        expect(result).to_contain_text("Not allowed: your role (viewer) may not do this.")
        overflow = viewer.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the charge point page scrolls sideways by {overflow}px on a phone"
        shot(viewer, "charge_point_viewer_phone")
        # until the page's script has drawn the form (one of the charge point's OCPP version,
        # from its schema) and wired it, there is nothing to submit natively (a GET of the
        # page, the command lost): no form at all, the picker disabled
        bare = context.browser.new_context(java_script_enabled=False)
        try:
            bare.add_cookies(phone.cookies())
            still = bare.new_page()
            still.goto(f"{site.http_url}/ui/charge-points/CP-VIEW")
            assert still.locator("form.command").count() == 0
            assert still.locator("#command-pick").is_disabled()
        finally:
            bare.close()
        expect(reset.locator("button[type=submit]")).to_be_enabled()
        # the cookie alone does not make a change: our pages' header is required (CSRF)
        status = viewer.evaluate("""fetch('/api/v1/charge-points/CP-VIEW/commands/Reset',
            {method: 'POST', body: '{"type": "Soft"}', headers: {'Content-Type': 'application/json'}})
            .then(r => r.json()).then(b => b.code)""")
        assert status == "CsrfCheckFailed"
    finally:
        phone.close()
