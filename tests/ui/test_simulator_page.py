"""The dashboard's simulator page in a real Chromium against a real stack (issue #21): one charger
and N from a template made from the page; every connector plugged in, started, stopped, unplugged,
faulted and cleared from its row, and the central system told; the generator switched per charger
and for all shown; search, state filter and pages; the requests a page of 54 chargers costs while
they boot and charge; and a phone, where every action is reachable without sideways scrolling."""

from __future__ import annotations

import time
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Locator, Page, Request, expect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.ui.conftest import admin, log_in, shot

FLEET = 54  # the finding: 54 chargers cost the page 432 requests in 12 s
WINDOW = 30.0  # seconds the requests are counted for
PER_MINUTE = 40  # the bound: one list request every 2 s at most (30), the event stream, slack


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def open_simulator(page: Page, stack: Stack) -> None:
    log_in(page, stack.http_url, token=ADMIN_TOKEN)
    page.click("nav >> text=Simulator")
    expect(page.locator("#templates option")).to_have_count(3)


def row(page: Page, identity: str) -> Locator:
    return page.locator(f'#chargers tr[data-identity="{identity}"]')


def connector(row: Locator, connector_id: int) -> Locator:
    return row.locator(f'.conn[data-connector="{connector_id}"]')


def csms_status(stack: Stack, cp: str, connector_id: int) -> str:
    with admin(stack) as rest:
        found = ok(rest.get(f"/api/v1/charge-points/{cp}"))
    return next((c["status"] for c in found["connectors"] if c["connector_id"] == connector_id), "")


def until(check: Any, timeout: float = 15.0) -> Any:
    """Poll what the test arranges or checks behind the page (the central system's record)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value


def test_every_connector_is_driven_from_its_row(site: Stack, page: Page) -> None:
    streams: list[str] = []  # the event streams the page opens
    page.on("request", lambda r: streams.append(r.url) if "/api/v1/events" in r.url else None)
    open_simulator(page, site)
    page.fill('#create [name="name"]', "SIM-UI-1")
    expect(page.locator("#create-preview")).to_have_text("Makes SIM-UI-1")
    page.click("#create button[type=submit]")
    charger = row(page, "SIM-UI-1")
    expect(charger).to_have_attribute("data-status", "CONNECTED")
    # it follows the events of the chargers it shows, no other station's
    assert any("charge_point_id=SIM-UI-1" in url for url in streams), streams
    first, second = connector(charger, 1), connector(charger, 2)
    expect(first).to_have_attribute("data-status", "Available")

    # the second connector through a whole session and a fault; the first stays as it was
    for action, status in (("plug", "Preparing"), ("start-transaction", "Charging"),
                           ("stop-transaction", "Finishing"), ("unplug", "Available"),
                           ("fault-connector", "Faulted")):
        second.locator(f'[data-act="{action}"]').click()
        expect(second).to_have_attribute("data-status", status)
        until(lambda s=status: csms_status(site, "SIM-UI-1", 2) == s)  # the central system was told
    expect(second.locator("[data-act]")).to_have_count(1)  # a faulted connector can only be cleared
    expect(first).to_have_attribute("data-status", "Available")
    second.locator('[data-act="clear-fault"]').click()
    expect(second).to_have_attribute("data-status", "Available")
    first.locator('[data-act="start-transaction"]').click()  # plugs in and starts
    expect(first).to_have_attribute("data-status", "Charging")
    with admin(site) as rest:
        [tx] = ok(rest.get("/api/v1/transactions", params={"charge_point_id": "SIM-UI-1", "active": "true"}))["items"]
    assert (tx["connector_id"], tx["id_tag"]) == (1, "SIM-TAG-1")
    first.locator('[data-act="stop-transaction"]').click()
    expect(first).to_have_attribute("data-status", "Finishing")

    # a refresh that changes nothing of a row leaves the row in place (a row rebuilt under the
    # pointer would swallow a click on it): mark it, make another charger, find the mark
    charger.evaluate("node => { node.marked = true; }")
    page.fill('#create [name="name"]', "SIM-UI-2")
    page.uncheck('#create [name="start"]')
    page.click("#create button[type=submit]")
    expect(row(page, "SIM-UI-2")).to_have_attribute("data-status", "PROVISIONED")
    assert charger.evaluate("node => node.marked === true")
    charger.locator("[data-log]").click()
    expect(page.locator("#log")).to_contain_text("StatusNotification")
    shot(page, "simulator")

    charger.locator('input[type="checkbox"]').check()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.click('[data-bulk="stop-charger"]')
    expect(charger).to_have_attribute("data-status", "STOPPED")
    expect(charger).to_contain_text("not running")


def test_a_fleet_from_a_template_found_paged_and_refreshed_in_one_request(site: Stack, page: Page) -> None:
    open_simulator(page, site)
    form = page.locator("#create")
    form.locator('[name="count"]').fill(str(FLEET))
    form.locator('[name="name"]').fill("LOAD-")
    form.locator('[name="atg"]').check()
    expect(page.locator("#create-preview")).to_have_text(f"Makes {FLEET} chargers: LOAD-001 … LOAD-0{FLEET}")
    asked: list[Request] = []
    page.on("request", lambda request: asked.append(request))
    form.locator("button[type=submit]").click()
    [made] = until(lambda: [r for r in asked if r.method == "POST"])
    assert made.url.endswith("/ocpp/chargers/from-template")  # the fleet in one request
    expect(page.locator("#page-info")).to_have_text(f"page 1 of 3 · {FLEET} chargers")
    expect(page.locator("#chargers tbody tr")).to_have_count(25)
    expect(page.locator('#chargers tr[data-status="CONNECTED"]')).to_have_count(25, timeout=60_000)

    # while 54 stations boot, report and charge, the page asks for its list, never per charger
    asked.clear()
    started = time.monotonic()
    page.wait_for_timeout(WINDOW * 1000)  # the measuring window, not an assertion
    seconds = time.monotonic() - started
    lists = [r for r in asked if r.method == "GET" and "/ocpp/chargers?" in r.url]
    top_bar = [r for r in asked if r.url.endswith("/api/v1/alerts/counts")]  # every page's, every 15 s
    per_minute = len(asked) * 60 / seconds
    print(f"\nsimulator page, {FLEET} chargers with the generator on: {len(asked)} requests in {seconds:.1f} s "
          f"({per_minute:.1f}/min), {len(lists)} of them the list")
    assert not [r.url for r in asked if "/provisioning" in r.url or "/logs" in r.url]
    assert len(lists) + len(top_bar) == len(asked), [r.url for r in asked if r not in lists + top_bar]
    assert len(top_bar) <= seconds / 15 + 1
    assert per_minute <= PER_MINUTE, [r.url for r in asked]
    assert len(lists) >= seconds / 10  # and it does refresh (on events, or after 5 s of quiet)
    assert all("runtime=true" in r.url for r in lists)

    # pages, search, state
    page.click("#next")
    expect(page.locator("#page-info")).to_have_text(f"page 2 of 3 · {FLEET} chargers")
    expect(page.locator("#chargers tbody tr").first).to_have_attribute("data-identity", "LOAD-026")
    page.click("#next")
    expect(page.locator("#chargers tbody tr")).to_have_count(FLEET - 50)
    expect(page.locator("#next")).to_be_disabled()
    page.fill('#sim-filters [name="q"]', "load-00")  # any case; back to page 1
    expect(page.locator("#page-info")).to_have_text("page 1 of 1 · 9 chargers")
    expect(page.locator("#chargers tbody tr").last).to_have_attribute("data-identity", "LOAD-009")
    page.fill('#sim-filters [name="q"]', "")
    asked.clear()
    page.select_option('#sim-filters [name="state"]', "connector:Charging")  # the generator's sessions
    page.wait_for_function("""() => { const rows = [...document.querySelectorAll('#chargers tr[data-identity]')];
        return rows.length > 0 && rows.every(r => r.querySelector('.conn[data-status="Charging"]')); }""",
                           timeout=60_000)
    assert any("connector_status=Charging" in r.url for r in asked)  # the server filtered them
    page.select_option('#sim-filters [name="state"]', "status:STOPPED")
    expect(page.locator("#chargers tbody")).to_contain_text("No simulated charger matches.")
    page.select_option('#sim-filters [name="state"]', "")
    expect(page.locator("#page-info")).to_have_text(f"page 1 of 3 · {FLEET} chargers")

    # the generator: one charger's, then all shown (this page), the others keep theirs
    first = row(page, "LOAD-001")
    expect(first).to_have_attribute("data-atg", "true")
    first.locator("[data-atg]").click()
    expect(first.locator("[data-atg]")).to_have_attribute("aria-pressed", "false")
    page.click('[data-atg-all="false"]')
    expect(page.locator('#chargers tr[data-atg="true"]')).to_have_count(0)
    with admin(site) as rest:
        listed = ok(rest.get("/ocpp/chargers", params={"page_size": 100, "runtime": "true"}))["items"]
    assert [c["identity"] for c in listed if not c["atg"]] == [f"LOAD-0{n:02d}" for n in range(1, 26)]
    assert all(c["runtime"]["atg"] == c["atg"] for c in listed)  # switched in the running stations
    page.click('[data-atg-all="true"]')
    expect(page.locator('#chargers tr[data-atg="false"]')).to_have_count(0)
    shot(page, "simulator_fleet")


def test_on_a_phone_every_action_is_reachable(site: Stack, context: BrowserContext) -> None:
    with admin(site) as rest:
        ok(rest.post("/ocpp/chargers/from-template", json={"prefix": "PHONE-", "count": 3, "start": True}), 201)
    assert context.browser is not None
    phone = context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        open_simulator(page, site)
        charger = row(page, "PHONE-002")
        expect(charger.locator(".conn")).to_have_count(2)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the simulator page scrolls sideways by {overflow}px on a phone"
        controls = page.locator("main button:visible, main input:visible, main select:visible")
        assert controls.count() > 40
        for box in (c.bounding_box() for c in controls.all()):
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        second = connector(charger, 2)
        second.locator('[data-act="plug"]').tap()
        expect(second).to_have_attribute("data-status", "Preparing")
        second.locator('[data-act="start-transaction"]').tap()
        expect(second).to_have_attribute("data-status", "Charging")
        charger.locator("[data-atg]").tap()
        expect(charger.locator("[data-atg]")).to_have_attribute("aria-pressed", "true")
        page.locator('#create [name="count"]').fill("5")
        expect(page.locator('#create [name="first"]')).to_be_visible()
        expect(page.locator("#page-info")).to_have_text("page 1 of 1 · 3 chargers")
        shot(page, "simulator_phone")
    finally:
        phone.close()
