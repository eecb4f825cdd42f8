"""Issue #13 items 2, 3 and 4 at the bridge: a bridge whose state is gone asks the CSMS instead
of starting blind; a board that reboots (its energy registers back to 0) bills what was charged;
after a restart each bay reports only what it has read itself, and a bay with a transaction from
before is reconciled as soon as it is read, not when every board has been. Real CSMS, boards
emulated on real ptys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chargebay.stack import Stack, running
from locker_bridge.bay import Tx
from locker_bridge.config import load
from locker_bridge.emulator import Device, Emulator, Fault
from locker_bridge.service import BridgeService
from tests.conftest import make_settings
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.bays import TAG, charging, ident, last_message_id, stopped
from tests.locker_bridge.conftest import bridge_yaml, bridged, command, standalone, until


def forget_state(tmp_path: Path) -> None:
    """The bridge's state file is gone (another data directory, a new container)."""
    for path in tmp_path.glob("outbox.db*"):
        path.unlink()


async def meter_readings(stack: Stack, tx_id: int) -> list[int]:
    found = await rows(stack, "SELECT value FROM meter_values WHERE transaction_id = :tx AND "
                       "measurand = 'Energy.Active.Import.Register' AND source = 'MeterValues'",
                       tx=tx_id)
    return [int(r["value"]) for r in found]


async def metered_above(stack: Stack, tx: dict[str, Any], wh: int) -> list[int] | None:
    readings = await meter_readings(stack, tx["id"])
    return readings if readings and max(readings) > tx["meter_start"] + wh else None


async def test_a_bridge_without_state_adopts_what_still_charges(stack: Stack, tmp_path: Path,
                                                                emu: Emulator) -> None:
    assert stack.bridge is not None
    tx = await charging(stack, emu, 1)
    emu.advance(600)
    await until(lambda: metered_above(stack, tx, 0))
    await stack.bridge.close()
    forget_state(tmp_path)
    emu.advance(600)
    async with standalone(bridge_yaml(tmp_path), stack.ws_url) as bridge:
        cp = bridge.cps[ident(1)]
        await until(lambda: _true(cp.bay.tx is not None and cp.bay.tx.id == tx["id"]), 10)
        assert cp.bay.tx.id_tag == TAG  # type: ignore[union-attr]
        answer = await command(stack, ident(1), "RemoteStopTransaction", {"transactionId": tx["id"]})
        assert answer == {"status": "Accepted"}
        done = await stopped(stack, tx["id"])
    assert done["stop_reason"] == "Remote" and done["end_source"] == "charge_point"
    assert done["meter_stop"] == emu.boards[1].bays[1].energy_register > max(
        await meter_readings(stack, tx["id"]) or [0]) - 1


async def test_a_bridge_without_state_stops_what_ended_while_it_was_gone(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    assert stack.bridge is not None
    tx = await charging(stack, emu, 2)
    emu.advance(600)
    readings = await until(lambda: metered_above(stack, tx, 0))
    await stack.bridge.close()
    forget_state(tmp_path)
    bay = emu.boards[1].bays[2]
    bay.switch_off()
    bay.reset_register()  # and the board rebooted meanwhile: its register says nothing now
    async with standalone(bridge_yaml(tmp_path), stack.ws_url) as bridge:
        done = await stopped(stack, tx["id"], timeout=10)
        assert bridge.cps[ident(2)].bay.tx is None
    assert done["stop_reason"] == "Reboot" and done["end_source"] == "charge_point"
    assert done["meter_stop"] == max(readings) > done["meter_start"]


async def test_a_transaction_restored_while_its_board_is_silent_goes_on_once_it_answers(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """The bridge restarts while its board answers nothing: its charge points boot (Faulted), and
    when the board answers again the restored transaction is reconciled and metered, not left
    unread for good."""
    assert stack.bridge is not None
    tx = await charging(stack, emu, 1)
    emu.advance(600)
    await until(lambda: metered_above(stack, tx, 0))
    await stack.bridge.close()
    rule = emu.inject(Fault.NO_REPLY)
    bridge = BridgeService(load(bridge_yaml(tmp_path)), csms_url=stack.ws_url)
    await bridge.start()
    try:
        cp = bridge.cps[ident(1)]
        await until(lambda: _true(cp.booted.is_set()), 10)  # booted Faulted, the board silent
        assert cp.bay.tx is not None and cp.bay.tx.id == tx["id"] and not cp.reconciled
        before = max(await meter_readings(stack, tx["id"]))
        emu.remove_fault(rule)
        emu.advance(600)
        after = await until(lambda: metered_above(stack, tx, before - tx["meter_start"]), 10)
        assert max(after) > before and cp.reconciled
        assert cp.bay.tx is not None and cp.bay.tx.id == tx["id"]
    finally:
        await bridge.close()


async def test_one_bay_that_never_answers_holds_up_neither_its_board_nor_its_neighbours(
        stack: Stack, tmp_path: Path, emu: Emulator) -> None:
    """At a restart one bay answers none of its reads while its board answers: the other bays of
    the board are read, reconciled and polled (a transaction on one of them metered), the board
    is never taken for silent, and the dead bay is asked again after each poll."""
    assert stack.bridge is not None
    tx = await charging(stack, emu, 2)
    emu.advance(600)
    await until(lambda: metered_above(stack, tx, 0))
    await stack.bridge.close()
    emu.inject(Fault.NO_REPLY, address=1, bay=1, command="LOCKER_STATUS")
    bridge = BridgeService(load(bridge_yaml(tmp_path)), csms_url=stack.ws_url)
    await bridge.start()
    try:
        [poller] = [p for p in bridge.pollers.values() if p.address == 1]
        dead, neighbour = bridge.cps[ident(1)], bridge.cps[ident(2)]
        silences: list[bool] = []

        async def polled() -> bool:
            silences.append(neighbour.bay.board_silent)
            return poller.polls >= 3 and neighbour.reconciled

        await until(polled, 10)
        assert not dead.reconciled and not any(silences)
        before = max(await meter_readings(stack, tx["id"]))
        emu.advance(600)
        after = await until(lambda: metered_above(stack, tx, before - tx["meter_start"]), 10)
        assert max(after) > before and neighbour.bay.tx is not None and neighbour.bay.tx.id == tx["id"]
        emu.clear_faults()
        await until(lambda: _true(dead.reconciled), 10)  # asked again, read once it answers
    finally:
        await bridge.close()


async def test_a_board_reboot_bills_what_was_charged(stack: Stack, emu: Emulator) -> None:
    """The board reboots mid-charge and counts from 0 again: the transaction ends (PowerLoss) at
    the last register it had, never below what its meter values said."""
    tx = await charging(stack, emu, 3, Device.ebike())
    emu.advance(900)  # ~30 Wh
    readings = await until(lambda: metered_above(stack, tx, 10), 10)
    emu.boards[1].reboot(reset_registers=True)
    done = await stopped(stack, tx["id"], timeout=10)
    assert done["stop_reason"] == "PowerLoss"
    assert done["meter_stop"] >= max(readings) > done["meter_start"] + 10
    assert all(r <= done["meter_stop"] for r in await meter_readings(stack, tx["id"]))


def test_a_register_reset_or_wrap_is_not_negative_energy() -> None:
    tx = Tx(1, "T", 1000, "2026-12-02T10:00:00Z")
    assert [tx.observe(r) for r in (1005, 1012)] == [1005, 1012]
    assert tx.observe(0) == 1012  # the board rebooted: its register starts again at 0
    assert [tx.observe(r) for r in (3, 10)] == [1015, 1022]
    wrapped = Tx(2, "T", 2**32 - 10, "2026-12-02T10:00:00Z")
    assert [wrapped.observe(r) for r in (2**32 - 2, 5)] == [2**32 - 2, 2**32 - 2]
    assert wrapped.observe(9) == 2**32 + 2
    kept = Tx.from_json(json.loads(json.dumps(tx.to_json())))
    assert kept.observe(11) == 1023  # what a restart reads back continues the same way
    adopted = Tx(3, "T", 100, "2026-12-02T10:00:00Z", last_wh=150, raw_last=None)
    assert adopted.observe(180) == 180 and adopted.observe(190) == 190
    behind = Tx(4, "T", 100, "2026-12-02T10:00:00Z", last_wh=150, raw_last=None)
    assert behind.observe(7) == 150 and behind.observe(9) == 152


FOUR_BOARDS = """
csms_url: ws://127.0.0.1:9000/ocpp
ports:
  COM2: {{device: {device}, baudrate: 9600}}
lockers:
  - {{name: A, port: COM2, address: 1, bays: 12}}
  - {{name: B, port: COM2, address: 2, bays: 12}}
  - {{name: C, port: COM2, address: 3, bays: 12}}
  - {{name: D, port: COM2, address: 4, bays: 12}}
poll_interval: 0.5
meter_interval: 60
outbox: {outbox}
"""


async def test_a_restored_transaction_is_reconciled_as_its_bay_is_read(db_url: str,
                                                                       tmp_path: Path) -> None:
    """Four boards of twelve bays on one 9600-baud line: the bay with a transaction from before
    the restart (its outlet went off meanwhile) is read first, ends its transaction (Reboot)
    before the boards have all been read, and never says Charging meanwhile."""
    config = tmp_path / "bays.yaml"
    config.write_text(FOUR_BOARDS.format(device=tmp_path / "ttyCOM2", outbox=tmp_path / "outbox.db"))
    async with Emulator.on_pty(boards=4, bays=12, link=tmp_path / "ttyCOM2", line_timing=True,
                               door_close_after=None) as emu:
        bay = emu.boards[4].bays[12]
        bay.place(Device.phone())
        async with bridged(db_url, config) as stack:
            assert stack.bridge is not None
            await add_id_tag(stack, TAG)
            assert (await stack.bridge.start_charging("D-12", TAG))[0]
            [tx] = await until(lambda: _open(stack), 10)
        async with running(make_settings(db_url), migrate=False) as stack:  # the CSMS alone
            bay.switch_off()  # the outlet went off while the bridge was down
            mark = await last_message_id(stack)
            async with standalone(config, stack.ws_url) as bridge:  # returns once all are read
                stops = await messages_of(stack, "D-12", "StopTransaction", mark)
                assert stops, "the bay's transaction was still open when every bay had been read"
                said = await _status_since(stack, "D-12", mark)
                assert said and "Charging" not in said, said
                assert bridge.cps["D-12"].bay.tx is None
            done = await stopped_tx(stack, tx["id"])
    assert done["stop_reason"] == "Reboot"


async def messages_of(stack: Stack, identity: str, action: str, after: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM messages WHERE charge_point_id = :cp AND direction = 'in' AND "
        "message_type = 2 AND action = :a AND id > :after ORDER BY id",
        cp=identity, a=action, after=after)]


async def _status_since(stack: Stack, identity: str, after: int) -> list[str]:
    found = [json.loads(m["frame"])[3] for m in await messages_of(stack, identity,
                                                                  "StatusNotification", after)]
    return [p["status"] for p in found if p["connectorId"] == 1]


async def stopped_tx(stack: Stack, tx_id: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await rows(stack, "SELECT * FROM transactions WHERE id = :id", id=tx_id)
        return dict(found[0]) if found and found[0]["stop_timestamp"] is not None else None
    return await until(check, 10)  # type: ignore[no-any-return]


async def _open(stack: Stack) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions WHERE stop_timestamp "
                                        "IS NULL")]


async def _true(value: Any) -> Any:
    return value
