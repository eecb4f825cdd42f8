"""A bridge at the locker site (``chargebay bridge``): no shared process or database with the
central system, only its bays' OCPP connections. The locker APIs still reach every door through
it, its bays register themselves, its door events land in the audit log, and out of service in
the back office is maintenance at the bay."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator, Fault
from locker_bridge.service import BridgeService
from tests.conftest import make_settings
from tests.helpers import rows
from tests.locker_bridge.conftest import bridge_yaml, standalone
from tests.locker_sites.conftest import ADMIN, until
from tests.ocpp_client import TestChargePoint, connect


@pytest.fixture
async def central(db_url: str) -> AsyncIterator[Stack]:
    async with running(make_settings(db_url), migrate=False) as stack:
        assert stack.bridge is None
        yield stack


@pytest.fixture
async def site_bridge(central: Stack, tmp_path: Path, emu: Emulator) -> AsyncIterator[BridgeService]:
    async with standalone(bridge_yaml(tmp_path), central.ws_url) as service:
        yield service


async def lockers(stack: Stack) -> list[str]:
    return [r["identity"] for r in await rows(stack, "SELECT identity FROM lockers ORDER BY bay")]


async def test_the_bays_register_open_report_doors_and_take_maintenance_over_ocpp(
        central: Stack, site_bridge: BridgeService, emu: Emulator) -> None:
    expected = ["LOCKER-A-01", "LOCKER-A-02", "LOCKER-A-03", "LOCKER-A-04"]
    assert await until(lambda: _equal(lockers(central), expected), 10)
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
        [one] = [x for x in (await client.get("/lockers")).json()["items"]
                 if x["identity"] == "LOCKER-A-01"]
        assert (one["bank"], one["bay"]) == ("LOCKER-A", 1)
        r = await client.post(f"/lockers/{one['id']}/open")
        assert r.status_code == 200 and r.json()["door"] == "open", r.text
        assert emu.boards[1].bays[1].door_open

        async def door_audited() -> list[dict[str, object]]:
            return [r for r in await rows(central, "SELECT actor, locker_id, action FROM audit_log "
                                                   "WHERE action = 'door.opened'")]
        [event] = await until(door_audited, 10)
        assert (event["actor"], event["locker_id"]) == ("board", one["id"])

        r = await client.patch(f"/lockers/{one['id']}", json={"outOfService": True, "reasonCode": "X"})
        assert r.status_code == 200, r.text
        cp = site_bridge.cps["LOCKER-A-01"]
        assert await until(lambda: _status(cp.bay.snapshot()["status"], "Unavailable"), 10)
        r = await client.patch(f"/lockers/{one['id']}", json={"outOfService": False})
        assert await until(lambda: _status(cp.bay.snapshot()["status"], "Unavailable", equal=False), 10)


async def test_a_bay_wired_elsewhere_than_recorded_keeps_its_door_shut(
        central: Stack, site_bridge: BridgeService, emu: Emulator) -> None:
    await until(lambda: _equal(lockers(central), ["LOCKER-A-01", "LOCKER-A-02", "LOCKER-A-03",
                                                  "LOCKER-A-04"]), 10)
    async with central.central.engine.begin() as conn:  # a record gone wrong behind our back
        from sqlalchemy import text
        await conn.execute(text("UPDATE lockers SET bay = 9 WHERE identity = 'LOCKER-A-02'"))
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
        [row] = await rows(central, "SELECT id FROM lockers WHERE identity = 'LOCKER-A-02'")
        r = await client.post(f"/lockers/{row['id']}/open")
        assert r.status_code == 409, r.text
        assert "records disagree" in json.dumps(r.json())
    assert not emu.boards[1].bays[2].door_open


async def test_a_locker_whose_bridge_is_not_connected_is_not_driven(central: Stack) -> None:
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
        bank = (await client.post("/api/admin/banks", json={"name": "FAR", "port": "COM9",
                                                            "address": 1})).json()
        locker = (await client.post("/api/admin/lockers", json={"bankId": bank["id"], "bay": 1})).json()
        r = await client.post(f"/lockers/{locker['id']}/open")
        assert r.status_code == 409 and r.json()["code"] == "LockerNotDriven", r.text
        assert "not connected" in r.json()["message"]


async def _equal(values: object, expected: object) -> bool:
    return await values == expected  # type: ignore[misc]


async def _status(value: object, wanted: str, equal: bool = True) -> bool:
    return (value == wanted) == equal


class Impostor(TestChargePoint):
    """A charge point that answers OpenLocker with data that is no JSON object."""

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: object) -> object:
        return call_result.DataTransfer(status="Accepted", data="[1, 2]")


async def test_what_other_charge_points_may_claim(central: Stack) -> None:
    async with connect(central.ws_url, "NOT-A-BAY", Impostor) as cp:
        door = await cp.call(call.DataTransfer(vendor_id="chargebay", message_id="DoorEvent",
                                               data='{"door": "open"}'))
        assert door.status == "Rejected"  # no locker of that name: nothing lands in the log
        info = await cp.call(call.DataTransfer(vendor_id="chargebay", message_id="BayInfo", data=json.dumps(
            {"locker": "FAKE", "port": "COM7", "address": 1, "bay": 1})))
        assert info.status == "Accepted"  # in accept mode a charge point is trusted (README) ...
        [entry] = await rows(central, "SELECT actor, action FROM audit_log")
        assert (entry["actor"], entry["action"]) == ("NOT-A-BAY", "locker.register")  # ... visibly
        async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
            [row] = await rows(central, "SELECT id FROM lockers WHERE identity = 'NOT-A-BAY'")
            r = await client.post(f"/lockers/{row['id']}/open")
            assert r.status_code == 503 and r.json()["code"] == "BoardUnavailable", r.text
            assert "no JSON object" in r.json()["message"]


async def test_a_silent_board_at_the_site_is_unavailable_and_a_mark_made_meanwhile_applies(
        central: Stack, tmp_path: Path, emu: Emulator) -> None:
    config = bridge_yaml(tmp_path)
    async with standalone(config, central.ws_url):
        await until(lambda: _equal(lockers(central), ["LOCKER-A-01", "LOCKER-A-02", "LOCKER-A-03",
                                                      "LOCKER-A-04"]), 10)
        [row] = await rows(central, "SELECT id FROM lockers WHERE identity = 'LOCKER-A-03'")
        emu.inject(Fault.NO_REPLY, bay=3)
        async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
            r = await client.post(f"/lockers/{row['id']}/open")
            assert r.status_code == 503 and r.json()["code"] == "BoardUnavailable", r.text
    emu.clear_faults()
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
        r = await client.patch(f"/lockers/{row['id']}", json={"outOfService": True})
        assert r.status_code == 200, r.text  # the bridge is away: recorded, told later
    async with standalone(config, central.ws_url) as second:
        bay = second.cps["LOCKER-A-03"].bay
        assert await until(lambda: _status(bay.snapshot()["status"], "Unavailable"), 10)
