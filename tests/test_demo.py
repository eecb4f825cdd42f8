"""`serve --demo`: three simulated chargers come online, and the README's curl example charges."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from chargebay.demo import DEMO, DEMO_TAGS
from chargebay.stack import running
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import rows


async def test_demo_network_comes_online_and_charges(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, demo=True, sim_workers=1, sim_state_dir=tmp_path / "sim")
    async with running(settings, migrate=False) as stack:
        async with asyncio.timeout(20):
            while stack.central.router.local_count() < len(DEMO):
                await asyncio.sleep(0.1)
        tags = await rows(stack, "SELECT id_tag, status FROM id_tags ORDER BY id_tag")
        assert {(t["id_tag"], t["status"]) for t in tags} == {(t, "Accepted") for t in DEMO_TAGS}
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=20,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            async with asyncio.timeout(20):
                while True:  # connected is not yet booted
                    r = await client.post("/ocpp/sim/DEMO-LOCKER-01/start-transaction",
                                          json={"connector_id": 1, "id_tag": "TAG-1"})
                    if r.status_code == 200 and r.json()["station"]["booted"]:
                        break
                    await asyncio.sleep(0.2)
        assert r.json()["result"] == {"status": "Accepted"}
        found = await rows(stack, "SELECT charge_point_id, id_tag_status FROM transactions "
                                  "WHERE id_tag = 'TAG-1'")
        assert [(t["charge_point_id"], t["id_tag_status"]) for t in found] == [
            ("DEMO-LOCKER-01", "Accepted")]
