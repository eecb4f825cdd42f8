"""The load management page in a real headless Chromium (issue #19): create a load group from the
page, then watch simulated chargers' sessions share its limit live, a third one wait, and the
chart of the group's draw against its limit."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.ui.conftest import admin, log_in, shot
from tests.ui.test_dashboard import ok, start_charger, wait_for


def test_a_load_group_from_the_page_shares_its_limit_live(site: Stack, page: Page) -> None:
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.click('nav a[href="/ui/load"]')
    expect(page.locator("#empty")).to_be_visible()  # nothing yet: says what a load group is
    form = page.locator("#create")
    form.locator('[name="name"]').fill("car-park")
    form.locator('[name="limit"]').fill("16")
    form.locator('[name="members"]').fill("CP-LOAD-1, CP-LOAD-2, CP-LOAD-3")
    form.locator('[name="rating"]').fill("16")
    form.locator('button[type="submit"]').click()
    expect(page.locator("#group-title")).to_have_text("car-park")
    expect(page.locator("#group-facts")).to_contain_text("limit 16 A × 3 phases, at least 6 A a session")
    expect(page.locator("#members tbody tr")).to_have_count(3)

    for n in (1, 2, 3):  # three drivers: two fit at 6 A or more of 16 A, the third waits
        start_charger(site, f"CP-LOAD-{n}")
    with admin(site) as rest:
        for n in (1, 2, 3):
            cp = f"CP-LOAD-{n}"
            wait_for(lambda cp=cp: rest.get(f"/api/v1/charge-points/{cp}").json().get("online"))
            ok(rest.post(f"/api/v1/charge-points/{cp}/commands/RemoteStartTransaction",
                         json={"connectorId": 1, "idTag": f"TAG-{n}"}))
    rows = page.locator("#members tbody tr")
    expect(rows.filter(has_text="charging")).to_have_count(2)  # live: no reload
    expect(rows.filter(has_text="waiting")).to_have_count(1)
    expect(page.locator("#group-total")).to_contain_text("1 waiting: CP-LOAD-3/1")
    expect(page.locator("#chart canvas")).to_be_visible()
    # time as everywhere: 24 h labels, the zone named in the legend
    expect(page.locator("#chart .u-legend .u-series").first).to_contain_text(re.compile(r"Time \(\S+\)"))
    labels = page.evaluate("() => document.getElementById('chart').uplot.axes[0]._values || []")
    assert labels and all(re.fullmatch(r"(\d\d-\d\d )?\d\d:\d\d", str(x)) for x in labels), labels
    shot(page, "load")
