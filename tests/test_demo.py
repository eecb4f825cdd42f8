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


async def test_demo_locker_charges_with_one_curl_call(db_url: str, tmp_path: Path) -> None:
    """The README's locker example: start charging in bay 3 of the emulated demo locker."""
    settings = make_settings(db_url, demo=True, sim_workers=1, sim_state_dir=tmp_path / "sim")
    async with running(settings, migrate=False) as stack:
        assert stack.bridge is not None
        assert sorted(stack.bridge.cps) == [f"LOCKER-A-{n:02d}" for n in range(1, 13)]
        async with asyncio.timeout(20):
            await stack.bridge.ready()
            while not stack.bridge.cps["LOCKER-A-03"].booted.is_set():
                await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=20,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            r = await client.post("/api/locker/cabins/LOCKER-A-03/start-charging", json={"idTag": "TAG-1"})
            assert r.status_code == 200, r.text
            assert r.json()["cabin"]["status"] == "Charging"
        async with asyncio.timeout(10):
            while not await rows(stack, "SELECT id FROM transactions WHERE charge_point_id = 'LOCKER-A-03'"):
                await asyncio.sleep(0.1)
