"""The charge-point side's frames without a socket: a fake websocket in, frames out."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from chargepoint.errors import CallRefused, Offline
from chargepoint.handlers import Handlers, Reply, without_nones
from chargepoint.link import Link
from ocppj.versions import V16


class FakeSocket:
    """What Link needs of a websocket: frames to read (a queue; None ends it) and a send()."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[Any] = []

    def __aiter__(self) -> AsyncIterator[str]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str]:
        while (frame := await self.incoming.get()) is not None:
            yield frame

    async def send(self, frame: str) -> None:
        self.sent.append(orjson.loads(frame))


def make_link(handlers: Handlers) -> tuple[Link, FakeSocket, list[asyncio.Task[Any]]]:
    ws = FakeSocket()
    tasks: list[asyncio.Task[Any]] = []

    def spawn(coro: Coroutine[Any, Any, Any]) -> None:
        tasks.append(asyncio.ensure_future(coro))

    return Link(ws, V16, handlers, spawn, "CP-1"), ws, tasks  # type: ignore[arg-type]


async def answers(handlers: Handlers, *frames: str) -> list[Any]:
    link, ws, tasks = make_link(handlers)
    for frame in frames:
        ws.incoming.put_nowait(frame)
    ws.incoming.put_nowait(None)
    await link.read()
    await asyncio.gather(*tasks)
    return ws.sent


async def test_a_call_is_answered_from_the_registry_without_nulls() -> None:
    on = Handlers()
    on.add("GetConfiguration", lambda p: {"configurationKey": [], "unknownKey": None})
    assert await answers(on, '[2,"1","GetConfiguration",{}]') == [[3, "1", {"configurationKey": []}]]


async def test_unknown_actions_and_schema_breaches_are_refused() -> None:
    on = Handlers()
    on.add("Reset", lambda p: {"status": "Accepted"})
    sent = await answers(on, '[2,"1","NoSuchAction",{}]', '[2,"2","Reset",{"type":"Sideways"}]',
                         '[2,"3","Reset",{}]', '[2,"4","Reset",[]]')
    # spelled as the `ocpp` library answered them, which the charge points used before
    assert [(m[1], m[2]) for m in sent] == [("1", "NotImplemented"), ("2", "FormatViolation"),
                                            ("3", "ProtocolError"), ("4", "TypeConstraintViolation")]


async def test_a_failing_handler_is_an_internal_error_and_work_follows_the_answer() -> None:
    order: list[str] = []
    on = Handlers()

    def boom(p: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    async def then() -> None:
        order.append("then")

    on.add("ClearCache", boom)
    on.add("Reset", lambda p: Reply({"status": "Accepted"}, then))
    sent = await answers(on, '[2,"1","ClearCache",{}]', '[2,"2","Reset",{"type":"Soft"}]')
    assert [m[:3] for m in sent] == [[4, "1", "InternalError"], [3, "2", {"status": "Accepted"}]]
    assert order == ["then"]


async def test_a_call_gets_its_answer_or_its_refusal() -> None:
    link, ws, _ = make_link(Handlers())
    reader = asyncio.ensure_future(link.read())
    calling = asyncio.ensure_future(link.call("Heartbeat", {}, 5))
    await asyncio.sleep(0)
    [[_, uid, action, payload]] = ws.sent
    assert (action, payload) == ("Heartbeat", {})
    ws.incoming.put_nowait('[3,"someone-else",{}]')  # an answer to no call of ours: dropped
    ws.incoming.put_nowait(orjson.dumps([3, uid, {"currentTime": "now"}]).decode())
    assert await calling == {"currentTime": "now"}
    calling = asyncio.ensure_future(link.call("Authorize", {"idTag": "X"}, 5))
    await asyncio.sleep(0)
    ws.incoming.put_nowait(orjson.dumps([4, ws.sent[-1][1], "NotSupported", "no", {}]).decode())
    with pytest.raises(CallRefused) as refused:
        await calling
    assert refused.value.code == "NotSupported" and str(refused.value) == "NotSupported: no"
    ws.incoming.put_nowait(None)
    await reader


async def test_a_lost_socket_ends_the_waiting_call_as_offline() -> None:
    link, ws, _ = make_link(Handlers())
    reader = asyncio.ensure_future(link.read())
    calling = asyncio.ensure_future(link.call("Heartbeat", {}, 5))
    await asyncio.sleep(0)
    ws.incoming.put_nowait(None)
    with pytest.raises(Offline):
        await calling
    await reader
    with pytest.raises(Offline):
        await link.call("Heartbeat", {}, 5)


async def test_a_call_times_out() -> None:
    link, _, _ = make_link(Handlers())
    with pytest.raises(TimeoutError):
        await link.call("Heartbeat", {}, 0.01)


def test_nulls_are_left_out_at_every_depth() -> None:
    assert without_nones({"a": None, "b": [{"c": None, "d": 1}], "e": {"f": None}}) == {
        "b": [{"d": 1}], "e": {}}


async def test_a_socket_lost_while_a_call_goes_out_leaves_no_unretrieved_exception() -> None:
    """lost() fails the waiting call's future while send() is still writing; send then fails too
    and the call raises Offline: the future's own Offline must count as retrieved, or asyncio
    logs "Future exception was never retrieved" for each (a 10,000-station fleet's stop did)."""
    link, ws, _ = make_link(Handlers())
    writing, go_on = asyncio.Event(), asyncio.Event()

    async def stalled_send(frame: str) -> None:
        writing.set()
        await go_on.wait()
        raise ConnectionClosed(None, None)

    ws.send = stalled_send  # type: ignore[method-assign]
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    call = asyncio.ensure_future(link.call("Heartbeat", {}, timeout=5))
    await writing.wait()
    future = link._calls.pending.waiter  # type: ignore[union-attr]
    link.lost()
    go_on.set()
    with pytest.raises(Offline):
        await call
    del future, call
    gc.collect()
    await asyncio.sleep(0)
    assert not unretrieved, unretrieved
