"""One truth between the back office and the bridge: records that disagree never open a wrong
door nor stop the stack; every physical action and every door event is audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator, Fault
from tests.conftest import make_settings
from tests.helpers import rows
from tests.locker_bridge.conftest import bridge_yaml, bridged
from tests.locker_sites.conftest import ADMIN, locker_id, until


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def back_office(db_url: str, *steps: tuple[str, str, dict[str, Any]]) -> list[Any]:
    """Run REST calls on a stack without a bridge (what an operator enters while it is off)."""
    async with running(make_settings(db_url), migrate=False) as stack:
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
            return [ok(await client.request(method, path, json=body), 201)
                    for method, path, body in steps]


async def audit(stack: Stack, action: str) -> list[dict[str, Any]]:
    return [{**r, "details": json.loads(r["details"])} for r in await rows(
        stack, "SELECT actor, locker_id, details FROM audit_log WHERE action = :a ORDER BY id",
        a=action)]


async def test_a_locker_recorded_at_another_bay_than_the_bridge_drives_is_never_opened(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    bank, _ = await back_office(
        db_url, ("POST", "/api/admin/banks", {"name": "LOCKER-B", "port": "COM2", "address": 2}),
        ("POST", "/api/admin/lockers", {"bankId": 1, "bay": 1, "identity": "LOCKER-A-03"}))
    assert bank["id"] == 1
    async with bridged(db_url, bridge_yaml(tmp_path)) as site:
        assert site.sites is not None and "LOCKER-A-03" in site.sites.conflicts
        async with httpx.AsyncClient(base_url=site.http_url, headers=ADMIN, timeout=20) as client:
            wrong = await locker_id(site, "LOCKER-A-03")
            r = await client.post(f"/lockers/{wrong}/open")
            assert r.status_code == 409 and r.json()["code"] == "LockerNotDriven", r.text
            assert "back office has it at COM2 board 2 bay 1" in r.json()["message"]
            assert not emu.boards[1].bays[3].door_open  # the bridge's LOCKER-A-03
            # the rest of the board is driven as usual
            assert ok(await client.post(f"/lockers/{await locker_id(site, 'LOCKER-A-01')}/open"))
            assert emu.boards[1].bays[1].door_open
            # the record fixed to agree with the bridge: driven at once, no restart needed
            ok(await client.delete(f"/api/admin/lockers/{wrong}"))
            [bank] = await rows(site, "SELECT id FROM banks WHERE name = 'LOCKER-A'")
            fixed = ok(await client.post("/api/admin/lockers", json={
                "bankId": bank["id"], "bay": 3, "identity": "LOCKER-A-03"}), 201)
            assert fixed["driven"] is True and "LOCKER-A-03" not in site.sites.conflicts
            assert ok(await client.post(f"/lockers/{fixed['id']}/open"))["door"] == "open"
            assert emu.boards[1].bays[3].door_open


async def test_a_bay_recorded_under_another_identity_stops_nothing(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    await back_office(
        db_url, ("POST", "/api/admin/banks", {"name": "SITE-A", "port": "COM2", "address": 1}),
        ("POST", "/api/admin/lockers", {"bankId": 1, "bay": 2, "identity": "CUSTOM-2"}))
    async with bridged(db_url, bridge_yaml(tmp_path)) as site:  # used to die on a unique key
        assert site.sites is not None and "LOCKER-A-02" in site.sites.conflicts
        names = [r["identity"] for r in await rows(site, "SELECT identity FROM lockers ORDER BY bay")]
        assert names == ["LOCKER-A-01", "CUSTOM-2", "LOCKER-A-03", "LOCKER-A-04"]
        async with httpx.AsyncClient(base_url=site.http_url, headers=ADMIN, timeout=20) as client:
            r = await client.post(f"/lockers/{await locker_id(site, 'CUSTOM-2')}/open")
            assert r.status_code == 409 and r.json()["code"] == "LockerNotDriven", r.text
            assert not emu.boards[1].bays[2].door_open
            mine = ok(await client.get(f"/api/admin/lockers/{await locker_id(site, 'CUSTOM-2')}"))
            assert mine["driven"] is False


async def test_every_physical_action_and_door_event_is_audited(site: Stack, emu: Emulator,
                                                               client: httpx.AsyncClient) -> None:
    ok(await client.post("/api/locker/cabins/LOCKER-A-01/open"))
    [entry] = await until(lambda: audit(site, "locker.open"))
    assert entry["actor"] not in ("", "board") and entry["locker_id"] == await locker_id(site, "LOCKER-A-01")
    assert entry["details"]["success"] is True
    r = await client.post("/api/locker/command", json={"comPort": "COM2", "hexCode": "81 01 02"})
    assert r.status_code == 400
    [command] = await audit(site, "locker.command")
    assert command["details"]["status"] == 400 and command["details"]["success"] is False
    r = await client.post("/api/locker/cabins/LOCKER-A-02/stop-charging")
    assert r.status_code == 409
    [stop] = await audit(site, "locker.stop_charging")
    assert stop["details"]["code"] == "StopRejected"
    # a bay deleted in the back office stays driven until a restart: its door events are kept
    assert ok(await client.delete(f"/api/admin/lockers/{await locker_id(site, 'LOCKER-A-04')}"))["stillDriven"]
    emu.boards[1].bays[4].open_door()

    async def orphan() -> list[dict[str, Any]]:
        return [e for e in await audit(site, "door.opened") if e["details"]["identity"] == "LOCKER-A-04"]

    [entry] = await until(orphan, 10)
    assert entry["locker_id"] is None and entry["actor"] == "board"


async def test_out_of_service_and_bank_names_agree_everywhere(site: Stack,
                                                              client: httpx.AsyncClient) -> None:
    screen = ok(await client.post("/api/admin/locker-types", json={"name": "Screen", "alwaysOos": True}), 201)
    target = await locker_id(site, "LOCKER-A-02")
    ok(await client.patch(f"/api/admin/lockers/{target}", json={"lockerTypeId": screen["id"]}))
    assert ok(await client.get(f"/lockers/{target}"))["outOfService"] is True
    assert ok(await client.get(f"/api/admin/lockers/{target}"))["outOfService"] is True
    listed = ok(await client.get("/api/admin/lockers", params={"outOfService": "true"}))["items"]
    assert [r["id"] for r in listed] == [target]
    assert [r["id"] for r in ok(await client.get("/api/admin/lockers/maintenance"))["items"]] == [target]
    assert site.bridge is not None
    bay = site.bridge.cps["LOCKER-A-02"].bay
    assert bay.snapshot()["status"] == "Unavailable"  # maintenance at the bay, from its type
    ok(await client.patch(f"/api/admin/locker-types/{screen['id']}", json={"alwaysOos": False}))
    assert bay.snapshot()["status"] != "Unavailable"
    ok(await client.patch("/api/admin/banks/1", json={"name": "LOCKER-Z"}))
    cabins = ok(await client.get("/api/locker/cabins", params={"locker": "LOCKER-Z"}))
    assert cabins["total"] == 4
    assert ok(await client.get("/api/locker/cabins", params={"locker": "LOCKER-A"}))["total"] == 0


async def test_out_of_service_is_maintenance_at_the_bay_even_when_marked_while_the_bridge_was_off(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    config = bridge_yaml(tmp_path)
    async with bridged(db_url, config) as site:  # registers the bays as lockers 1-4
        first = await locker_id(site, "LOCKER-A-01")
    async with running(make_settings(db_url), migrate=False) as stack:  # no bridge now
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
            ok(await client.patch(f"/lockers/{first}", json={"outOfService": True}))
    async with bridged(db_url, config) as site:
        assert site.bridge is not None
        bay = site.bridge.cps["LOCKER-A-01"].bay
        assert bay.snapshot()["status"] == "Unavailable"
        async with httpx.AsyncClient(base_url=site.http_url, headers=ADMIN, timeout=20) as client:
            ok(await client.patch(f"/lockers/{first}", json={"outOfService": False}))
            assert bay.snapshot()["status"] != "Unavailable"
            ok(await client.patch(f"/lockers/{first}", json={"outOfService": True}))
            assert bay.snapshot()["status"] == "Unavailable"


async def test_a_cabin_open_whose_door_sensor_is_silent_is_unavailable_not_shut(
        site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    emu.inject(Fault.NO_REPLY, bay=3, command="LOCKER_STATUS")
    r = await client.post("/api/locker/cabins/LOCKER-A-03/open")
    assert r.status_code == 503 and r.json()["code"] == "BoardUnavailable", r.text
    assert emu.boards[1].bays[3].door_open  # the lock fired; only the sensor is unknown
    [entry] = await audit(site, "locker.open")
    assert entry["details"]["code"] == "BoardUnavailable"
