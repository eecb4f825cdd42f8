"""`POST /api/locker/command`, the vendor's hex pass-through, through the stack to an emulated board."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator, Fault
from locker_bridge.protocol import Frame
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import rows

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


async def post(stack: Stack, body: Mapping[str, object], headers: dict[str, str] = H) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=headers, timeout=10) as client:
        return await client.post("/api/locker/command", json=body)


async def test_vendor_example_exactly(bridge_stack: Stack, emu: Emulator) -> None:
    emu.boards[1].bays[6].switch_on()
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": "81 01 02 52 06 5B 00 FA"})
    assert r.status_code == 200
    assert r.json() == {"success": True, "message": "Command sent successfully",
                        "response": "81 01 03 53 06 00 5D 00 FA", "boardStatus": "OK"}
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


async def test_the_boards_refusal_is_no_success(bridge_stack: Stack, emu: Emulator) -> None:
    """The board answers INVALID_BAY (bay 13 of a 12-bay board) or INVALID_COMMAND: the reply is
    passed on with its status decoded, and ``success`` is false (true only for OK)."""
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": Frame(1, 0x52, 13).hex()})
    assert r.status_code == 200
    assert r.json()["success"] is False and r.json()["boardStatus"] == "INVALID_BAY", r.json()
    assert "INVALID_BAY" in r.json()["message"] and r.json()["response"].startswith("81 01 03 53 0D 03")
    r = await post(bridge_stack, {"comPort": "COM2", "hexCode": Frame(1, 0x70, 1).hex()})
    assert r.json()["success"] is False and r.json()["boardStatus"] == "INVALID_COMMAND", r.json()


async def test_a_raw_start_on_a_bay_out_of_service_needs_force(bridge_stack: Stack, emu: Emulator) -> None:
    """The outlet of a bay out of service stays off: a raw START_CHARGING is 409
    LockerOutOfService, nothing sent; with ``force`` it goes (audited, as every raw command)."""
    assert bridge_stack.bridge is not None
    [bay] = [c for c in bridge_stack.bridge.cabins() if c["bay"] == 4]
    await bridge_stack.bridge.set_maintenance(bay["identity"], True)
    start = {"comPort": "COM2", "hexCode": Frame(1, 0x50, 4).hex()}
    r = await post(bridge_stack, start)
    assert r.status_code == 409 and r.json()["code"] == "LockerOutOfService", r.text
    assert r.json()["success"] is False and bay["identity"] in r.json()["message"]
    assert not emu.boards[1].bays[4].outlet_on
    r = await post(bridge_stack, {**start, "force": True})
    assert r.status_code == 200 and r.json()["boardStatus"] == "OK", r.text
    assert emu.boards[1].bays[4].outlet_on
    other = {"comPort": "COM2", "hexCode": Frame(1, 0x50, 5).hex()}  # a bay in service: no force needed
    assert (await post(bridge_stack, other)).json()["success"] is True
    # the audit log says which were forced, each in its bay's history
    entries = [json.loads(e["details"]) for e in await rows(
        bridge_stack, "SELECT details FROM audit_log WHERE action = 'locker.command' ORDER BY id")]
    other_bay = bay["identity"].replace("04", "05")
    assert [(e["identity"], e["force"], e["status"]) for e in entries] == [
        (bay["identity"], False, 409), (bay["identity"], True, 200), (other_bay, False, 200)]
