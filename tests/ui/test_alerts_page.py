"""The Alerts page in a real headless Chromium (issue #21): alerts opened by real charge points
whose boots the central system rejects, the count of open ones in the top bar of every page, an
alert acknowledged from the page (a dialog confirms it and takes a note; cancelling changes
nothing), a new alert appearing live, and the rules changed by an admin."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chargebay.stack import Stack, running
from tests.api.resources import BOOT
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.ocpp_client import connect
from tests.ui.conftest import Served, admin, log_in, shot


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[Stack, Served[Any]]]:
    """A stack that evaluates its alert rules only when the test says (no schedule)."""
    settings = make_settings(db_url, alert_interval=0)

    @contextlib.asynccontextmanager
    async def stack() -> AsyncIterator[Stack]:
        async with running(settings, migrate=False) as s:
            yield s

    site = Served(stack)
    with site as s:
        yield s, site


def rejected(site: Stack, served: Served[Any], *ids: str) -> list[dict[str, Any]]:
    """Charge points whose boot is rejected, then one evaluation: the alerts it opened."""
    with admin(site) as rest:
        for cp_id in ids:
            r = rest.post("/api/v1/charge-points", json={"id": cp_id, "registration_status": "Rejected"})
            assert r.status_code == 201, r.text

    async def boot(cp_id: str) -> None:
        async with connect(site.ws_url, cp_id) as cp:
            assert (await cp.call(BOOT)).status == "Rejected"

    for cp_id in ids:
        served.run(lambda cp_id=cp_id: boot(cp_id))
    return served.run(site.central.alert_evaluator.evaluate).opened  # type: ignore[no-any-return]


def test_an_alert_is_acknowledged_from_the_page_and_the_top_bar_counts_it(
        served: tuple[Stack, Served[Any]], page: Page) -> None:
    site, stack = served
    first, second = sorted(rejected(site, stack, "UI-REJ-1", "UI-REJ-2"), key=lambda a: a["id"])
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    count = page.locator("#alert-count")
    expect(count).to_have_text("2")  # on the network page: every page has it
    page.click('nav a[href="/ui/alerts"]')
    rows = page.locator("#alerts-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("UI-REJ-2's boot was rejected")  # newest first
    expect(page.locator("#rules-table tbody tr")).to_have_count(4)  # the defaults, for an admin
    shot(page, "alerts")

    row = page.locator(f'#alerts-table tr[data-id="{first["id"]}"]')
    row.locator("button.ack").click()  # cancelled: nothing changes
    dialog = page.locator("#ack-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("UI-REJ-1's boot was rejected")
    dialog.locator("#ack-cancel").click()
    expect(dialog).to_be_hidden()
    expect(rows).to_have_count(2)

    row.locator("button.ack").click()
    dialog.locator("textarea").fill("vendor called: firmware mismatch")
    shot(page, "alerts-acknowledge")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_be_hidden()
    expect(rows).to_have_count(1)  # the open ones only
    expect(count).to_have_text("1")
    page.click('#alert-states button[data-state="acknowledged"]')
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("vendor called: firmware mismatch")
    expect(rows.first.locator(".badge")).to_have_text("acknowledged")
    with admin(site) as rest:
        stored = rest.get(f"/api/v1/alerts/{first['id']}").json()
    assert stored["state"] == "acknowledged" and stored["note"] == "vendor called: firmware mismatch"
    assert stored["acknowledged_by"] and stored["acknowledged_at"]

    # a new alert while the page is open: the list and the count follow without a reload
    page.click('#alert-states button[data-state="open"]')
    expect(rows).to_have_count(1)
    [third] = rejected(site, stack, "UI-REJ-3")
    expect(page.locator(f'#alerts-table tr[data-id="{third["id"]}"]')).to_be_visible()
    expect(count).to_have_text("2")
    assert second["id"] != third["id"]

    # the rules: an admin changes one and adds one
    offline = page.locator('#rules-table tr[data-kind="offline"]')
    offline.locator('input[type="number"]').fill("25")
    offline.locator("button", has_text="Save").click()
    expect(page.locator("#toast")).to_contain_text("saved")
    form = page.locator("#rule-form")
    form.locator('[name="kind"]').select_option("load_over_limit")
    form.locator('[name="emails"]').fill("noc@example.com, grid@example.com")
    form.locator('button[type="submit"]').click()
    expect(page.locator('#rules-table tr[data-kind="load_over_limit"]')).to_have_count(1)
    with admin(site) as rest:
        rules = {r["kind"]: r for r in rest.get("/api/v1/alert-rules").json()["items"]}
    assert rules["offline"]["minutes"] == 25
    assert rules["load_over_limit"]["emails"] == ["noc@example.com", "grid@example.com"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(rows).to_have_count(2)
    shot(page, "alerts-phone")
