"""Helpers and fixtures of the simulated-station tests (tests/charger_sim/test_station_*.py).

Every test runs a real Station as an asyncio task against the whole stack (real websockets on
ephemeral ports, a real SQLite file), drives it through the CSMS's outbound command service or
through the station's own driver/fault methods, and checks what reached the CSMS database.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargebay.stack import Stack
from charger_sim import management
from charger_sim.station import Station
from charger_sim.station201 import Station201
from charger_sim.template import Template, load_template
from common.durable import DurableQueue
from tests.conftest import ADMIN_TOKEN
from tests.helpers import rows

BUDGET = 30.0  # hard bound on one test body (seconds)
FAST = {"meter_interval": 1, "plug_in_delay": 0.2}
OFFLINE_OK = {"configuration": {"AllowOfflineTxForUnknownId": "true"}}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CERT = "-----BEGIN CERTIFICATE-----\nMIIBsimulated\n-----END CERTIFICATE-----"
ROOT_CERT = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": True}


@pytest.fixture(autouse=True)
def fast_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    """Firmware / diagnostics / log status sequences step every 50 ms instead of every second."""
    monkeypatch.setattr(management, "STEP_S", 0.05)


# -- helpers ------------------------------------------------------------------------------------
def template(name: str = "ac-wallbox", **overrides: Any) -> Template:
    return load_template(name, {**FAST, **overrides})


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso(offset_s: float = 0.0) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=offset_s))


def utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Retry ``check`` (sync or async) until it stops raising AssertionError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            return value
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(interval)


async def send(stack: Stack, cp: str, action: str, payload: dict[str, Any],
               timeout: float = 5.0) -> dict[str, Any]:
    """Send a CSMS-initiated call; the station must answer with a schema-valid CALLRESULT."""
    outcome = await stack.central.commands.send(cp, action, payload, timeout)
    assert outcome.kind == "result", outcome
    assert outcome.payload is not None
    return outcome.payload


async def calls(stack: Stack, cp: str, action: str | None = None,
                after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
    """CALLs the CSMS received from ``cp`` (message log id, action, payload), in order."""
    sql = ("SELECT id, action, frame FROM messages WHERE charge_point_id = :cp AND direction = 'in'"
           " AND message_type = 2 AND id > :after")
    if action:
        sql += " AND action = :action"
    found = await rows(stack, sql + " ORDER BY id", cp=cp, after=after, action=action)
    return [(r["id"], r["action"], json.loads(r["frame"])[3]) for r in found]


async def last_message_id(stack: Stack, cp: str) -> int:
    found = await rows(stack, "SELECT MAX(id) AS m FROM messages WHERE charge_point_id = :cp", cp=cp)
    return int(found[0]["m"] or 0)


async def connectors(stack: Stack, cp: str) -> dict[int, dict[str, Any]]:
    found = await rows(stack, "SELECT * FROM connectors WHERE charge_point_id = :cp", cp=cp)
    return {r["connector_id"]: dict(r) for r in found}


async def until_status(stack: Stack, cp: str, connector_id: int, status: str,
                       timeout: float = 5.0, error_code: str = "NoError") -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        row = (await connectors(stack, cp)).get(connector_id)
        assert row is not None and (row["status"], row["error_code"]) == (status, error_code), row
        return row
    return await eventually(check, timeout)  # type: ignore[no-any-return]


async def history(stack: Stack, cp: str, connector_id: int) -> list[str]:
    found = await rows(stack, "SELECT status FROM status_history WHERE charge_point_id = :cp AND "
                              "connector_id = :c ORDER BY id", cp=cp, c=connector_id)
    return [r["status"] for r in found]


async def transactions(stack: Stack, cp: str) -> list[dict[str, Any]]:
    found = await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp ORDER BY id",
                       cp=cp)
    return [dict(r) for r in found]


async def notifications(stack: Stack, cp: str, kind: str) -> list[dict[str, Any]]:
    found = await rows(stack, "SELECT * FROM notifications WHERE charge_point_id = :cp AND kind = :k"
                              " ORDER BY id", cp=cp, k=kind)
    return [dict(r) for r in found]


async def samples(stack: Stack, tx_id: int, measurand: str) -> list[dict[str, Any]]:
    found = await rows(stack, "SELECT * FROM meter_values WHERE transaction_id = :tx AND measurand = :m"
                              " AND source = 'MeterValues' ORDER BY id", tx=tx_id, m=measurand)
    return [dict(r) for r in found]


def station_frames(st: Station, direction: str) -> list[list[Any]]:
    return [json.loads(text) for _, kind, text in st.log if kind == direction]


def station_events(st: Station) -> list[str]:
    return [text for _, kind, text in st.log if kind == "event"]


async def start_tx(st: Station, connector_id: int = 1, id_tag: str = "TAG-1") -> int:
    """A driver starts charging online; returns the CSMS's transaction id."""
    assert await st.start_local(connector_id, id_tag) == "Accepted"
    tx = st.connectors[connector_id].tx
    assert tx is not None and tx.id > 0, tx
    return tx.id


async def go_offline(st: Station | Station201, seconds: float) -> None:
    """The network goes: the socket dies and reconnects are refused for ``seconds``."""
    st.refuse_until = time.monotonic() + seconds
    st.drop_connection()
    await eventually(lambda: _check(not st.connected and not st.booted.is_set()))


async def back_online(st: Station | Station201, connects_before: int, timeout: float = 10.0) -> None:
    await eventually(lambda: _check(st.stats["connects"] > connects_before and st.booted.is_set()),
                     timeout)


def _check(condition: bool, message: str = "") -> None:
    assert condition, message


class Sims:
    """Starts stations against the stack and stops every one of them at teardown."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        self.stack = stack
        self.tmp_path = tmp_path
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.stations: list[Station | Station201] = []
        self.queues: list[DurableQueue] = []

    def queue(self, name: str) -> DurableQueue:
        q = DurableQueue(self.tmp_path / f"queue-{name}.db")
        self.queues.append(q)
        return q

    async def start(self, identity: str, tpl: Template | None = None, *,
                    queue: DurableQueue | None = None, wait: bool = True,
                    url: str | None = None, **kwargs: Any) -> Station:
        st = Station(identity, tpl or template(), url or self.stack.ws_url,
                     queue=queue or self.queue(identity), log_size=20_000, **kwargs)
        self.stations.append(st)
        self.tasks[id(st)] = asyncio.create_task(st.run())
        if wait:
            await self.ready(st)
        return st

    async def start201(self, identity: str, tpl: Template | None = None, *, wait: bool = True,
                       **kwargs: Any) -> Station201:
        """A 2.0.1 station (its template's ocpp_version set), started and, with ``wait``, ready."""
        st = Station201(identity, (tpl or template()).model_copy(update={"ocpp_version": "2.0.1"}),
                        self.stack.ws_url, queue=self.queue(identity), log_size=20_000, **kwargs)
        self.stations.append(st)
        self.tasks[id(st)] = asyncio.create_task(st.run())
        if wait:
            await self.ready(st)
        return st

    async def ready(self, st: Station | Station201) -> None:
        """Booted, and the CSMS has a status for connector 0 and every connector."""
        await asyncio.wait_for(st.booted.wait(), 10)
        wanted = set(range(0 if st.version.name == "1.6" else 1, len(st.connectors) + 1))  # 2.0.1: no 0
        await eventually(lambda: self._has_connectors(st.identity, wanted))

    async def _has_connectors(self, cp: str, wanted: set[int]) -> None:
        assert wanted <= set(await connectors(self.stack, cp))

    async def stop(self, st: Station | Station201) -> None:
        st.stop()
        task = self.tasks.pop(id(st), None)
        if task is not None:
            await asyncio.wait_for(task, 10)

    async def close(self) -> None:
        for st in self.stations:
            st.stop()
        for task in list(self.tasks.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        for q in self.queues:
            q.close()


@pytest.fixture
async def sim(stack: Stack, tmp_path: Path) -> AsyncIterator[Sims]:
    sims = Sims(stack, tmp_path)
    try:
        yield sims
    finally:
        await sims.close()




async def _at_least(stack: Stack, cp: str, action: str, n: int, after: int = 0) -> None:
    assert len(await calls(stack, cp, action, after)) >= n


async def _one_tx(stack: Stack, cp: str) -> list[dict[str, Any]]:
    found = await transactions(stack, cp)
    assert len(found) == 1, found
    return found


async def _stopped(stack: Stack, cp: str, n: int) -> list[dict[str, Any]]:
    found = [t for t in await transactions(stack, cp) if t["stop_timestamp"] is not None]
    assert len(found) == n, found
    return found


async def _n_tx(stack: Stack, cp: str, n: int) -> list[dict[str, Any]]:
    found = await transactions(stack, cp)
    assert len(found) == n, found
    return found


async def _n_samples(stack: Stack, tx_id: int, measurand: str, n: int) -> list[dict[str, Any]]:
    found = await samples(stack, tx_id, measurand)
    assert len(found) >= n, found
    return found
