"""A locker cabinet on one circuit (issue #19): 12 bays with 60 W outlets under a 300 W load
group. The bridge reads each bay's charging profile as a switch: five outlets are on, seven
sessions wait with their outlets off (SuspendedEVSE, the transaction open), and each bay that
finishes lets the next in line on. Real CSMS, real bridge, the board emulated on a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.helpers import add_id_tag
from tests.locker_bridge.bays import ident, load, open_tx, stopped, vcp, wait_status
from tests.locker_bridge.conftest import api, bridge_yaml, bridged, command, until

BAYS = 12


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator.on_pty(boards=1, bays=BAYS, link=tmp_path / "ttyCOM2", door_close_after=None) as e:
        yield e


@pytest.fixture
async def stack(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    async with bridged(db_url, bridge_yaml(tmp_path, bays=BAYS, locker_extra=", outlet_w: 60"),
                       load_period=0.2) as s:
        yield s


def outlets(emu: Emulator) -> list[bool]:
    return [emu.boards[1].bays[n].outlet_on for n in range(1, BAYS + 1)]


def outlets_are(emu: Emulator, wanted: list[bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return outlets(emu) == wanted
    return check


def outlet_on(emu: Emulator, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(emu.boards[1].bays[n].outlet_on)
    return check


async def test_a_cabinet_charges_the_bays_that_fit_and_queues_the_rest(stack: Stack, emu: Emulator) -> None:
    r = await api(stack, "POST", "/api/v1/load-groups", json={
        "name": "cabinet", "limit": 300, "unit": "W", "members": [
            {"kind": "locker_bay", "charge_point_id": ident(n), "rating": 60} for n in range(1, BAYS + 1)]})
    assert r.status_code == 201, r.text
    txs = []
    for n in range(1, BAYS):  # a phone in each bay, one after the other, each its owner's tag
        await add_id_tag(stack, f"TAG-{n}")
        await load(stack, emu, n)
        assert await command(stack, ident(n), "RemoteStartTransaction", {"idTag": f"TAG-{n}"}) == {
            "status": "Accepted"}
        txs.append(await open_tx(stack, n))

    async def no_room_left() -> bool:  # the last bay's failsafe: what the sessions leave, nothing
        members = (await api(stack, "GET", "/api/v1/load-groups/1")).json()["members"]
        return [m["failsafe_w"] for m in members if m["charge_point_id"] == ident(BAYS)] == [0.0]
    await until(no_room_left, 5)
    await add_id_tag(stack, f"TAG-{BAYS}")  # the last one started at the locker: told it waits
    await load(stack, emu, BAYS)
    r = await api(stack, "POST", f"/api/locker/cabins/{ident(BAYS)}/start-charging", json={"idTag": f"TAG-{BAYS}"})
    assert r.status_code == 200 and r.json()["cabin"]["waitingForLoadLimit"] is True, r.text
    assert r.json()["message"].startswith("Transaction started; the outlet stays off"), r.text
    txs.append(await open_tx(stack, BAYS))
    await until(outlets_are(emu, [True] * 5 + [False] * 7), 5)
    for n in range(6, BAYS + 1):  # waiting: the transaction open, the outlet off by the limit
        await wait_status(stack, n, "SuspendedEVSE")
        assert vcp(stack, n).bay.paused and vcp(stack, n).bay.tx is not None
    async def seven_wait() -> bool:
        allocations = (await api(stack, "GET", "/api/v1/load-groups/1")).json()["allocations"]
        return allocations["allocated_w"] == 300.0 and allocations["waiting"] == [
            f"{ident(n)}/1" for n in range(6, BAYS + 1)]  # in arrival order
    await until(seven_wait, 3)
    for n in (1, 2):  # each bay that finishes lets the next in line on
        assert await command(stack, ident(n), "RemoteStopTransaction",
                             {"transactionId": txs[n - 1]["id"]}) == {"status": "Accepted"}
        await stopped(stack, txs[n - 1]["id"])
        await until(outlet_on(emu, 5 + n), 3)
        await wait_status(stack, 5 + n, "Charging")
    assert outlets(emu) == [False] * 2 + [True] * 5 + [False] * 5
    # no transaction was ended by its outlet being off
    for tx in txs[2:]:
        rows = (await api(stack, "GET", f"/api/v1/transactions/{tx['id']}")).json()
        assert rows["stop_timestamp"] is None, rows
