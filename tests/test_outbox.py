"""The outbox on its own (issue #13 item 1): every transaction message is on disk before it is
sent and leaves it only once answered; a real SQLite file, a CSMS played by a coroutine that can
answer, fail or wait (the SIGKILL cases run against real processes in tests/locker_bridge and
tests/charger_sim)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chargepoint.outbox import Outbox
from common.durable import DurableQueue


class Csms:
    """Answers calls; records what the disk held at the moment each one was sent."""

    def __init__(self, queue: DurableQueue) -> None:
        self.queue = queue
        self.sent: list[tuple[str, dict[str, Any], list[str]]] = []
        self.down = False
        self.gate: asyncio.Event | None = None
        self.next_id = 100

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        on_disk = [a for _, a, _ in await self.queue.pending("CP")]
        if self.down:
            raise ConnectionError("down")
        self.sent.append((action, payload, on_disk))
        if self.gate is not None:
            await self.gate.wait()
        if action == "StartTransaction":
            self.next_id += 1
            return {"transactionId": self.next_id, "idTagInfo": {"status": "Accepted"}}
        return {}


def outbox(tmp_path: Path, online: bool = True) -> tuple[Outbox, Csms, DurableQueue]:
    queue = DurableQueue(tmp_path / "state.db")
    csms = Csms(queue)
    state = {"online": online}
    box = Outbox("CP", queue, csms.call, (ConnectionError,), lambda: state["online"],
                 retry_interval=lambda: 0.05)
    return box, csms, queue


async def test_a_message_is_on_disk_before_it_is_sent_and_off_it_once_answered(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path)
    answer = await box.send("StartTransaction", {"connectorId": 1, "_provisional": -1,
                                                 "idTag": "T", "meterStart": 0, "timestamp": "x"})
    assert answer is not None and answer["transactionId"] == 101
    [(action, payload, on_disk)] = csms.sent
    assert on_disk == ["StartTransaction"] and "_provisional" not in payload
    for _ in range(50):  # the removal is written after the answer
        if not await queue.pending("CP"):
            break
        await asyncio.sleep(0.01)
    assert await queue.pending("CP") == []
    queue.close()


async def test_what_a_state_goes_with_is_written_in_the_same_write(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path, online=False)
    await box.put("StopTransaction", {"transactionId": 5}, also=[box.state("tx:1", None),
                                                                 box.state("meter:1", 1234)])
    assert await queue.state("CP") == {"meter:1": 1234}
    assert [a for _, a, _ in await queue.pending("CP")] == ["StopTransaction"]
    queue.close()


async def test_a_sender_cancelled_after_queueing_loses_nothing(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path)

    async def sender() -> None:
        await box.put("StartTransaction", {"_provisional": -1, "connectorId": 1})
        await asyncio.sleep(10)  # cancelled here, never asking for the answer

    task = asyncio.ensure_future(sender())
    await asyncio.sleep(0.05)
    task.cancel()
    for _ in range(100):
        if not len(box):
            break
        await asyncio.sleep(0.01)
    assert [a for a, _, _ in csms.sent] == ["StartTransaction"] and len(box) == 0
    queue.close()


async def test_an_answer_that_came_first_is_kept_for_its_sender(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path)
    seq = await box.put("StartTransaction", {"_provisional": -1, "connectorId": 1})
    for _ in range(100):
        if not len(box):
            break
        await asyncio.sleep(0.01)
    assert (await box.result(seq)) == {"transactionId": 101, "idTagInfo": {"status": "Accepted"}}
    queue.close()


async def test_a_failed_send_stays_queued_and_goes_out_renumbered_in_order(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path)
    csms.down = True
    assert await box.send("StartTransaction", {"_provisional": -1, "connectorId": 1}) is None
    assert await box.send("MeterValues", {"transactionId": -1}) is None
    assert await box.send("StopTransaction", {"transactionId": -1}) is None
    assert [a for _, a, _ in await queue.pending("CP")] == ["StartTransaction", "MeterValues",
                                                           "StopTransaction"]
    csms.down = False
    box.kick()
    # a message leaves the outbox once answered and the disk once its removal is committed (a
    # group commit later, longer on a busy machine): wait for both
    for _ in range(200):
        if not len(box) and not await queue.pending("CP"):
            break
        await asyncio.sleep(0.01)
    assert [(a, p.get("transactionId")) for a, p, _ in csms.sent] == [
        ("StartTransaction", None), ("MeterValues", 101), ("StopTransaction", 101)]
    assert await queue.pending("CP") == []
    queue.close()


async def test_what_a_killed_run_left_is_sent_by_the_next(tmp_path: Path) -> None:
    box, csms, queue = outbox(tmp_path)
    csms.gate = asyncio.Event()  # the CSMS never answers: the process dies waiting
    await box.put("StopTransaction", {"transactionId": 7, "meterStop": 12})
    await asyncio.sleep(0.05)
    assert [a for a, _, _ in csms.sent] == ["StopTransaction"]
    queue.close()  # the process is gone (nothing more is written)
    again, csms2, queue2 = outbox(tmp_path)
    await again.load()
    assert [a for _, a, _ in again.pending] == ["StopTransaction"]
    again.kick()
    for _ in range(100):
        if not len(again):
            break
        await asyncio.sleep(0.01)
    assert [(a, p["meterStop"]) for a, p, _ in csms2.sent] == [("StopTransaction", 12)]
    queue2.close()
