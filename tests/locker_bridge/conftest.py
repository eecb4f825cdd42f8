"""Fixtures for the bridge: an emulated board on a pty and a stack whose bridge drives it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack, running
from locker_bridge.config import load
from locker_bridge.emulator import Emulator
from locker_bridge.service import BridgeService
from locker_bridge.site_link import SiteLink
from tests.conftest import ADMIN_TOKEN, make_settings

H = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bridge_yaml(tmp_path: Path, *, bays: int = 4, extra: str = "", locker_extra: str = "") -> Path:
    """A bridge config for one board at address 1 on COM2 (the emulator's link)."""
    config = tmp_path / "bays.yaml"
    config.write_text(f"""
csms_url: ws://127.0.0.1:9000/ocpp
ports:
  COM2: {{device: {tmp_path / 'ttyCOM2'}, baudrate: 9600}}
lockers:
  - {{name: LOCKER-A, port: COM2, address: 1, bays: {bays}{locker_extra}}}
poll_interval: 0.2
meter_interval: 1
outbox: {tmp_path / 'outbox.db'}
{extra}""")
    return config


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator.on_pty(boards=1, bays=4, link=tmp_path / "ttyCOM2",
                               door_close_after=None) as e:
        yield e


@contextlib.asynccontextmanager
async def bridged(db_url: str, config: Path, **settings: Any) -> AsyncIterator[Stack]:
    """A stack with the bridge embedded, every board read once and every bay booted."""
    async with running(make_settings(db_url, bridge_config=config, **settings), migrate=False) as stack:
        assert stack.bridge is not None
        await asyncio.wait_for(stack.bridge.ready(), 10)
        await until(lambda: all_booted(stack.bridge), 10)
        yield stack


@contextlib.asynccontextmanager
async def standalone(config: Path, csms_ws_url: str) -> AsyncIterator[BridgeService]:
    """The bridge on its own, as ``chargebay bridge`` runs it at a locker site (reporting its
    bays' wiring and door events), pointed at a CSMS; every board read once."""
    service = BridgeService(load(config), csms_url=csms_ws_url)
    SiteLink(service)
    await service.start()
    try:
        await asyncio.wait_for(service.ready(), 10)
        yield service
    finally:
        await service.close()


async def all_booted(bridge: BridgeService | None) -> bool:
    assert bridge is not None
    return all(cp.booted.is_set() for cp in bridge.cps.values())


@pytest.fixture
async def stack(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    async with bridged(db_url, bridge_yaml(tmp_path)) as s:
        yield s


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Await ``check()`` until it is truthy; fail the test with the last value after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(0.05)


async def api(stack: Stack, method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=H, timeout=30) as client:
        return await client.request(method, path, **kw)


async def command(stack: Stack, cp: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send an OCPP command through the REST API; return the charge point's answer."""
    r = await api(stack, "POST", f"/api/v1/charge-points/{cp}/commands/{action}", json=payload)
    assert r.status_code == 200, r.text
    return r.json()["response"]  # type: ignore[no-any-return]
