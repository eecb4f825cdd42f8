"""/docs and /redoc render with the network cut (issue #20): Swagger UI and ReDoc come from this
server (npm's swagger-ui-dist and redoc, served at /ui/vendor/), never from a CDN. Real Chromium;
every request to any other host is refused and counted."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from chargebay.stack import Stack
from tests.ui.conftest import ARTIFACTS


def cut_off(page: Page, base_url: str) -> list[str]:
    """Refuse every request that leaves ``base_url``'s host; the list of those refused."""
    home = urlsplit(base_url).netloc
    refused: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).netloc == home:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", handle)
    return refused


def shot(page: Page, name: str) -> None:
    """The first screen only (a full-page capture of ReDoc's whole API took over 30 s)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_swagger_ui_renders_offline(site: Stack, page: Page) -> None:
    refused = cut_off(page, site.http_url)
    page.goto(site.http_url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("chargebay")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()  # the operations
    shot(page, "api-docs-swagger")  # the first screen: the whole document is thousands of pixels
    assert refused == []


def test_redoc_renders_offline(site: Stack, page: Page) -> None:
    refused = cut_off(page, site.http_url)
    page.goto(site.http_url + "/redoc")
    # ReDoc lays out all 229 operations in one pass before the title shows: 15 s on an idle
    # 2-core machine, over 30 s while the rest of the suite runs beside it (CI)
    expect(page.locator("h1").first).to_contain_text("chargebay", timeout=120_000)
    expect(page.locator("[data-section-id]").first).to_be_attached()  # the operations' sections
    shot(page, "api-docs-redoc")
    assert refused == []
