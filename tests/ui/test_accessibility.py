"""Issue #21, accessibility, in a real Chromium against a real stack with something on every
page: axe-core (npm, from node_modules) finds no colour-contrast failure, nor any other serious or
critical violation, on any page of the navigation (whatever pages it has by then), a charge point's
page (a simulated 1.6 charger's and a raw 2.0.1 station's, each charging), the 404 page and the
login, in light and in dark mode, on a desktop and a phone (which never scrolls sideways); each
page checked once it has drawn what it reads (an open alert on the Alerts page), and with a
confirmation open too (a token's revoke, a locker door's open, an alert's Acknowledge). The top
bar's alert count says its number to a screen reader. Dark mode follows the system unless the top
bar's toggle chose, which is remembered; the charts draw their axes in the theme's ink. Every page
leaves a screenshot in both themes, desktop and phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator
from tests.api.resources import BOOT
from tests.conftest import ADMIN_TOKEN
from tests.ocpp_client import connect
from tests.ui.conftest import Served, admin, log_in, shot
from tests.ui.test_charge_point_page_201 import Metered
from tests.ui.test_charge_point_page_201 import station as station_201
from tests.ui.test_dashboard import FAST, ok, wait_for

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE: ViewportSize = {"width": 390, "height": 844}
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
CP_201, MISSING = "/ui/charge-points/CP-PAGE-201", "/ui/charge-points/NO-SUCH-ID"
# what shows a page has drawn what it reads: every page must have an entry (the 404's is its heading)
READY = {"/": '#cp-table tr[data-id="CP-A11Y"]', "/ui/transactions": "#tx-table tbody tr[data-id]",
         "/ui/load": "#members tbody tr", "/ui/simulator": 'tr[data-identity="CP-A11Y"]',
         "/ui/alerts": '#alerts-table tbody tr[data-id] a[href="/ui/charge-points/CP-REJECTED"]',
         "/ui/lockers": ".bay >> nth=3", "/ui/admin": '#users tr[data-username="ada"]',
         "/ui/charge-points/CP-A11Y": "#chart .uplot canvas",
         CP_201: '#transactions tbody tr td a >> nth=0', MISSING: "main h1"}
NAMES = {"/": "network", "/ui/charge-points/CP-A11Y": "charge_point", CP_201: "charge_point_201",
         MISSING: "not_found"}


def violations(page: Page) -> list[str]:
    """axe-core's findings that fail the page: any colour contrast, and what it rates serious or
    critical (a missing label, a bad ARIA role, ...), each with where and why."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run make install (npm ci)")
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']} ({v['impact']}) {v['help']}: " + "; ".join(
        f"{n['target']} {n.get('failureSummary', '')}".replace("\n", " ") for n in v["nodes"][:4])
        for v in found if v["id"] == "color-contrast" or v["impact"] in ("serious", "critical")]


def running(rest: Any, charge_point: str) -> None:
    """Wait until the charge point's transaction has started and has a meter value: its page
    then draws the chart when it opens (the remote start is answered before the session starts)."""
    def started() -> bool:
        items = ok(rest.get("/api/v1/transactions", params={"charge_point_id": charge_point}))["items"]
        return bool(items) and bool(ok(rest.get(f"/api/v1/transactions/{items[0]['id']}"))["meter_values"])

    wait_for(started)


@pytest.fixture
def charging_201(locker_site: tuple[Stack, Emulator, Served[Any]]) -> Iterator[Metered]:
    """A raw 2.0.1 station (CP-PAGE-201) kept connected, charging with two readings."""
    stack = locker_site[0]
    station = Served(lambda: station_201(stack.ws_url))
    with station as cp, admin(stack) as rest:
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-201"}), 201)
        ok(rest.post("/api/v1/charge-points/CP-PAGE-201/commands/RequestStartTransaction",
                     json={"evseId": 1, "remoteStartId": 7, "idToken": {"idToken": "TAG-201", "type": "ISO14443"}}))
        wait_for(lambda: ok(rest.get("/api/v1/transactions", params={"charge_point_id": "CP-PAGE-201"}))["items"])
        station.run(lambda: cp.meter(1500, 7400))
        yield cp


def rejected_boot(stack: Stack, served: Served[Any]) -> None:
    """An open alert: CP-REJECTED's 1.6 boot rejected (registered so), then one evaluation."""
    with admin(stack) as rest:
        ok(rest.post("/api/v1/charge-points", json={"id": "CP-REJECTED", "registration_status": "Rejected"}), 201)

    async def boot() -> None:
        async with connect(stack.ws_url, "CP-REJECTED") as cp:
            assert (await cp.call(BOOT)).status == "Rejected"

    served.run(boot)
    opened = served.run(stack.central.alert_evaluator.evaluate).opened
    assert "CP-REJECTED" in [a["charge_point_id"] for a in opened], opened


def arrange(stack: Stack, emu: Emulator, served: Served[Any]) -> None:
    """Something on every page: a charging simulated charger in a load group, its transaction, a
    bay with a phone inside, a token, an id tag, a role, a user and an open alert."""
    rejected_boot(stack, served)
    with admin(stack) as rest:
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-A11Y"}), 201)
        charger = ok(rest.post("/ocpp/chargers", json={"identity": "CP-A11Y", "template": "ac-wallbox",
                                                       "overrides": FAST}), 201)
        ok(rest.post(f"/ocpp/chargers/{charger['id']}/start-charger"))
        wait_for(lambda: rest.get("/api/v1/charge-points/CP-A11Y").json().get("online"))
        ok(rest.post("/api/v1/load-groups", json={"name": "car-park", "limit": 32, "members": [
            {"charge_point_id": "CP-A11Y", "rating": 16}]}), 201)
        ok(rest.post("/api/v1/charge-points/CP-A11Y/commands/RemoteStartTransaction",
                     json={"connectorId": 1, "idTag": "TAG-A11Y"}))
        running(rest, "CP-A11Y")
        role = ok(rest.post("/api/roles", json={"name": "Auditors", "permissions": ["view"]}), 201)
        ok(rest.post("/api/users", json={"username": "ada", "name": "Ada Auditor", "roleId": role["id"]}), 201)
        ok(rest.post("/api/v1/tokens", json={"name": "qa-viewer", "role": "viewer"}), 201)
    bay = emu.boards[1].bays[2]

    def phone_inside() -> None:
        bay.open_door()
        bay.place(Device.phone())
        bay.close_door()

    served.call(phone_inside)


def pages(page: Page, base: str) -> list[str]:
    """Every page of the navigation (as many as there are), both charge points' pages and the 404."""
    page.goto(base + "/")
    links = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
    assert len(links) >= 7, links
    missing = [link for link in links if link not in READY]
    assert not missing, f"no READY selector for {missing}: say what shows each page has drawn its data"
    return [*links, "/ui/charge-points/CP-A11Y", CP_201, MISSING]


def visit(page: Page, base: str, path: str) -> None:
    page.goto(base + path)
    expect(page.locator(READY[path]).first).to_be_visible()


def name_of(path: str) -> str:
    return NAMES.get(path) or path.removeprefix("/ui/").replace("/", "_")


def dialogs(page: Page, base: str, name: str) -> dict[str, list[str]]:
    """axe over the open dialogs: an alert's Acknowledge and a locker door's Open (both cancelled)."""
    found: dict[str, list[str]] = {}
    visit(page, base, "/ui/alerts")
    page.locator("#alerts-table tbody tr[data-id] button.ack").first.click()
    expect(page.locator("#ack-dialog")).to_be_visible()
    found[f"acknowledge {name}"] = violations(page)
    shot(page, f"alerts_acknowledge_{name}")
    page.locator("#ack-cancel").click()
    expect(page.locator("#ack-dialog")).to_be_hidden()
    visit(page, base, "/ui/lockers")
    page.locator('.bay[data-identity="LOCKER-A-01"] [data-act="open"]').click()
    box = page.get_by_role("alertdialog")
    expect(box).to_be_visible()
    found[f"open door {name}"] = violations(page)
    shot(page, f"confirm_open_door_{name}")
    box.locator('[data-answer="cancel"]').click()
    expect(box).to_have_count(0)
    return found


def test_every_page_passes_axe_in_light_and_dark_on_desktop_and_phone(
        locker_site: tuple[Stack, Emulator, Served[Any]], charging_201: Metered, page: Page,
        context: BrowserContext) -> None:
    stack, emu, served = locker_site
    arrange(stack, emu, served)
    base = stack.http_url
    page.goto(base + "/")
    failures: dict[str, list[str]] = {}
    for scheme in SCHEMES:  # the login, before a session
        page.emulate_media(color_scheme=scheme)
        page.goto(base + "/")
        expect(page.locator("html")).to_have_attribute("data-theme", scheme)
        failures[f"login {scheme}"] = violations(page)
        shot(page, f"login_{scheme}")
        page.set_viewport_size(PHONE)
        shot(page, f"login_{scheme}_phone")
        page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, token=ADMIN_TOKEN)
    # the top bar's count is in the Alerts link's name, not only its colour and digits
    expect(page.locator("#alert-count")).to_have_text("1")
    expect(page.locator('nav a[href="/ui/alerts"]')).to_have_accessible_name("Alerts 1 open alert")
    paths = pages(page, base)
    assert context.browser is not None
    phone = context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    try:
        phone.add_cookies(cast(Any, context.cookies()))
        small = phone.new_page()
        for path in paths:
            name = name_of(path)
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)
                visit(page, base, path)
                expect(page.locator("html")).to_have_attribute("data-theme", scheme)
                failures[f"{path} {scheme}"] = violations(page)
                shot(page, f"{name}_{scheme}")
            for scheme in SCHEMES:  # every page at phone size too, in both themes
                small.emulate_media(color_scheme=scheme)
                visit(small, base, path)
                where = f"{path} {scheme} phone"
                failures[where] = violations(small)
                overflow = small.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                if overflow > 0:
                    failures[where].append(f"the page scrolls sideways by {overflow}px")
                shot(small, f"{name}_{scheme}_phone")
        for scheme in SCHEMES:  # the dialogs open, in both themes, desktop and phone
            page.emulate_media(color_scheme=scheme)
            failures.update(dialogs(page, base, scheme))
            small.emulate_media(color_scheme=scheme)
            failures.update(dialogs(small, base, f"{scheme}_phone"))
        # a confirmation open, over a page, in both themes
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            visit(page, base, "/ui/admin")
            page.locator('#tokens tr[data-name="qa-viewer"] button').click()
            expect(page.get_by_role("alertdialog")).to_be_visible()
            failures[f"confirm {scheme}"] = violations(page)
            shot(page, f"confirm_{scheme}")
    finally:
        phone.close()
    failing = {where: found for where, found in failures.items() if found}
    assert failing == {}, "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in failing.items())


def test_the_theme_follows_the_system_until_the_toggle_chooses_and_charts_follow(
        site: Stack, browser: Browser) -> None:
    with admin(site) as rest:
        ok(rest.post("/api/v1/load-groups", json={"name": "yard", "limit": 16, "members": []}), 201)
    dark_system = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    try:
        page = dark_system.new_page()
        log_in(page, site.http_url, token=ADMIN_TOKEN)
        html, toggle = page.locator("html"), page.locator("#theme-toggle")
        expect(html).to_have_attribute("data-theme", "dark")  # the system's, by default
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(toggle).to_have_accessible_name("Dark mode")
        page.emulate_media(color_scheme="light")  # the system changes: the page follows, live
        expect(html).to_have_attribute("data-theme", "light")
        expect(toggle).to_have_attribute("aria-pressed", "false")

        toggle.click()  # chosen: kept over the system's, across pages and reloads
        expect(html).to_have_attribute("data-theme", "dark")
        assert page.evaluate("localStorage.getItem('cb-theme')") == "dark"
        page.click('nav a[href="/ui/load"]')
        expect(html).to_have_attribute("data-theme", "dark")
        expect(page.locator("#group-title")).to_have_text("yard")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 27)", background
        toggle.click()  # back to the system's own (light): nothing is kept, the system rules again
        expect(html).to_have_attribute("data-theme", "light")
        assert page.evaluate("localStorage.getItem('cb-theme')") is None
        page.emulate_media(color_scheme="dark")
        expect(html).to_have_attribute("data-theme", "dark")
    finally:
        dark_system.close()


def test_a_chart_redraws_its_axes_in_the_new_theme(site: Stack, page: Page) -> None:
    with admin(site) as rest:
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-CHART"}), 201)
        charger = ok(rest.post("/ocpp/chargers", json={"identity": "CP-CHART", "template": "ac-wallbox",
                                                       "overrides": FAST}), 201)
        ok(rest.post(f"/ocpp/chargers/{charger['id']}/start-charger"))
        wait_for(lambda: rest.get("/api/v1/charge-points/CP-CHART").json().get("online"))
        ok(rest.post("/api/v1/charge-points/CP-CHART/commands/RemoteStartTransaction",
                     json={"connectorId": 1, "idTag": "TAG-CHART"}))
        running(rest, "CP-CHART")
    page.emulate_media(color_scheme="light")
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.goto(site.http_url + "/ui/charge-points/CP-CHART")
    expect(page.locator("#chart .uplot canvas").first).to_be_visible()
    axis = """() => { const u = document.getElementById('chart').uplot;
        return [u.axes[1].stroke(u, 1), u.axes[1].grid.stroke(u, 1), u.series[1].stroke(u, 1)]; }"""
    assert page.evaluate(axis) == ["#1c2430", "#e3e7ee", "#1a66d6"]
    page.click("#theme-toggle")
    assert page.evaluate(axis) == ["#e6ebf2", "#2a3442", "#6ea8ff"]
    marker = page.locator("#chart .u-series").nth(1).locator(".u-marker")
    expect(marker).to_have_css("border-color", "rgb(110, 168, 255)")  # the legend, too
    shot(page, "charge_point_chart_dark")
