"""The typed per-cabin REST endpoints and the cabin listing, against the emulated board."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator, Fault
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.conftest import api, bridge_yaml, bridged


@pytest.fixture
async def stack(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    config = bridge_yaml(tmp_path)
    text = config.read_text().replace("bays: 4}", "bays: 4,\n      overrides: [{number: 4, identity: "
                                      "LOCKER-A-SPECIAL, stop_charging_code: '81 01 02 52 06 5B 00 FA'}]}")
    config.write_text(text)
    async with bridged(db_url, config) as s:
        yield s


async def test_cabin_listing_shows_identity_state_and_hex_codes(stack: Stack) -> None:
    r = await api(stack, "GET", "/api/locker/cabins")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["total"] == 4
    first, special = body["cabins"][0], body["cabins"][3]
    assert first["identity"] == "LOCKER-A-01" and first["status"] == "Available"
    assert first["comPort"] == "COM2" and first["address"] == 1 and first["bay"] == 1
    assert first["open_code"] == "81 01 02 56 01 5A 00 FA"
    assert first["status_code"] == "81 01 02 58 01 5C 00 FA"
    assert first["start_charging_code"] == "81 01 02 50 01 54 00 FA"
    assert first["stop_charging_code"] == "81 01 02 52 01 56 00 FA"
    assert first["charging_status_code"] == "81 01 02 54 01 58 00 FA"
    assert first["connected"] is True and first["door"] == "closed" and first["item"] == "empty"
    assert special["identity"] == "LOCKER-A-SPECIAL"
    assert special["stop_charging_code"] == "81 01 02 52 06 5B 00 FA"
    r = await api(stack, "GET", "/api/locker/cabins", params={"locker": "nope"})
    assert r.json()["total"] == 0
    r = await api(stack, "GET", "/api/locker/cabins/LOCKER-A-02")
    assert r.json()["cabin"]["identity"] == "LOCKER-A-02"


async def test_open_status_start_charging_status_stop(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-02/open")
    assert r.status_code == 200 and r.json()["door"] == "open" and bay.door_open
    bay.place(Device.phone())
    bay.close_door()
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-02/locker-status")
    assert r.json() == {"success": True, "message": "Locker status read", "cabin": "LOCKER-A-02",
                        "door": "closed", "item": "occupied"}
    await add_id_tag(stack, "TAG-9")
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-02/start-charging", json={"idTag": "TAG-9"})
    assert r.status_code == 200, r.text
    assert r.json()["cabin"]["status"] == "Charging" and bay.outlet_on
    emu.advance(60)
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-02/charging-status")
    reading = r.json()
    assert reading["state"] == "charging" and reading["powerW"] > 0 and reading["energyWh"] >= 0
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-02/stop-charging")
    assert r.status_code == 200 and r.json()["cabin"]["status"] == "Finishing" and not bay.outlet_on
    [tx] = await rows(stack, "SELECT id_tag, stop_reason FROM transactions")
    assert (tx["id_tag"], tx["stop_reason"]) == ("TAG-9", "Local")


async def test_an_unknown_id_tag_does_not_start(stack: Stack, emu: Emulator) -> None:
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-01/start-charging", json={"idTag": "WHO"})
    assert r.status_code == 409 and r.json()["code"] == "StartRejected"
    assert "Invalid" in r.json()["message"] and not emu.boards[1].bays[1].outlet_on


async def test_the_override_code_is_what_goes_on_the_wire(stack: Stack, emu: Emulator) -> None:
    """LOCKER-A-SPECIAL stops with the vendor's stored frame (bay 6), not one built for bay 4."""
    await add_id_tag(stack, "TAG-8")
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-SPECIAL/start-charging", json={"idTag": "TAG-8"})
    assert r.status_code == 200
    before = emu.stats.requests
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-SPECIAL/stop-charging")
    # the emulator has 4 bays: the vendor's frame addresses bay 6, which it answers INVALID_BAY
    assert r.status_code == 409 and r.json()["code"] == "StopRejected"
    assert emu.stats.requests > before and emu.boards[1].bays[4].outlet_on


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("GET", "/api/locker/cabins/NOPE", None, 404, "UnknownCabin"),
    ("POST", "/api/locker/cabins/NOPE/open", None, 404, "UnknownCabin"),
    ("POST", "/api/locker/cabins/NOPE/start-charging", {"idTag": "T"}, 404, "UnknownCabin"),
    ("POST", "/api/locker/cabins/LOCKER-A-01/start-charging", {}, 422, "ValidationError"),
    ("POST", "/api/locker/cabins/LOCKER-A-01/stop-charging", None, 409, "StopRejected"),
])
async def test_errors_have_stable_codes(stack: Stack, method: str, path: str, body: dict | None,
                                        status: int, code: str) -> None:
    r = await api(stack, method, path, json=body)
    assert r.status_code == status and r.json()["code"] == code


async def test_a_silent_board_is_503_and_a_stuck_door_409(stack: Stack, emu: Emulator) -> None:
    emu.inject(Fault.STUCK_DOOR)
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-03/open")
    assert r.status_code == 409 and r.json()["code"] == "DoorDidNotOpen" and r.json()["door"] == "closed"
    emu.clear_faults()
    emu.inject(Fault.NO_REPLY)
    r = await api(stack, "POST", "/api/locker/cabins/LOCKER-A-03/locker-status")
    assert r.status_code == 503 and r.json()["code"] == "BoardUnavailable"
    r = await api(stack, "GET", "/api/locker/ports")
    [port] = r.json()["ports"]
    assert port["name"] == "COM2" and port["up"] and port["timeouts"] >= 1 and port["frames_out"] > 0
