"""The dashboard's session without a browser: the login form, the cookie it sets, what the cookie
may do (reads and the event stream; changes only with the dashboard's header from this origin),
page access by role, and the message when the JavaScript libraries are not installed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.ui import routes
from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN

UI = {"X-Chargebay-UI": "1"}


@pytest.fixture
async def browser_like(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser would, and sends no bearer token."""
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as client:
        yield client


async def log_in(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/ui/login", data=form)


async def test_token_login_sets_a_strict_http_only_cookie_that_reads_and_streams(
        browser_like: httpx.AsyncClient) -> None:
    r = await log_in(browser_like, kind="token", token=ADMIN_TOKEN, next="/ui/lockers")
    assert r.status_code == 303 and r.headers["location"] == "/ui/lockers"
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("cb_session=") and "httponly" in cookie and "samesite=strict" in cookie
    assert (await browser_like.get("/api/v1/charge-points")).status_code == 200
    async with browser_like.stream("GET", "/api/v1/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert await stream.aiter_lines().__anext__() == ": connected"
    page = await browser_like.get("/ui/transactions")
    assert page.status_code == 200 and 'data-page="transactions"' in page.text


async def test_a_change_with_the_cookie_needs_the_dashboards_header_from_this_origin(
        stack: Stack, browser_like: httpx.AsyncClient) -> None:
    await log_in(browser_like, kind="token", token=ADMIN_TOKEN)
    path = "/api/v1/id-tags"
    r = await browser_like.post(path, json={"id_tag": "T-1"})
    assert r.status_code == 403 and r.json()["code"] == "CsrfCheckFailed"
    r = await browser_like.post(path, json={"id_tag": "T-1"},
                                headers={**UI, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["code"] == "CsrfCheckFailed"
    r = await browser_like.post(path, json={"id_tag": "T-1"}, headers={**UI, "Origin": stack.http_url})
    assert r.status_code == 201, r.text
    # a bearer token is not a cookie: API clients need no header
    r = await browser_like.post(path, json={"id_tag": "T-2"},
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 201


async def test_failed_logins_show_the_reason_and_never_redirect_off_site(
        browser_like: httpx.AsyncClient, stack: Stack) -> None:
    r = await log_in(browser_like, kind="token", token="nope")
    assert r.status_code == 401 and "unknown, expired or revoked token" in r.text
    r = await log_in(browser_like, kind="admin", username="nobody", password="wrong")
    assert r.status_code == 401 and "unknown name or wrong password" in r.text
    r = await log_in(browser_like, kind="kiosk", deviceCode="", password="")
    assert r.status_code == 400 and "fill in both fields" in r.text
    r = await browser_like.post("/ui/login", data={"kind": "token", "token": ADMIN_TOKEN},
                                headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cb_session" not in r.headers.get("set-cookie", "")
    r = await log_in(browser_like, kind="token", token=ADMIN_TOKEN, next="//evil.example/x")
    assert r.headers["location"] == "/"


async def test_pages_need_a_session_and_a_role_that_may_see_them(
        stack: Stack, browser_like: httpx.AsyncClient) -> None:
    r = await browser_like.get("/ui/simulator")
    assert r.status_code == 303 and r.headers["location"] == "/?next=/ui/simulator"
    async with httpx.AsyncClient(base_url=stack.http_url,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        viewer = (await admin.post("/api/v1/tokens", json={"name": "v", "role": "viewer"})).json()
    await log_in(browser_like, kind="token", token=viewer["token"])
    r = await browser_like.get("/ui/admin")
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = await browser_like.get("/")
    assert 'data-role="viewer"' in home.text and 'href="/ui/admin"' not in home.text
    await browser_like.post("/ui/logout")
    assert (await browser_like.get("/api/v1/charge-points")).status_code == 401
    r = await browser_like.get("/api/v1/charge-points", headers={"Authorization": f"Bearer {viewer['token']}"})
    assert r.status_code == 200  # a pasted API token outlives the session; a login's does not


async def test_missing_javascript_libraries_are_explained_not_a_crash(
        browser_like: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if routes.vendor_installed():
        assert (await browser_like.get("/ui/vendor/uPlot.iife.min.js")).status_code == 200
    assert (await browser_like.get("/ui/vendor/other.js")).status_code == 404
    monkeypatch.setattr(routes, "NODE_MODULES", tmp_path)
    r = await browser_like.get("/ui/vendor/uPlot.iife.min.js")
    assert r.status_code == 404 and r.json()["code"] == "UiAssetsMissing"
    assert "make install" in r.json()["message"]
    page = await browser_like.get("/")
    assert page.status_code == 200 and 'id="vendor-missing"' in page.text
    assert "uPlot" not in page.text
