"""The 2.0.1 Updated fast path (issue #18, csms.store.known_201): an Updated event that changes
nothing but its transaction's events and readings is stored without a query, and everything the
slow path decides (replays, a start reading, an EVSE or remoteStartId named late, a new socket,
a superseded transaction) still comes out the same."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event as sa_event

from chargebay.stack import Stack
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.csms.test_ocpp201_transactions import BUDGET, TOKEN, energy, event
from tests.helpers import add_id_tag, rows


@contextmanager
def selects(stack: Stack) -> Iterator[list[str]]:
    """The SELECTs the central system runs meanwhile (its readers' engine and its writer's)."""
    seen: list[str] = []
    engines = {stack.central.engine.sync_engine, stack.central.writer.engine.sync_engine}

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    for engine in engines:
        sa_event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            sa_event.remove(engine, "before_cursor_execute", note)


async def stored(stack: Stack, station_tx: str) -> tuple[dict[str, Any], list[int], list[str]]:
    [tx] = await rows(stack, "SELECT * FROM transactions WHERE station_transaction_id = :t", t=station_tx)
    seqs = [r["seq_no"] for r in await rows(
        stack, "SELECT seq_no FROM transaction_events WHERE transaction_id = :i ORDER BY id", i=tx["id"])]
    values = [r["value"] for r in await rows(
        stack, "SELECT value FROM meter_values WHERE transaction_id = :i ORDER BY id", i=tx["id"])]
    return dict(tx), seqs, values


def updated(seq: int, tx: str, wh: float, **extra: Any) -> Any:
    return event("Updated", seq, tx, trigger_reason="MeterValuePeriodic", meter_value=energy(wh), **extra)


def started(tx: str, wh: float) -> Any:
    """Seq 0 of ``tx``: Started on EVSE 1 with the tag and a Transaction.Begin reading."""
    return event("Started", 0, tx, evse={"id": 1, "connector_id": 1}, id_token=TOKEN,
                 meter_value=energy(wh, context="Transaction.Begin"))


async def test_updated_events_need_no_query_and_replays_are_still_caught(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-FAST") as cp:
        await cp.call(BOOT)
        await cp.call(started("TX-F", 100))
        with selects(stack) as seen:
            for seq in (1, 2, 3):
                assert (await cp.call(updated(seq, "TX-F", 100 + seq * 10))).id_token_info is None
        assert seen == []  # not one query for three Updated events
        await cp.call(updated(2, "TX-F", 120))  # a replay of one of them: answered, not stored twice
        await cp.call(updated(3, "TX-F", 130))
        await cp.call(updated(5, "TX-F", 150))
        await cp.call(updated(4, "TX-F", 140))  # late, never seen: stored
        await cp.call(updated(4, "TX-F", 140))  # and its replay is not
        await cp.call(event("Ended", 6, "TX-F", trigger_reason="EVDeparted",
                            meter_value=energy(160, context="Transaction.End")))
        await cp.call(updated(7, "TX-F", 170))  # after its end: stored as the slow path stores it
    tx, seqs, values = await stored(stack, "TX-F")
    assert seqs == [0, 1, 2, 3, 5, 4, 6, 7]
    assert values == ["100", "110", "120", "130", "150", "140", "160", "170"]
    assert (tx["meter_start"], tx["meter_stop"], tx["stop_reason"]) == (100, 160, "Local")


async def test_what_the_slow_path_decides_still_happens(stack: Stack) -> None:
    """A start reading that comes late, an EVSE and a remoteStartId named late, a token given
    after a start at plug-in: each goes through the store, once, and later events go fast."""
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-LATE") as cp:
        await cp.call(BOOT)
        await cp.call(event("Started", 0, "TX-L", trigger_reason="CablePluggedIn"))  # no EVSE, token, reading
        await cp.call(event("Updated", 1, "TX-L", trigger_reason="ChargingStateChanged"))
        await cp.call(updated(2, "TX-L", 5000))  # the first reading: the start
        answer = await cp.call(event("Updated", 3, "TX-L", id_token=TOKEN, evse={"id": 2},
                                     info={"remote_start_id": 42}))
        assert answer.id_token_info == {"status": "Accepted"}
        with selects(stack) as seen:
            await cp.call(updated(4, "TX-L", 5500))
            await cp.call(event("Updated", 5, "TX-L", evse={"id": 2}, info={"remote_start_id": 42},
                                trigger_reason="MeterValuePeriodic", meter_value=energy(6000)))
        assert seen == []
    tx, seqs, values = await stored(stack, "TX-L")
    assert (tx["meter_start"], tx["connector_id"], tx["remote_start_id"], tx["id_tag"], tx["id_tag_status"]) == (
        5000, 2, 42, "TAG-201", "Accepted")
    assert seqs == [0, 1, 2, 3, 4, 5] and values == ["5000", "5500", "6000"]


async def test_a_new_socket_learns_again_and_a_superseded_transaction_is_forgotten(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201", max_concurrent_tx=5)
    async with asyncio.timeout(BUDGET):
        async with station(stack, "CP-AGAIN") as cp:
            await cp.call(BOOT)
            await cp.call(event("Started", 0, "TX-1", evse={"id": 1}, id_token=TOKEN,
                                meter_value=energy(10, context="Transaction.Begin")))
            await cp.call(updated(1, "TX-1", 20))
        async with station(stack, "CP-AGAIN") as cp:  # another socket: nothing known, learnt again
            await cp.call(BOOT)
            await cp.call(updated(1, "TX-1", 20))  # a replay over the new socket: caught by the store
            await cp.call(updated(2, "TX-1", 30))
            await cp.call(event("Started", 3, "TX-2", evse={"id": 1}, id_token=TOKEN))  # supersedes TX-1
            await cp.call(updated(4, "TX-1", 40))  # TX-1 is over: stored as the slow path does
    first, seqs, values = await stored(stack, "TX-1")
    assert seqs == [0, 1, 2, 4] and values == ["10", "20", "30", "40"]
    assert first["end_source"] == "superseded"
