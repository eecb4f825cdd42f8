"""Lock events (issue #20, seed 003's "real-time alerts when your locks are used"): opens, closes,
unlocks with who asked, forced opens and a bay's connection, derived where the facts arrive (the
embedded bridge, a bridge at the site over OCPP), streamed on GET /api/v1/events, delivered to a
webhook on a real local receiver, and kept in the lock's history. Boards: the emulator on a pty."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack, running
from locker_bridge.emulator import Emulator
from locker_bridge.protocol import CB81, Frame
from tests.api.hook_receiver import HookReceiver, create_webhook, waiting
from tests.api.test_events_sse import EventStream, subscribe
from tests.conftest import make_settings
from tests.locker_bridge.conftest import bridge_yaml, bridged, standalone
from tests.locker_sites.conftest import ADMIN
from tests.locker_sites.test_smart_locks import add_user
from tests.ocpp_client import TestChargePoint, connect

DOORS = "lock.opened,lock.closed,lock.unlocked,lock.forced_open"
LINKS = "lock.offline,lock.online"
ADMIN_WHO = "CHARGEBAY_API_TOKEN"  # the locker APIs audit a token by its name (api.vendor.sites.actor)
HOOKS = {"outbound_allow": "127.0.0.1", "webhook_attempts": 2, "webhook_backoff": 0.1}


@pytest.fixture
async def site(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    async with bridged(db_url, bridge_yaml(tmp_path), **HOOKS) as s:
        yield s


@pytest.fixture
async def client(site: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.http_url, headers=ADMIN, timeout=20) as c:
        yield c


@contextlib.asynccontextmanager
async def lock_stream(client: httpx.AsyncClient, types: str = DOORS, **params: str) -> AsyncIterator[EventStream]:
    async with subscribe(client, ADMIN, types=types, **params) as events:
        yield events


async def take(events: EventStream, count: int, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The next ``count`` lock events, by type (their order may differ: a door event is recorded in
    the background while the open that caused it is audited)."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(count):
        kind, data = await events.next(timeout)
        assert kind not in found, (kind, found)
        found[kind] = data
    return found


async def unlock(client: httpx.AsyncClient, events: EventStream, path: str,
                 **body: Any) -> dict[str, dict[str, Any]]:
    """POST ``path`` (an open that succeeds): its lock.opened and lock.unlocked, by type."""
    r = await client.post(path, json=body or None)
    assert r.status_code == 200, r.text
    got = await take(events, 2)
    assert got.keys() == {"lock.opened", "lock.unlocked"}, got
    return got


async def history(client: httpx.AsyncClient, lockid: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/locks/{lockid}/events", params={"pagenumber": 1, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["eventslist"]  # type: ignore[no-any-return]


def open_door_frame(bay: int) -> str:
    return Frame(1, CB81.opcode("OPEN_DOOR"), bay).hex(CB81)


# -- the embedded bridge ---------------------------------------------------------------------------
async def test_an_unlock_a_close_and_a_forced_door_stream_as_lock_events_and_stay_in_the_history(
        site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    async with lock_stream(client) as events:
        got = await unlock(client, events, "/api/locks/LOCKER-A-01/unlock")
        opened, unlocked = got["lock.opened"], got["lock.unlocked"]
        assert (opened["charge_point_id"], opened["lockid"], opened["door"]) == ("LOCKER-A-01",) * 2 + ("open",)
        assert (opened["commanded"], opened["by"]) == (True, ADMIN_WHO)
        assert (unlocked["lockid"], unlocked["by"]) == ("LOCKER-A-01", ADMIN_WHO)

        emu.boards[1].bays[1].close_door()
        closed = await take(events, 1)
        assert closed["lock.closed"]["lockid"] == "LOCKER-A-01"

        emu.boards[1].bays[2].open_door()  # nobody sent OPEN_DOOR: by hand, a key, a crowbar
        forced = await take(events, 2)
        assert forced.keys() == {"lock.opened", "lock.forced_open"}
        assert (forced["lock.opened"]["commanded"], forced["lock.opened"]["by"]) == (False, None)
        assert forced["lock.forced_open"]["lockid"] == "LOCKER-A-02"
    mine = await history(client, "LOCKER-A-02")
    assert [e["event"] for e in mine[:2]] == ["lock.forced_open", "door.opened"]
    assert mine[1]["details"]["commanded"] is False and mine[0]["actor"] == "board"
    first = {e["event"]: e for e in await history(client, "LOCKER-A-01")}
    assert first["door.opened"]["details"]["commanded"] is True and "lock.forced_open" not in first
    assert first["door.opened"]["details"]["by"] == ADMIN_WHO


async def test_opens_through_the_cabins_api_or_a_raw_frame_are_no_forced_opens(
        site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    async with lock_stream(client) as events:
        got = await unlock(client, events, "/api/locker/cabins/LOCKER-A-03/open")
        assert got["lock.opened"]["commanded"] is True and got["lock.unlocked"]["by"] == ADMIN_WHO
        r = await client.post("/api/locker/command", json={"comPort": "COM2", "hexCode": open_door_frame(4)})
        assert r.status_code == 200 and r.json()["boardStatus"] == "OK", r.text
        raw = await take(events, 1)  # no unlock (nobody records who sent a raw frame), no tamper
        assert raw["lock.opened"]["lockid"] == "LOCKER-A-04" and raw["lock.opened"]["commanded"] is True
        emu.boards[1].bays[4].close_door()
        assert (await take(events, 1)).keys() == {"lock.closed"}


async def test_a_users_unlock_names_the_user_and_the_grant(site: Stack, client: httpx.AsyncClient) -> None:
    user = await add_user(site, "ann")
    r = await client.post("/api/locks/LOCKER-A-02/access", json={"userid": user})
    assert r.status_code == 201, r.text
    grant = r.json()["grant"]["grantid"]
    async with lock_stream(client, charge_point_id="LOCKER-A-02") as events:
        unlocked = (await unlock(client, events, "/api/locks/LOCKER-A-02/unlock", userid=user))["lock.unlocked"]
    assert (unlocked["by"], unlocked["userid"], unlocked["grantid"]) == (ADMIN_WHO, user, grant)
    [entry] = [e for e in await history(client, "LOCKER-A-02") if e["event"] == "locker.open"]
    assert (entry["userid"], entry["details"]["grantid"]) == (user, grant)


async def test_a_forced_open_reaches_a_webhook_signed(site: Stack, client: httpx.AsyncClient,
                                                      emu: Emulator) -> None:
    async with HookReceiver() as hook:
        made = await create_webhook(client, hook.url, ["lock.forced_open"])
        assert (await client.post("/api/locks/LOCKER-A-01/unlock")).status_code == 200  # commanded
        emu.boards[1].bays[3].open_door()
        [got] = await waiting(lambda: hook.posts, timeout=10)
    assert got.signed_with("a-test-secret-0123456789")
    assert (got.body["webhook_id"], got.body["event"]["type"]) == (made["id"], "lock.forced_open")
    assert got.body["event"]["lockid"] == "LOCKER-A-03"
    assert len(hook.posts) == 1


# -- a bridge at the locker site, over OCPP --------------------------------------------------------
@pytest.fixture
async def central(db_url: str) -> AsyncIterator[Stack]:
    async with running(make_settings(db_url), migrate=False) as stack:
        yield stack


async def _lockers(client: httpx.AsyncClient) -> int:
    return int((await client.get("/lockers")).json()["total"])


async def test_a_site_bridges_doors_and_connection_are_lock_events(central: Stack, tmp_path: Path,
                                                                  emu: Emulator) -> None:
    config = bridge_yaml(tmp_path)
    bays = {f"LOCKER-A-0{n}" for n in range(1, 5)}
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client:
        async with lock_stream(client, LINKS) as links:
            async with standalone(config, central.ws_url):
                await waiting(lambda: _is(_lockers(client), 4), timeout=10)
                [one] = [x for x in (await client.get("/lockers")).json()["items"] if x["identity"] == "LOCKER-A-01"]
                async with lock_stream(client) as events:
                    got = await unlock(client, events, f"/lockers/{one['id']}/open")
                    assert got["lock.opened"]["commanded"] is True  # the site's bridge says so
                    emu.boards[1].bays[2].open_door()
                    assert (await take(events, 2)).keys() == {"lock.opened", "lock.forced_open"}
            # the bridge stopped: its bays' charge points went away (their first connection was
            # no event: never seen going, they were not seen coming back either)
            gone = await _links(links, "lock.offline", bays)
            async with standalone(config, central.ws_url):
                back = await _links(links, "lock.online", bays)
        offline = [e for e in await history(client, "LOCKER-A-03") if e["event"] == "lock.offline"]
    assert all(event["reason"] for event in gone) and {e["charge_point_id"] for e in back} == bays
    assert offline and offline[0]["actor"] == "central system" and offline[0]["details"]["reason"]


async def _links(links: EventStream, kind: str, bays: set[str]) -> list[dict[str, Any]]:
    """The next connection event of every bay: ``kind`` each."""
    found = [await links.next(10) for _ in bays]
    assert {name for name, _ in found} == {kind} and {data["lockid"] for _, data in found} == bays, found
    return [data for _, data in found]


async def test_a_door_event_of_an_older_bridge_counts_opens_asked_here(central: Stack) -> None:
    """A DoorEvent without ``commanded`` (a bridge before this version): an open not asked here
    is a forced one."""
    async with httpx.AsyncClient(base_url=central.http_url, headers=ADMIN, timeout=30) as client, \
            connect(central.ws_url, "OLD-BAY", TestChargePoint) as bay:
        info = await bay.call(call.DataTransfer(vendor_id="chargebay", message_id="BayInfo", data=json.dumps(
            {"locker": "OLD", "port": "COM7", "address": 1, "bay": 1})))
        assert info.status == "Accepted"
        async with lock_stream(client) as events:
            door = await bay.call(call.DataTransfer(vendor_id="chargebay", message_id="DoorEvent",
                                                    data='{"door": "open"}'))
            assert door.status == "Accepted"
            got = await take(events, 2)
    assert got.keys() == {"lock.opened", "lock.forced_open"} and got["lock.opened"]["commanded"] is False


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected  # type: ignore[no-any-return]
