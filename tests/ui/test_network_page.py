"""The network page at fleet scale, in a real headless Chromium: totals of the online part only, a
sorted, filtered, paged table, the problems list, and live changes applied to the rows they name
without reading the list again (issue #21)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from ocpp.v16 import call
from playwright.sync_api import Page, Request, expect

from chargebay.stack import Stack
from tests.api.resources import BOOT
from tests.conftest import ADMIN_TOKEN
from tests.ocpp_client import connect
from tests.ui.conftest import Served, admin, log_in, shot
from tests.ui.test_dashboard import ok

FLEET = 60  # more than a page of 50


class Stations:
    """Two real 1.6 charge points (NP-001, NP-002) kept connected on the served loop, sending
    what the test tells them to."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cps: dict[str, Any] = {}
        self.stacks: dict[str, contextlib.AsyncExitStack] = {}

    async def open(self, cp_id: str) -> None:
        stack = contextlib.AsyncExitStack()
        cp = await stack.enter_async_context(connect(self.url, cp_id))
        await cp.call(BOOT)
        for connector in (1, 2):
            await cp.call(call.StatusNotification(connector_id=connector, status="Available", error_code="NoError"))
        self.cps[cp_id], self.stacks[cp_id] = cp, stack

    async def close(self, cp_id: str) -> None:
        await self.stacks.pop(cp_id).aclose()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Stations]:
        for cp_id in ("NP-001", "NP-002"):
            await self.open(cp_id)
        try:
            yield self
        finally:
            for cp_id in list(self.stacks):
                await self.close(cp_id)


def on_loop(served: Served[Any], coro: Coroutine[Any, Any, Any]) -> Any:
    assert served._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, served._loop).result(20)


def test_totals_table_problems_and_live_rows_without_reloading_the_list(site: Stack, page: Page) -> None:
    with admin(site) as rest:
        for n in range(FLEET):
            ok(rest.post("/api/v1/charge-points", json={"id": f"NP-{n:03d}"}), 201)
    served = Served(Stations(site.ws_url).running)
    with served as stations:
        log_in(page, site.http_url, token=ADMIN_TOKEN)
        table = page.locator("#cp-table tbody")
        expect(page.locator('[data-stat="online"] .stat-value')).to_have_text(f"2/{FLEET}")
        expect(page.locator('[data-stat="offline"] .stat-value')).to_have_text(str(FLEET - 2))
        expect(table.locator("tr")).to_have_count(50)
        expect(page.locator("#page-info")).to_have_text(f"1–50 of {FLEET}")
        row = table.locator('tr[data-id="NP-001"]')
        expect(row.locator(".badge").first).to_have_text("online")
        expect(row.locator(".pills .badge")).to_have_text(["1 Available", "2 Available"])
        expect(table.locator('tr[data-id="NP-030"] td.age')).to_have_text("never")
        shot(page, "network")

        lists: list[str] = []  # every read of the charge point list from here on

        def count(request: Request) -> None:
            if "/api/v1/charge-points?" in request.url:
                lists.append(request.url)

        page.on("request", count)
        cp = stations.cps["NP-001"]
        on_loop(served, cp.call(call.StatusNotification(connector_id=2, status="Faulted", error_code="GroundFailure")))
        expect(row.locator(".pills .badge").nth(1)).to_have_text("2 Faulted")
        expect(page.locator('[data-stat="faulted"] .stat-value')).to_have_text("1")
        problem = page.locator('#problems li[data-kind="faulted"]')
        expect(problem).to_contain_text("NP-001")
        expect(problem).to_contain_text("GroundFailure")
        on_loop(served, stations.close("NP-002"))
        other = table.locator('tr[data-id="NP-002"]')
        expect(other.locator(".badge").first).to_have_text("offline")
        expect(other.locator(".pills .badge").first).to_have_attribute("data-status", "offline")
        expect(page.locator('[data-stat="online"] .stat-value')).to_have_text(f"1/{FLEET}")
        assert lists == [], f"live changes re-read the list: {lists}"
        expect(page.locator('#problems li[data-kind="offline"]')).to_contain_text("NP-002")
        page.locator('#problem-kinds [data-kind="offline"]').click()
        expect(page.locator("#problems li")).to_have_count(1)
        page.remove_listener("request", count)

        # paging, sorting and filtering are the server's: the second page, the newest seen first
        page.click("#next")
        expect(page.locator("#page-info")).to_have_text(f"51–{FLEET} of {FLEET}")
        expect(table.locator("tr")).to_have_count(FLEET - 50)
        page.click('button.sort[data-sort="last_seen"]')
        page.click('button.sort[data-sort="last_seen"]')
        expect(page.locator('th:has(button[data-sort="last_seen"])')).to_have_attribute("aria-sort", "descending")
        expect(table.locator("tr").first).to_have_attribute("data-id", "NP-002")  # seen last, at its close
        expect(page.locator("#charge-points")).to_have_attribute("data-following", "live")  # this page's rows'
        on_loop(served, cp.call(call.StatusNotification(connector_id=1, status="Preparing", error_code="NoError")))
        expect(table.locator("tr").first).to_have_attribute("data-id", "NP-001")  # heard of now: first
        page.click('[data-stat="faulted"]')
        expect(table.locator("tr")).to_have_count(1)
        expect(table.locator("tr").first).to_have_attribute("data-id", "NP-001")
        page.select_option("#status-filter", "")
        page.select_option("#online-filter", "")
        page.fill("#search", "np-05")
        expect(table.locator("tr")).to_have_count(10)
        page.fill("#search", "nothing-like-it")
        expect(page.locator("#charge-points")).to_contain_text("No charge point matches")
        page.fill("#search", "")

        page.set_viewport_size({"width": 390, "height": 844})
        expect(table.locator("tr")).to_have_count(50)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the network page scrolls sideways by {overflow}px on a phone"
        shot(page, "network_phone")
