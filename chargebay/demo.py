"""The demo network `make run` starts: one charger of each shipped template, with traffic."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from charger_sim.atg import AtgSettings
from charger_sim.service import ChargerNotFound, SimService
from csms.central import CentralSystem
from csms.store.models import IdTag, table
from csms.timeutil import now_utc
from locker_bridge.config import BridgeConfig, parse
from locker_bridge.emulator import Device, Emulator

log = logging.getLogger(__name__)

DEMO = (("DEMO-AC-01", "ac-wallbox", True), ("DEMO-DC-01", "dc-fast", True),
        ("DEMO-LOCKER-01", "locker-bay", False))


# The tags the demo's drivers (and the README's curl examples) present.
DEMO_TAGS = (*AtgSettings().id_tags, "TAG-1")


async def start_demo(central: CentralSystem, sim: SimService) -> None:
    """Create the demo chargers and their drivers' id tags if missing, and mark the chargers
    running (resume starts them)."""
    tags = table(IdTag)
    stmt = central.writer.dialect_insert(tags).values(
        [{"id_tag": tag, "status": "Accepted", "max_concurrent_tx": 100, "created_at": now_utc()}
         for tag in DEMO_TAGS]
    ).on_conflict_do_nothing(index_elements=["id_tag"])
    async with central.engine.begin() as conn:
        await conn.execute(stmt)
    central.transactions.tags.forget()  # written past IdTagService: what was kept is read again
    for identity, template, atg in DEMO:
        try:
            charger = await sim.by_identity(identity)
        except ChargerNotFound:
            charger = await sim.create(identity, template, atg=atg, overrides={"meter_interval": 15})
        if charger["desired_state"] != "running":
            await sim.start(charger["id"])
    log.info("demo: %s running (CHARGEBAY_DEMO=0 turns the demo off)",
             ", ".join(identity for identity, _, _ in DEMO))


DEMO_LOCKER = "LOCKER-A"
DEMO_BAYS = 12


@contextlib.asynccontextmanager
async def demo_locker(state_dir: Path) -> AsyncIterator[BridgeConfig]:
    """An emulated board with 12 bays on a pty, phones in bays 1-6: the bridge's demo locker."""
    state_dir.mkdir(parents=True, exist_ok=True)
    link = state_dir / "locker-COM2"
    link.unlink(missing_ok=True)  # left by a run that was killed
    async with Emulator.on_pty(link=link, boards=1, bays=DEMO_BAYS) as emu:
        for number in range(1, 7):
            emu.boards[1].bays[number].place(Device.phone(soc=0.3))
        yield parse({"ports": {"COM2": {"device": str(link), "baudrate": 9600}},
                     "lockers": [{"name": DEMO_LOCKER, "port": "COM2", "address": 1, "bays": DEMO_BAYS}],
                     "poll_interval": 2, "meter_interval": 30,
                     "outbox": str(state_dir / "bridge-outbox.db")})
        log.info("demo: locker %s (%d bays, phones in bays 1-6) on an emulated board at %s",
                 DEMO_LOCKER, DEMO_BAYS, link)
