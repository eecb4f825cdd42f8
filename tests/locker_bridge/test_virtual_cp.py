"""Each bay as a virtual OCPP charge point of the real CSMS, with the emulated board on a pty."""

from __future__ import annotations

import json
from pathlib import Path

from chargebay.stack import Stack
from locker_bridge.emulator import Device, Emulator
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.conftest import bridge_yaml, bridged, command, until


async def status_of(stack: Stack, cp: str, connector: int = 1) -> str | None:
    found = await rows(stack, "SELECT status FROM connectors WHERE charge_point_id = :cp "
                       "AND connector_id = :c", cp=cp, c=connector)
    return found[0]["status"] if found else None


async def transactions(stack: Stack, cp: str) -> list[dict]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp "
                                       "ORDER BY id", cp=cp)]


async def test_remote_start_and_stop_switch_the_outlet(stack: Stack, emu: Emulator) -> None:
    await add_id_tag(stack, "TAG-1")
    bay = emu.boards[1].bays[2]
    bay.open_door()  # the owner puts a phone in and shuts the door
    bay.place(Device.phone())
    bay.close_door()
    await until(lambda: _eq(status_of(stack, "LOCKER-A-02"), "Preparing"))
    answer = await command(stack, "LOCKER-A-02", "RemoteStartTransaction", {"idTag": "TAG-1"})
    assert answer == {"status": "Accepted"}
    await until(lambda: _eq(status_of(stack, "LOCKER-A-02"), "Charging"))
    assert bay.outlet_on
    [tx] = await transactions(stack, "LOCKER-A-02")
    assert tx["id_tag"] == "TAG-1" and tx["stop_timestamp"] is None
    emu.advance(600)  # ten minutes of charging
    answer = await command(stack, "LOCKER-A-02", "RemoteStopTransaction", {"transactionId": tx["id"]})
    assert answer == {"status": "Accepted"}
    await until(lambda: _eq(status_of(stack, "LOCKER-A-02"), "Finishing"))
    assert not bay.outlet_on
    [tx] = await transactions(stack, "LOCKER-A-02")
    assert tx["stop_reason"] == "Remote" and tx["meter_stop"] > tx["meter_start"]
    # the door opens (the owner collects the phone) and closes: the bay is free again
    result = await command(stack, "LOCKER-A-02", "DataTransfer",
                           {"vendorId": "chargebay", "messageId": "OpenLocker"})
    assert result["status"] == "Accepted" and json.loads(result["data"])["door"] == "open"
    bay.take()
    bay.close_door()
    await until(lambda: _eq(status_of(stack, "LOCKER-A-02"), "Available"))


async def test_a_locker_name_with_a_space_connects(db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """The CSMS accepts "LOCKER B-01" as a charge point id; the bridge percent-encodes it."""
    config = bridge_yaml(tmp_path, bays=2)
    config.write_text(config.read_text().replace("name: LOCKER-A", "name: LOCKER B"))
    async with bridged(db_url, config) as stack:  # every bay booted
        for cp in ("LOCKER B-01", "LOCKER B-02"):
            await until(lambda cp=cp: _eq(status_of(stack, cp), "Available"))  # type: ignore[misc]


async def _eq(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await value) == expected
