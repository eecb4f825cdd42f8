"""A bay whose first read goes unanswered while its board answers (a reply lost at a busy
moment) is asked once more when the board's other bays are read: it boots without waiting for
the next poll, which may be far off (found by bench/locker_bus.py, whose latency phase polls once
an hour: under load one lost reply kept a bay from booting at all)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chargebay.stack import running
from locker_bridge.emulator import Emulator
from locker_bridge.emulator.faults import Fault
from tests.conftest import make_settings
from tests.locker_bridge.conftest import all_booted, bridge_yaml, until


async def test_a_bay_silent_at_its_first_read_boots_without_a_poll(db_url: str, tmp_path: Path,
                                                                    emu: Emulator) -> None:
    # the bus asks three times (two retries): all three replies of its first read are lost
    lost = emu.inject(Fault.NO_REPLY, times=3, bay=3, command="CHARGING_STATUS")
    config = bridge_yaml(tmp_path).read_text().replace("poll_interval: 0.2", "poll_interval: 3600")
    (tmp_path / "bays.yaml").write_text(config)
    async with asyncio.timeout(20), running(make_settings(db_url, bridge_config=tmp_path / "bays.yaml"),
                                            migrate=False) as stack:
        assert stack.bridge is not None
        await asyncio.wait_for(stack.bridge.ready(), 10)
        assert lost.applied == 3  # its first read was lost
        await until(lambda: all_booted(stack.bridge), 10)  # and it booted all the same
