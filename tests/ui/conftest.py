"""Browser tests of the dashboard: a real stack (and emulated locker) per test, each served from its
own thread's event loop, driven by one headless Debian Chromium per xdist worker (Playwright).

The stack runs in a thread so the tests can use Playwright's synchronous API (and its auto-waiting
``expect``) while the stack, the simulator's worker processes and the emulator keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.locker_bridge.conftest import bridge_yaml, bridged

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
T = TypeVar("T")


class Served(Generic[T]):
    """An async context (a stack, an emulator) kept open in a thread of its own until closed."""

    def __init__(self, factory: Callable[[], contextlib.AbstractAsyncContextManager[T]]) -> None:
        self._factory = factory
        self._ready: Future[T] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with self._factory() as value:
                self._ready.set_result(value)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def __enter__(self) -> T:
        self._thread.start()
        return self._ready.result(60)

    def __exit__(self, *_: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def run(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Await ``make()`` on the served loop (a station's OCPP call) and hand back its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(30)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the served loop's thread (the emulator is not thread-safe)."""
        assert self._loop is not None
        done: Future[Any] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except Exception as exc:  # handed back to the test
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(10)


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack whose simulator runs chargers in one worker process; unknown id tags accepted."""
    settings = make_settings(db_url, sim_workers=1, sim_state_dir=str(tmp_path / "sim"),
                             accept_unknown_id_tags=True)

    @contextlib.asynccontextmanager
    async def stack() -> AsyncIterator[Stack]:
        async with running(settings, migrate=False) as s:
            yield s

    with Served(stack) as s:
        yield s


@pytest.fixture
def locker_site(db_url: str, tmp_path: Path) -> Iterator[tuple[Stack, Emulator, Served[Any]]]:
    """A stack whose embedded bridge drives an emulated board (LOCKER-A, 4 bays) on a pty."""

    @contextlib.asynccontextmanager
    async def site() -> AsyncIterator[tuple[Stack, Emulator]]:
        async with Emulator.on_pty(boards=1, bays=4, link=tmp_path / "ttyCOM2",
                                   door_close_after=None) as emu, \
                bridged(db_url, bridge_yaml(tmp_path)) as stack:
            yield stack, emu

    served = Served(site)
    with served as (stack, emu):
        yield stack, emu, served


def admin(stack: Stack) -> httpx.Client:
    """The admin's REST client for a stack, to arrange what a page should then show."""
    return httpx.Client(base_url=stack.http_url, headers=ADMIN, timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (the Debian package's, never a downloaded one).

    Module, not session, scope: sync Playwright keeps its event loop current in this thread while
    it runs, which would break the asyncio tests that the same xdist worker runs next.
    """
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium chromium-driver; CI installs it)"
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    expect.set_options(timeout=15_000)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shot(page: Page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact (test-artifacts/ui/<name>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base_url: str, kind: str = "token", **fields: str) -> None:
    """Log in through the login page's form of that kind (token, admin, kiosk)."""
    page.goto(base_url + "/")
    page.click(f'[data-tab="{kind}"]')
    form = page.locator(f'form[data-form="{kind}"]')
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator("button[type=submit]").click()


def command(page: Page, action: str) -> Any:
    """Choose ``action`` in the charge point page's command picker: its generated form."""
    page.select_option("#command-pick", action)
    form = page.locator(f'form.command[data-action="{action}"]')
    expect(form).to_be_visible()
    return form
