"""How a locker bay behaves as an OCPP charge point, end to end: a whole charge, odd replies and
readings, maintenance.

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from chargebay.stack import Stack
from locker_bridge.bay import Outlet
from locker_bridge.bus import NoReply
from locker_bridge.emulator import ChargeState, Device, Emulator, Fault
from locker_bridge.protocol import Frame
from tests.api.full_cp import bearer, make_token
from tests.helpers import add_id_tag
from tests.locker_bridge.bays import (
    TAG,
    _not,
    _status_is,
    _still_running,
    _true,
    charging,
    connector,
    data_transfer,
    history,
    holds,
    ident,
    load,
    open_tx,
    poller_of,
    remote_stop,
    stopped,
    transactions,
    vcp,
    wait_status,
)
from tests.locker_bridge.conftest import api, bridge_yaml, bridged, command, until


async def test_integration_start_and_stop_a_charge_on_a_locker_bay(stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[4]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 4)
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as client:
        key = bearer(await make_token(client, "integrator", name="billing"))
        r = await client.post("/integration/charges/start",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG}, headers=key)
        assert r.status_code == 200, r.text
        tx_id = r.json()["transaction"]
        assert bay.outlet_on
        tx = await open_tx(stack, 4)
        assert tx["id"] == tx_id and tx["id_tag"] == TAG
        await wait_status(stack, 4, "Charging")
        emu.advance(600)
        r = await client.post("/integration/charges/stop",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG,
                                    "transaction": tx_id}, headers=key)
        assert r.status_code == 200, r.text
        done = await stopped(stack, tx_id)
        assert done["stop_reason"] == "Remote"
        assert not bay.outlet_on
        assert done["meter_stop"] == bay.energy_register > done["meter_start"]
        # a faulted bay: the start is accepted by the bay but no transaction follows
        emu.inject(Fault.ACK_WITHOUT_EFFECT, times=1, bay=4, command="START_CHARGING")
        r = await client.post("/integration/charges/start?wait=1",
                              json={"chargebox": ident(4), "connector": 1, "id_tag": TAG}, headers=key)
        assert r.status_code == 504, r.text
        assert not bay.outlet_on


# == 17. replies the bridge cannot use ==============================================================
async def test_replies_short_of_their_data_are_counted_logged_and_polling_goes_on(
        db_url: str, tmp_path: Path, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """A firmware whose CHARGING_STATUS carries no readings: every read is a BadReply, not a
    struct.error that ended the board's poller; the board is still read once (ready), its bays
    boot, the polls go on, and the log says it once."""
    caplog.set_level(logging.WARNING, logger="locker_bridge.board")
    rule = emu.inject(Fault.SHORT_REPLY, command="CHARGING_STATUS")
    async with bridged(db_url, bridge_yaml(tmp_path)) as stack:
        poller = poller_of(stack)
        polls = poller.polls
        # each bay at the first read, then each poll's spot check
        # (a poll's error is counted before the poll is: wait for both, not one then the other)
        await until(lambda: _true(poller.errors >= 4 + 3 and poller.polls >= polls + 3))
        [warning] = [r.getMessage() for r in caplog.records if "poll failed" in r.getMessage()]
        assert "BadReply" in warning and "1 DATA bytes, 8 expected" in warning
        assert stack.bridge.ports()[0]["bad_replies"] >= 3 * poller.errors  # type: ignore[union-attr]
        emu.remove_fault(rule)
        answer = await data_transfer(stack, 1, "ChargingStatus")
        assert answer["status"] == "Accepted" and json.loads(answer["data"])["state"] == "off"


# == 18. a start without an answer ================================================================
async def test_a_start_without_an_answer_reads_back_and_switches_off_what_came_on(
        stack: Stack, emu: Emulator) -> None:
    bay = emu.boards[1].bays[2]
    await add_id_tag(stack, TAG)
    await load(stack, emu, 2)
    emu.inject(Fault.NO_REPLY, times=3, command="START_CHARGING")  # done, never acknowledged
    with pytest.raises(NoReply):
        await stack.bridge.start_charging(ident(2), TAG)  # type: ignore[union-attr]
    assert emu.stats.faults[Fault.NO_REPLY] == 3  # the first try and both retries: all switched on
    assert not bay.outlet_on  # read back, found on, switched off
    assert vcp(stack, 2).bay.tx is None and await transactions(stack, 2) == []
    await holds(lambda: _status_is(stack, 2, "Preparing"), 0.4)


# == 19. an outlet switched on past the bridge ====================================================
async def test_an_outlet_on_without_a_transaction_is_left_on_logged_once_and_shown(
        stack: Stack, emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """A raw START_CHARGING through the vendor's pass-through: the operator may mean it, so the
    bridge does not undo it; it says so once and shows it in the cabin data."""
    assert stack.bridge is not None
    caplog.set_level(logging.WARNING, logger="locker_bridge.charge_point")
    bay, bridge, poller = emu.boards[1].bays[3], stack.bridge, poller_of(stack)
    await bridge.command("COM2", Frame(1, 0x50, 3).hex())  # START_CHARGING board 1 bay 3
    await until(lambda: _true(bridge.cabin(ident(3))["outletWithoutTransaction"]))
    polls = poller.polls
    await until(lambda: _true(poller.polls >= polls + 3))
    assert bay.outlet_on and bridge.cabin(ident(3))["outletWithoutTransaction"]
    said = [r.getMessage() for r in caplog.records if "without a transaction" in r.getMessage()]
    assert said == [f"{ident(3)}: the outlet is on without a transaction (switched on past the "
                    "bridge?); left on"]
    assert (await connector(stack, 3))["status"] == "Available"  # type: ignore[index]
    assert await transactions(stack, 3) == []
    await bridge.command("COM2", Frame(1, 0x52, 3).hex())
    await until(lambda: _not(bridge.cabin(ident(3))["outletWithoutTransaction"]))


# == 20. SuspendedEV from the power ===============================================================
async def test_an_outlet_on_that_draws_next_to_nothing_is_suspended_ev(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """Some boards say "charging" (state 1) whenever the outlet is on: a draw under
    suspended_ev_below_w for suspended_ev_after seconds is SuspendedEV all the same."""
    config = bridge_yaml(tmp_path, extra="suspended_ev_below_w: 3\nsuspended_ev_after: 0.3\n")
    async with bridged(db_url, config) as stack:
        await charging(stack, emu, 1, Device(capacity_wh=100.0, max_power_w=1.0, ramp_s=0))
        await wait_status(stack, 1, "SuspendedEV")
        assert emu.boards[1].bays[1].state == ChargeState.CHARGING
        assert vcp(stack, 1).bay.outlet == Outlet.CHARGING and vcp(stack, 1).bay.power_w == 1
        emu.boards[1].bays[1].place(Device.ebike())  # a device that draws
        await wait_status(stack, 1, "Charging")
        assert (await history(stack, 1))[-3:] == ["Charging", "SuspendedEV", "Charging"]


# == 21. reads an operator asks for =============================================================
async def test_reads_an_operator_asks_for_refresh_the_status_but_are_not_polls(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """Two polls finding the outlet off end the transaction (Other). Reads through the REST API
    or DataTransfer come at any pace: they show what they found but count for nothing."""
    config = bridge_yaml(tmp_path)
    config.write_text(config.read_text().replace("poll_interval: 0.2", "poll_interval: 60"))
    async with bridged(db_url, config) as stack:
        tx = await charging(stack, emu, 2)
        await wait_status(stack, 2, "Charging")
        emu.boards[1].bays[2].switch_off()  # silently
        answer = await data_transfer(stack, 2, "ChargingStatus")
        assert json.loads(answer["data"])["state"] == "off"
        await wait_status(stack, 2, "SuspendedEVSE")  # as a poll's read would have it
        for _ in range(3):
            r = await api(stack, "POST", f"/api/locker/cabins/{ident(2)}/charging-status")
            assert r.json()["state"] == "off"
        await holds(lambda: _still_running(stack, 2), 0.3)
        assert vcp(stack, 2).bay.off_polls == 0
        for _ in range(2):
            await poller_of(stack).poll()
        assert (await stopped(stack, tx["id"]))["stop_reason"] == "Other"


# == 22. maintenance ============================================================================
async def test_maintenance_makes_a_bay_unavailable_once_its_transaction_has_ended(
        stack: Stack, emu: Emulator) -> None:
    assert stack.bridge is not None
    bridge = stack.bridge
    await bridge.set_maintenance(ident(1), True)
    await wait_status(stack, 1, "Unavailable")
    await wait_status(stack, 1, "Unavailable", c=0)
    assert bridge.cabin(ident(1))["maintenance"] is True
    answer = await command(stack, ident(1), "RemoteStartTransaction", {"idTag": TAG})
    assert answer == {"status": "Rejected"}
    # the CSMS's Operative cannot end the operator's maintenance (Accepted would promise it)
    answer = await command(stack, ident(1), "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert answer == {"status": "Rejected"}
    await holds(lambda: _status_is(stack, 1, "Unavailable"), 0.4)
    await bridge.set_maintenance(ident(1), False)
    await wait_status(stack, 1, "Available")
    await wait_status(stack, 1, "Available", c=0)
    # during a transaction: it runs to its end (Scheduled, as ChangeAvailability), then Unavailable
    tx = await charging(stack, emu, 2)
    await wait_status(stack, 2, "Charging")
    await bridge.set_maintenance(ident(2), True)
    await holds(lambda: _status_is(stack, 2, "Charging"), 0.5)
    assert emu.boards[1].bays[2].outlet_on
    assert (await connector(stack, 2, 0))["status"] == "Available"  # type: ignore[index]
    await remote_stop(stack, 2, tx)
    await stopped(stack, tx["id"])
    await wait_status(stack, 2, "Unavailable")
    await wait_status(stack, 2, "Unavailable", c=0)


# -- small async predicates for until()/holds() ----------------------------------------------------
