"""Where simulated chargers run: the provider interface and the default worker-process provider.

The REST API asks a :class:`Provider` to start, stop and inspect stations by identity. The
default provider keeps one worker process per core, each an asyncio loop running its share of the
stations (an identity always lands on the same worker), and talks to them over pipes. Another
provider — containers on an orchestrator, one station per task — implements the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing as mp
import os
import signal
import time
import zlib
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from charger_sim.atg import AtgSettings, Generator
from charger_sim.station import new_station
from charger_sim.template import load_template
from charger_sim.transactions import StationTransactions
from common.durable import DurableQueue
from common.heap import settle as settle_heap
from common.loop import run as run_loop

LOG_SIZE = 1000  # frames and events kept per charger for the logs endpoint
STOP_GRACE = 5.0  # seconds a stopped charger's last transaction messages get to reach the CSMS


class SimRuntimeError(Exception):
    """A runtime operation failed; the message says why (unknown identity, bad argument …)."""


class Provider(Protocol):
    name: str
    runtime_kind: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def run_station(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    async def stop_station(self, identity: str) -> bool: ...
    async def snapshot(self, identity: str) -> dict[str, Any] | None: ...
    async def snapshots(self, identities: list[str]) -> dict[str, dict[str, Any] | None]: ...
    async def logs(self, identity: str, offset: int, limit: int) -> dict[str, Any]: ...
    async def control(self, identity: str, action: str, args: dict[str, Any]) -> Any: ...


# -- worker side ---------------------------------------------------------------------------------
class _Worker:
    """Runs inside a worker process: the stations of this worker, driven by pipe requests."""

    def __init__(self, state_dir: str, worker: int) -> None:
        self.queue = DurableQueue(Path(state_dir) / f"runtime-queue-{worker}.db")
        self.stations: dict[str, StationTransactions] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.generators: dict[str, Generator] = {}
        self.histories: dict[str, deque[tuple[str, str, str]]] = {}

    async def run_station(self, spec: dict[str, Any]) -> dict[str, Any]:
        identity = spec["identity"]
        if identity in self.tasks and not self.tasks[identity].done():
            return self.stations[identity].snapshot()
        template = load_template(spec["template"], spec.get("overrides") or None)
        st = new_station(identity, template, spec["csms_url"], seed=spec.get("seed"), queue=self.queue,
                         log_size=LOG_SIZE, outbound=spec.get("outbound"))
        if identity in self.histories:  # keep the history across restarts
            st.log = self.histories[identity]
        self.histories[identity] = st.log
        st.event("runtime_started")
        self.stations[identity] = st
        self.tasks[identity] = asyncio.create_task(st.run())
        generator = self.generators[identity] = Generator(st, AtgSettings(**spec.get("atg_settings", {})))
        if spec.get("atg"):
            generator.enable()
        return st.snapshot()

    async def stop_station(self, identity: str) -> bool:
        st = self.stations.get(identity)
        task = self.tasks.pop(identity, None)
        if st is None or task is None:
            return False
        self.generators.pop(identity).disable()
        # switched off by its operator: running sessions end (StopTransaction Other, on disk
        # first, sent now or at the next start), then the socket closes
        await st.shutdown("Other", STOP_GRACE)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 5)
        st.event("runtime_stopped")
        return True

    async def snapshot(self, identity: str) -> dict[str, Any] | None:
        st = self.stations.get(identity)
        if st is None:
            return None
        data = st.snapshot()
        task = self.tasks.get(identity)
        data["running"] = task is not None and not task.done()  # (one that refused to run has ended)
        data["atg"] = self.generators[identity].enabled if identity in self.generators else False
        return data

    async def snapshots(self, identities: list[str]) -> dict[str, dict[str, Any] | None]:
        return {identity: await self.snapshot(identity) for identity in identities}

    async def logs(self, identity: str, offset: int, limit: int) -> dict[str, Any]:
        entries = list(reversed(self.histories.get(identity, ())))
        page = [{"ts": ts, "kind": kind, "text": text} for ts, kind, text in entries[offset:offset + limit]]
        return {"total": len(entries), "items": page}

    async def control(self, identity: str, action: str, args: dict[str, Any]) -> Any:
        st = self.stations.get(identity)
        if st is None or identity not in self.tasks:
            raise SimRuntimeError(f"charger {identity!r} is not running")
        return await control(st, self.generators[identity], action, args)

    async def serve(self, conn: Connection) -> None:
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()

        def readable() -> None:
            try:
                req_id, op, args = conn.recv()
            except (EOFError, OSError):
                loop.remove_reader(conn.fileno())
                closed.set()
                return
            asyncio.ensure_future(self._answer(conn, req_id, op, args))

        loop.add_reader(conn.fileno(), readable)
        await closed.wait()
        for identity in list(self.tasks):
            await self.stop_station(identity)
        self.queue.close()

    async def _answer(self, conn: Connection, req_id: int, op: str, args: tuple[Any, ...]) -> None:
        try:
            result = (True, await getattr(self, op)(*args))
        except Exception as exc:
            result = (False, f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send((req_id, *result))


def _worker_main(conn: Connection, state_dir: str, worker: int) -> None:
    # Ctrl-C reaches the whole process group; the parent stops its workers by closing the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settle_heap(50_000, 50, 100)  # a worker allocates more per call than the central system
    run_loop(_Worker(state_dir, worker).serve(conn))


# -- the actions a QA engineer drives a station with -------------------------------------------------
def _connector(args: dict[str, Any]) -> int:
    return int(args.get("connector_id", 1))


async def control(st: StationTransactions, generator: Generator, action: str, args: dict[str, Any]) -> Any:
    """Run one control action; returns ``{"result": …, "station": <snapshot after it>}``."""
    return {"result": await _act(st, generator, action, args), "station": st.snapshot()}


async def _act(st: StationTransactions, generator: Generator, action: str, args: dict[str, Any]) -> Any:
    result: Any = None
    if action == "plug":
        await st.plug(_connector(args))
    elif action == "unplug":
        await st.unplug(_connector(args))
    elif action == "start-transaction":
        result = {"status": await st.start_local(_connector(args), str(args.get("id_tag", "SIM-TAG-1")))}
    elif action == "stop-transaction":
        result = {"stopped": await st.stop_local(_connector(args), args.get("id_tag"),
                                                 str(args.get("reason", "Local")))}
    elif action == "fault-connector":
        await st.fault_connector(_connector(args), str(args.get("error_code", "OtherError")),
                                 args.get("info"))
    elif action == "clear-fault":
        await st.clear_fault(_connector(args))
    elif action == "drop-connection":
        st.drop_connection()
    elif action == "refuse-reconnect":
        st.refuse_until = time.monotonic() + float(args.get("seconds", 30))
        st.drop_connection()
    elif action == "delay-responses":
        st.response_delay = float(args.get("seconds", 0))
    elif action == "drop-responses":
        st.drop_responses = float(args.get("probability", 1.0))
    elif action == "send-raw":
        await st.send_raw(str(args["frame"]))
    elif action == "send-malformed":
        await st.send_raw(str(args.get("frame", "this is not an OCPP frame")))
    elif action == "power-loss":
        await st.power_loss(float(args.get("outage_seconds", 2.0)))
    elif action == "clock-skew":
        st.clock_skew = float(args.get("seconds", 0))
    elif action == "atg":
        if args.get("enabled", True):
            generator.enable()
        else:
            generator.disable()
    else:
        raise SimRuntimeError(f"unknown action {action!r}")
    return result


ACTIONS = ("plug", "unplug", "start-transaction", "stop-transaction", "fault-connector",
           "clear-fault", "drop-connection", "refuse-reconnect", "delay-responses",
           "drop-responses", "send-raw", "send-malformed", "power-loss", "clock-skew", "atg")


# -- parent side ---------------------------------------------------------------------------------
class _Channel:
    """Request/response over one worker's pipe, awaited on the event loop (no threads)."""

    def __init__(self, conn: Connection, process: Any) -> None:
        self.conn = conn
        self.process = process
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            req_id, ok, value = self.conn.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(SimRuntimeError("the worker process is gone"))
            return
        fut: asyncio.Future[Any] | None = self._waiting.pop(req_id, None)
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(SimRuntimeError(value))

    async def request(self, op: str, *args: Any, timeout: float = 30) -> Any:
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = fut
        self.conn.send((req_id, op, args))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(req_id, None)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
        self.conn.close()


class ProcessProvider:
    """Stations as asyncio tasks in ``workers`` processes (default: one per core)."""

    name = "local"
    runtime_kind = "process"

    def __init__(self, workers: int = 0, state_dir: str = "var/sim") -> None:
        self.workers = workers or os.cpu_count() or 1
        self.state_dir = state_dir
        self._channels: list[_Channel] = []
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Spawn the workers (done on first use, so a stack without simulated chargers pays nothing)."""
        async with self._starting:
            if not self._channels:
                await self._spawn()

    async def _spawn(self) -> None:
        Path(self.state_dir).mkdir(parents=True, exist_ok=True)
        ctx = mp.get_context("spawn")
        for w in range(self.workers):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker_main, args=(child, self.state_dir, w),
                                  name=f"chargebay-sim-{w}", daemon=True)
            process.start()
            child.close()
            self._channels.append(_Channel(parent, process))

    async def close(self) -> None:
        for ch in self._channels:
            ch.close()
        for ch in self._channels:
            await asyncio.to_thread(ch.process.join, 10)
            if ch.process.is_alive():
                ch.process.kill()
        self._channels = []

    async def _channel(self, identity: str) -> _Channel:
        if not self._channels:
            await self.start()
        return self._channels[zlib.crc32(identity.encode()) % len(self._channels)]

    def pids(self) -> list[int]:
        return [ch.process.pid for ch in self._channels]

    async def run_station(self, spec: dict[str, Any]) -> dict[str, Any]:
        return await (await self._channel(spec["identity"])).request("run_station", spec)  # type: ignore[no-any-return]

    async def stop_station(self, identity: str) -> bool:
        if not self._channels:
            return False
        return bool(await (await self._channel(identity)).request("stop_station", identity))

    async def snapshot(self, identity: str) -> dict[str, Any] | None:
        if not self._channels:
            return None
        return await (await self._channel(identity)).request("snapshot", identity)  # type: ignore[no-any-return]

    async def snapshots(self, identities: list[str]) -> dict[str, dict[str, Any] | None]:
        """Many stations' snapshots in one request per worker, not one per station: a page
        showing a network of simulated chargers refreshes with a handful of pipe round trips."""
        if not self._channels:
            return dict.fromkeys(identities)
        by_channel: dict[_Channel, list[str]] = {}
        for identity in identities:
            by_channel.setdefault(await self._channel(identity), []).append(identity)
        found: dict[str, dict[str, Any] | None] = {}
        for part in await asyncio.gather(*(ch.request("snapshots", ids) for ch, ids in by_channel.items())):
            found.update(part)
        return found

    async def logs(self, identity: str, offset: int, limit: int) -> dict[str, Any]:
        if not self._channels:
            return {"total": 0, "items": []}
        return await (await self._channel(identity)).request("logs", identity, offset, limit)  # type: ignore[no-any-return]

    async def control(self, identity: str, action: str, args: dict[str, Any]) -> Any:
        if not self._channels:
            raise SimRuntimeError(f"charger {identity!r} is not running")
        return await (await self._channel(identity)).request("control", identity, action, args, timeout=60)
