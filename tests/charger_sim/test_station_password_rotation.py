"""A simulated station keeps up with a password rotation (TC_073 from the charge point's side):
it takes ``AuthorizationKey`` (hex or text), never reports it back, and presents the password it
stands for from its next connect on; a key that stands for no password is Rejected."""

from __future__ import annotations

import asyncio

import httpx

from chargebay.stack import Stack
from tests.charger_sim import stations
from tests.charger_sim.stations import ADMIN, BUDGET, Sims, back_online, send, template
from tests.helpers import rows

settings_overrides = stations.settings_overrides  # a fixture
sim = stations.sim  # a fixture


async def test_a_rotated_key_is_the_password_of_the_next_connect(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=10) as client:
        r = await client.post("/api/v1/charge-points", json={"id": "SIM-ROT", "password": "the-first-password"})
        assert r.status_code == 201, r.text
        st = await sim.start("SIM-ROT", template(password="the-first-password"))
        r = await client.post("/api/v1/charge-points/SIM-ROT/password", json={})
        assert r.status_code == 200 and r.json()["stored"] is True, r.text
        report = await send(stack, "SIM-ROT", "GetConfiguration", {"key": ["AuthorizationKey"]})
        assert not report.get("configurationKey"), report  # write-only
        assert st.config.change("AuthorizationKey", "too-short") == "Rejected"  # our CSMS never sends one
        connects = st.stats["connects"]
        st.drop_connection()
        await back_online(st, connects)
        refused = await rows(stack, "SELECT count(*) AS n FROM security_events WHERE charge_point_id = 'SIM-ROT'")
        assert refused[0]["n"] == 0  # it got in with the new password at once
