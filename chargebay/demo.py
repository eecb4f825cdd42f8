"""The demo network `make run` starts: one charger of each shipped template, with traffic."""

from __future__ import annotations

import logging

from charger_sim.service import ChargerNotFound, SimService

log = logging.getLogger(__name__)

DEMO = (("DEMO-AC-01", "ac-wallbox", True), ("DEMO-DC-01", "dc-fast", True),
        ("DEMO-LOCKER-01", "locker-bay", False))


async def start_demo(sim: SimService) -> None:
    """Create the demo chargers if missing and mark them running (resume starts them)."""
    for identity, template, atg in DEMO:
        try:
            charger = await sim.by_identity(identity)
        except ChargerNotFound:
            charger = await sim.create(identity, template, atg=atg, overrides={"meter_interval": 15})
        if charger["desired_state"] != "running":
            await sim.start(charger["id"])
    log.info("demo: %s running (CHARGEBAY_DEMO=0 turns the demo off)",
             ", ".join(identity for identity, _, _ in DEMO))
