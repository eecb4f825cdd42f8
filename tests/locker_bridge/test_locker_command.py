"""`POST /api/locker/command`, the vendor's hex pass-through, through the stack to an emulated board."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator, Fault
from tests.conftest import ADMIN_TOKEN, make_settings

H = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator.on_pty(boards=1, bays=12, link=tmp_path / "ttyCOM2") as e:
        yield e


@pytest.fixture
async def bridge_stack(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    config = tmp_path / "bays.yaml"
    config.write_text(f"""
csms_url: ws://127.0.0.1:9000/ocpp
ports:
  COM2: {{device: {tmp_path / 'ttyCOM2'}, baudrate: 9600}}
  COM3: {{device: {tmp_path / 'nothing-here'}, baudrate: 9600}}
lockers:
  - {{name: LOCKER-A, port: COM2, address: 1, bays: 12}}
""")
    async with running(make_settings(db_url, bridge_config=config), migrate=False) as stack:
        yield stack


async def post(stack: Stack, body: dict[str, str], headers: dict[str, str] = H) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=headers, timeout=10) as client:
        return await client.post("/api/locker/command", json=body)


async def test_vendor_example_exactly(bridge_stack: Stack, emu: Emulator) -> None:
    emu.boards[1].bays[6].switch_on()
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"})
    assert r.status_code == 200
    assert r.json() == {"success": True, "message": "Command sent successfully",
                        "response": "81 01 03 53 06 00 5D 00 FA"}
    assert not emu.boards[1].bays[6].outlet_on


@pytest.mark.parametrize(("body", "status"), [
    ({"comPort": "COM2", "hexCode": "81 01 02 52 06 5C 00 FA"}, 400),  # bad checksum
    ({"comPort": "COM2", "hexCode": "hello"}, 400),
    ({"comPort": "COM9", "hexCode": "81 01 02 52 06 5B 00 FA"}, 404),
    ({"comPort": "COM3", "hexCode": "81 01 02 52 06 5B 00 FA"}, 503),  # port down
])
async def test_errors(bridge_stack: Stack, body: dict[str, str], status: int) -> None:
    r = await post(bridge_stack, body)
    assert r.status_code == status
    assert r.json()["success"] is False and r.json()["message"]


async def test_no_reply_is_503(bridge_stack: Stack, emu: Emulator) -> None:
    emu.inject(Fault.IGNORE)
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"})
    assert r.status_code == 503 and "no reply" in r.json()["message"]


async def test_needs_a_token(bridge_stack: Stack) -> None:
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"}, headers={})
    assert r.status_code == 401
