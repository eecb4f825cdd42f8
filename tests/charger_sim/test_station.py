"""The simulated station (charger_sim.station.Station) against our real CSMS.

Every test runs a real Station as an asyncio task against the whole stack (real websockets on
ephemeral ports, a real SQLite file), drives it through the CSMS's outbound command service or
through the station's own driver/fault methods, and checks what reached the CSMS database.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from api.command_examples import EXAMPLES
from chargebay.stack import Stack
from charger_sim import management
from charger_sim.station import Station
from charger_sim.template import Template, load_template
from common.durable import DurableQueue
from ocppj.versions import V16
from tests.conftest import ADMIN_TOKEN
from tests.helpers import add_id_tag, rows

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


async def go_offline(st: Station, seconds: float) -> None:
    """The network goes: the socket dies and reconnects are refused for ``seconds``."""
    st.refuse_until = time.monotonic() + seconds
    st.drop_connection()
    await eventually(lambda: _check(not st.connected and not st.booted.is_set()))


async def back_online(st: Station, connects_before: int, timeout: float = 10.0) -> None:
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
        self.stations: list[Station] = []
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

    async def ready(self, st: Station) -> None:
        """Booted, and the CSMS has a status for connector 0 and every connector."""
        await asyncio.wait_for(st.booted.wait(), 10)
        wanted = set(range(len(st.connectors) + 1))
        await eventually(lambda: self._has_connectors(st.identity, wanted))

    async def _has_connectors(self, cp: str, wanted: set[int]) -> None:
        assert wanted <= set(await connectors(self.stack, cp))

    async def stop(self, st: Station) -> None:
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


# -- boot ---------------------------------------------------------------------------------------
async def test_boot_stores_boot_data_and_reports_every_connector(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start("CP-BOOT")
        [cp] = await rows(stack, "SELECT * FROM charge_points WHERE id = 'CP-BOOT'")
        assert (cp["vendor"], cp["model"], cp["firmware_version"], cp["meter_type"],
                cp["charge_point_serial"], cp["boot_status"]) == (
            "Chargebay", "SIM-AC22", "2.4.1", "SIM-METER-3P", "CP-BOOT", "Accepted")
        assert cp["online"] and cp["last_boot_at"] is not None
        found = await connectors(stack, "CP-BOOT")
        assert {k: (v["status"], v["error_code"]) for k, v in found.items()} == {
            0: ("Available", "NoError"), 1: ("Available", "NoError"), 2: ("Available", "NoError")}
        sent = await calls(stack, "CP-BOOT")
        assert [a for _, a, _ in sent] == ["BootNotification"] + ["StatusNotification"] * 3
        assert [p["connectorId"] for _, _, p in sent[1:]] == [0, 1, 2]
        assert st.registration == "Accepted" and st.snapshot()["booted"] is True
        assert st.config.get("HeartbeatInterval") == "300"  # taken from the boot answer


@pytest.mark.parametrize("settings_overrides", [{"accept_unknown_id_tags": True,
                                                 "heartbeat_interval": 1}])
async def test_heartbeats_follow_the_interval_of_the_boot_answer(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        st = await sim.start("CP-HB")
        assert st.config.get("HeartbeatInterval") == "1"
        await eventually(lambda: _at_least(stack, "CP-HB", "Heartbeat", 2), timeout=4)


async def _at_least(stack: Stack, cp: str, action: str, n: int, after: int = 0) -> None:
    assert len(await calls(stack, cp, action, after)) >= n


# -- every CSMS-initiated action ----------------------------------------------------------------
def test_examples_cover_every_csms_action() -> None:
    assert set(EXAMPLES) == set(V16.csms_actions)


async def _prepare(action: str, stack: Stack, st: Station) -> dict[str, Any]:
    """EXAMPLES[action], adapted where the answer needs some station state first."""
    cp = st.identity
    payload = copy.deepcopy(EXAMPLES[action])
    if action == "RemoteStopTransaction":
        payload["transactionId"] = await start_tx(st)
    elif action == "CancelReservation":
        assert (await send(stack, cp, "ReserveNow", EXAMPLES["ReserveNow"]))["status"] == "Accepted"
    elif action == "ClearChargingProfile":
        assert (await send(stack, cp, "SetChargingProfile", EXAMPLES["SetChargingProfile"]))[
            "status"] == "Accepted"
    elif action == "DataTransfer":
        payload["vendorId"] = st.template.vendor
    elif action in ("DeleteCertificate", "GetInstalledCertificateIds"):
        assert (await send(stack, cp, "InstallCertificate", EXAMPLES["InstallCertificate"]))[
            "status"] == "Accepted"
        if action == "DeleteCertificate":
            ids = await send(stack, cp, "GetInstalledCertificateIds",
                             EXAMPLES["GetInstalledCertificateIds"])
            payload = {"certificateHashData": ids["certificateHashData"][0]}
    return payload


def _expected(action: str, cp: str) -> dict[str, Any] | None:
    return {
        "CancelReservation": {"status": "Accepted"},
        "ChangeAvailability": {"status": "Accepted"},
        "ChangeConfiguration": {"status": "Accepted"},
        "ClearCache": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"},
        "DataTransfer": {"status": "Accepted", "data": "{}"},
        "GetCompositeSchedule": {
            "status": "Accepted", "connectorId": 1, "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000.0}]},
        "GetConfiguration": {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
        "GetDiagnostics": {"fileName": f"diagnostics-{cp}.log"},
        "GetLocalListVersion": {"listVersion": 0},
        "RemoteStartTransaction": {"status": "Accepted"},
        "RemoteStopTransaction": {"status": "Accepted"},
        "ReserveNow": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "SendLocalList": {"status": "Accepted"},
        "SetChargingProfile": {"status": "Accepted"},
        "TriggerMessage": {"status": "Accepted"},
        "UnlockConnector": {"status": "Unlocked"},
        "UpdateFirmware": {},
        "CertificateSigned": {"status": "Accepted"},
        "DeleteCertificate": {"status": "Accepted"},
        "ExtendedTriggerMessage": {"status": "Accepted"},
        "GetInstalledCertificateIds": {"status": "Accepted"},
        "GetLog": {"status": "Accepted", "filename": f"DiagnosticsLog-{cp}.log"},
        "InstallCertificate": {"status": "Accepted"},
        "SignedUpdateFirmware": {"status": "Accepted"},
    }[action]


@pytest.mark.parametrize("action", sorted(EXAMPLES))
async def test_every_csms_action_is_answered(stack: Stack, sim: Sims, action: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"EX-{action}"
        st = await sim.start(cp)
        payload = await _prepare(action, stack, st)
        answer = await send(stack, cp, action, payload)
        expected = _expected(action, cp)
        if action == "GetCompositeSchedule":
            schedule = answer["chargingSchedule"]
            assert (answer["status"], answer["connectorId"], schedule["chargingRateUnit"],
                    schedule["chargingSchedulePeriod"]) == (
                expected["status"], expected["connectorId"], expected["chargingRateUnit"],
                expected["chargingSchedulePeriod"])
        elif action == "GetInstalledCertificateIds":
            assert answer["status"] == "Accepted" and len(answer["certificateHashData"]) == 1
        else:
            assert answer == expected
        [command] = await rows(stack, "SELECT status FROM commands WHERE charge_point_id = :cp AND "
                                      "action = :a ORDER BY created_at DESC LIMIT 1", cp=cp, a=action)
        assert command["status"] == "result"


# -- remote start / stop ------------------------------------------------------------------------
@pytest.mark.parametrize("authorize_remote", [True, False])
async def test_remote_start_plugs_in_after_the_delay_and_starts(stack: Stack, sim: Sims,
                                                                authorize_remote: bool) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-RS-{authorize_remote}"
        st = await sim.start(cp)
        answer = await send(stack, cp, "ChangeConfiguration", {
            "key": "AuthorizeRemoteTxRequests", "value": str(authorize_remote).lower()})
        assert answer == {"status": "Accepted"}
        mark = await last_message_id(stack, cp)
        started = time.monotonic()
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-RS"}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _one_tx(stack, cp))
        assert time.monotonic() - started >= FAST["plug_in_delay"]
        assert (tx["connector_id"], tx["id_tag"], tx["stop_timestamp"]) == (1, "TAG-RS", None)
        actions = [a for _, a, _ in await calls(stack, cp, after=mark)
                   if a in ("Authorize", "StartTransaction")]
        if authorize_remote:
            assert actions == ["Authorize", "StartTransaction"]
        else:
            assert actions == ["StartTransaction"]
        assert (await history(stack, cp, 1))[-3:] == ["Available", "Preparing", "Charging"]
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id == tx["id"]


async def _one_tx(stack: Stack, cp: str) -> list[dict[str, Any]]:
    found = await transactions(stack, cp)
    assert len(found) == 1, found
    return found


async def test_remote_start_with_rejected_tag_and_authorize_first_starts_nothing(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        await add_id_tag(stack, "TAG-BLOCKED", status="Blocked")
        st = await sim.start("CP-RS-BLOCKED")
        await send(stack, st.identity, "ChangeConfiguration",
                   {"key": "AuthorizeRemoteTxRequests", "value": "true"})
        assert (await send(stack, st.identity, "RemoteStartTransaction",
                           {"connectorId": 1, "idTag": "TAG-BLOCKED"}))["status"] == "Accepted"
        await eventually(lambda: _at_least(stack, st.identity, "Authorize", 1))
        await asyncio.sleep(FAST["plug_in_delay"] + 0.3)
        assert await transactions(stack, st.identity) == []
        assert st.connectors[1].tx is None and st.connectors[1].status == "Available"


async def test_remote_start_times_out_when_nobody_plugs_in(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RS-TIMEOUT"
        st = await sim.start(cp, template(plug_in_delay=None))
        assert await send(stack, cp, "ChangeConfiguration",
                          {"key": "ConnectionTimeOut", "value": "1"}) == {"status": "Accepted"}
        assert (await send(stack, cp, "RemoteStartTransaction",
                           {"connectorId": 1, "idTag": "TAG-1"}))["status"] == "Accepted"
        await until_status(stack, cp, 1, "Preparing")
        started = time.monotonic()
        await until_status(stack, cp, 1, "Available", timeout=4)
        assert 0.5 <= time.monotonic() - started <= 3
        assert await transactions(stack, cp) == []
        assert (await history(stack, cp, 1))[-3:] == ["Available", "Preparing", "Available"]
        assert any(e.startswith("connection_timeout") for e in station_events(st))
        assert st.connectors[1].tx is None and not st.connectors[1].plugged


async def test_remote_stop_ends_the_transaction_with_reason_remote(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RSTOP"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1, "TAG-STOP")
        await asyncio.sleep(1.2)
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-X"}) == {"status": "Rejected"}
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id + 1000}) == {"status": "Rejected"}
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "Remote")
        assert tx["meter_stop"] > tx["meter_start"]
        await until_status(stack, cp, 1, "Finishing")  # the car is still plugged in
        assert st.connectors[1].tx is None


async def _stopped(stack: Stack, cp: str, n: int) -> list[dict[str, Any]]:
    found = [t for t in await transactions(stack, cp) if t["stop_timestamp"] is not None]
    assert len(found) == n, found
    return found


# -- reset, availability, configuration ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_stops_the_transaction_and_reboots(stack: Stack, sim: Sims, kind: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-RESET-{kind}"
        st = await sim.start(cp)
        tx_id = await start_tx(st)
        assert await send(stack, cp, "Reset", {"type": kind}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, f"{kind}Reset")
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        await back_online(st, 1)
        assert st.stats["connects"] == 2
        assert any(e.startswith("reset") for e in station_events(st))


async def test_change_availability_is_scheduled_during_a_transaction(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-AVAIL"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 1, "type": "Inoperative"}) == {"status": "Scheduled"}
        await asyncio.sleep(0.3)
        assert (await connectors(stack, cp))[1]["status"] == "Charging"
        assert st.connectors[1].tx is not None
        assert await send(stack, cp, "RemoteStopTransaction",
                          {"transactionId": tx_id}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Unavailable")
        # an unavailable connector takes no remote start
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-1"}) == {"status": "Rejected"}
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 1, "type": "Operative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Preparing")  # the car is still plugged in
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 2, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 2, "Unavailable")
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 9, "type": "Inoperative"}) == {"status": "Rejected"}


async def test_change_availability_of_the_whole_station_reports_connector_0(
        stack: Stack, sim: Sims) -> None:
    """Connector 0 is the charge point itself: made Inoperative as a whole it is Unavailable (the
    station reports it that way at boot, too), and Available again when made Operative."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-AVAIL-0"
        await sim.start(cp)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Unavailable")
        await until_status(stack, cp, 2, "Unavailable")
        await until_status(stack, cp, 0, "Unavailable", timeout=2)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Operative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Available")
        await until_status(stack, cp, 0, "Available", timeout=2)


async def test_triggered_status_of_connector_0_matches_the_station(stack: Stack, sim: Sims) -> None:
    """A triggered StatusNotification for connector 0 reports what a reboot would report."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-TRIG-0"
        st = await sim.start(cp)
        assert await send(stack, cp, "ChangeAvailability",
                          {"connectorId": 0, "type": "Inoperative"}) == {"status": "Accepted"}
        await until_status(stack, cp, 2, "Unavailable")
        mark = await last_message_id(stack, cp)
        assert await send(stack, cp, "TriggerMessage",
                          {"requestedMessage": "StatusNotification"}) == {"status": "Accepted"}
        await eventually(lambda: _at_least(stack, cp, "StatusNotification", 3, after=mark))
        triggered = {p["connectorId"]: p["status"]
                     for _, _, p in await calls(stack, cp, "StatusNotification", after=mark)}
        # after a reboot the station reports connector 0 like this (Station._after_boot):
        st.reconnect()
        await back_online(st, 1)
        rebooted = await eventually(lambda: _statuses_after_boot(stack, cp))
        assert rebooted == {0: "Unavailable", 1: "Unavailable", 2: "Unavailable"}
        assert triggered == rebooted


async def _statuses_after_boot(stack: Stack, cp: str) -> dict[int, str]:
    boots = await calls(stack, cp, "BootNotification")
    assert len(boots) == 2
    found = {p["connectorId"]: p["status"]
             for _, _, p in await calls(stack, cp, "StatusNotification", after=boots[1][0])}
    assert len(found) == 3
    return found


async def test_get_and_change_configuration(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CONF"
        st = await sim.start(cp)
        answer = await send(stack, cp, "GetConfiguration",
                            {"key": ["HeartbeatInterval", "NumberOfConnectors", "NoSuchKey"]})
        assert answer == {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
            "unknownKey": ["NoSuchKey"]}
        everything = await send(stack, cp, "GetConfiguration", {})
        keys = {k["key"]: k for k in everything["configurationKey"]}
        assert "unknownKey" not in everything
        assert keys["MeterValueSampleInterval"]["value"] == "1"
        assert keys["SupportedFeatureProfiles"]["readonly"] is True
        assert keys["MeterValuesSampledData"]["value"].split(",")[0] == "Energy.Active.Import.Register"

        async def change(key: str, value: str) -> str:
            return (await send(stack, cp, "ChangeConfiguration", {"key": key, "value": value}))["status"]

        assert await change("NumberOfConnectors", "5") == "Rejected"  # read-only
        assert await change("NoSuchKey", "1") == "NotSupported"
        assert await change("WebSocketPingInterval", "30") == "RebootRequired"
        assert await change("MeterValueSampleInterval", "abc") == "Rejected"
        assert await change("MeterValueSampleInterval", "5") == "Accepted"
        after = await send(stack, cp, "GetConfiguration",
                           {"key": ["MeterValueSampleInterval", "NumberOfConnectors",
                                    "WebSocketPingInterval"]})
        assert [k["value"] for k in after["configurationKey"]] == ["5", "2", "30"]
        assert st.config.get_int("MeterValueSampleInterval") == 5


async def test_clear_cache_forgets_cached_authorizations(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CACHE"
        st = await sim.start(cp)
        assert await st.authorize("TAG-CACHED") == "Accepted"
        await go_offline(st, 1.0)
        assert await st.authorize("TAG-CACHED") == "Accepted"  # from the cache
        assert await st.authorize("TAG-NEVER-SEEN") == "Invalid"
        await back_online(st, 1)
        assert await send(stack, cp, "ClearCache", {}) == {"status": "Accepted"}
        assert st.auth_cache == {}
        await go_offline(st, 1.0)
        assert await st.authorize("TAG-CACHED") == "Invalid"


async def test_data_transfer(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        await sim.start("CP-DT")
        assert await send(stack, "CP-DT", "DataTransfer", {
            "vendorId": "Chargebay", "messageId": "ping", "data": "payload"}) == {
            "status": "Accepted", "data": "payload"}
        assert await send(stack, "CP-DT", "DataTransfer", {"vendorId": "com.other"}) == {
            "status": "UnknownVendorId"}


async def test_unlock_connector_stops_a_running_transaction(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-UNLOCK"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 2)
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 2}) == {"status": "Unlocked"}
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["connector_id"], tx["stop_reason"]) == (tx_id, 2, "UnlockCommand")
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        assert await send(stack, cp, "UnlockConnector", {"connectorId": 9}) == {
            "status": "NotSupported"}


# -- trigger message ----------------------------------------------------------------------------
@pytest.mark.parametrize("requested,connector_id,action", [
    ("StatusNotification", 1, "StatusNotification"),
    ("StatusNotification", None, "StatusNotification"),
    ("MeterValues", 1, "MeterValues"),
    ("Heartbeat", None, "Heartbeat"),
    ("BootNotification", None, "BootNotification"),
    ("DiagnosticsStatusNotification", None, "DiagnosticsStatusNotification"),
    ("FirmwareStatusNotification", None, "FirmwareStatusNotification"),
])
async def test_trigger_message_really_sends_the_message(stack: Stack, sim: Sims, requested: str,
                                                        connector_id: int | None, action: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-TRIG-{requested[:12]}-{connector_id}"
        await sim.start(cp)
        mark = await last_message_id(stack, cp)
        payload: dict[str, Any] = {"requestedMessage": requested}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        assert await send(stack, cp, "TriggerMessage", payload) == {"status": "Accepted"}
        expected = 3 if (action, connector_id) == ("StatusNotification", None) else 1
        await eventually(lambda: _at_least(stack, cp, action, expected, after=mark))
        await asyncio.sleep(0.2)
        sent = await calls(stack, cp, action, after=mark)
        assert len(sent) == expected
        if action == "StatusNotification":
            assert [p["connectorId"] for _, _, p in sent] == ([1] if connector_id else [0, 1, 2])
        if action == "MeterValues":
            [(_, _, mv)] = sent
            assert mv["connectorId"] == 1 and "transactionId" not in mv
            assert {s["context"] for s in mv["meterValue"][0]["sampledValue"]} == {"Trigger"}
        if action in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            assert sent[0][2] == {"status": "Idle"}
        assert await send(stack, cp, "TriggerMessage", {"requestedMessage": "Heartbeat",
                                                        "connectorId": 9}) == {"status": "Rejected"}


async def test_triggered_boot_notification_carries_the_same_boot_data(stack: Stack, sim: Sims) -> None:
    """A BootNotification sent on request describes the same station as the one sent at boot."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-TRIG-BOOT"
        await sim.start(cp)
        [(_, _, first)] = await calls(stack, cp, "BootNotification")
        assert await send(stack, cp, "TriggerMessage",
                          {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [_, (_, _, second)] = await calls(stack, cp, "BootNotification")
        assert second == first
        [row] = await rows(stack, "SELECT * FROM charge_points WHERE id = :cp", cp=cp)
        assert (row["charge_point_serial"], row["meter_type"]) == (cp, "SIM-METER-3P")


# -- reservations and the local list ------------------------------------------------------------
async def test_reservations(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RES"
        st = await sim.start(cp)

        async def reserve(connector_id: int, reservation_id: int, expiry: str,
                          id_tag: str = "TAG-RES") -> str:
            return (await send(stack, cp, "ReserveNow", {
                "connectorId": connector_id, "expiryDate": expiry, "idTag": id_tag,
                "reservationId": reservation_id}))["status"]

        assert await reserve(1, 7, now_iso(3600)) == "Accepted"
        await until_status(stack, cp, 1, "Reserved")
        assert await reserve(1, 8, now_iso(3600)) == "Occupied"
        assert await reserve(9, 8, now_iso(3600)) == "Rejected"
        assert await send(stack, cp, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Available")
        assert await send(stack, cp, "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}
        # a reservation expires by itself
        assert await reserve(2, 9, now_iso(1.0)) == "Accepted"
        await until_status(stack, cp, 2, "Reserved")
        await until_status(stack, cp, 2, "Available", timeout=4)
        assert st.connectors[2].reservation is None
        # the reserving driver starts on the reserved connector: the reservation is consumed
        assert await reserve(1, 10, now_iso(3600)) == "Accepted"
        await until_status(stack, cp, 1, "Reserved")
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-RES"}) == {"status": "Accepted"}
        [tx] = await eventually(lambda: _one_tx(stack, cp))
        assert (tx["connector_id"], tx["id_tag"], tx["reservation_id"]) == (1, "TAG-RES", 10)
        await until_status(stack, cp, 1, "Charging")
        assert st.connectors[1].reservation is None


async def test_local_list_is_used_offline(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-LOCAL"
        st = await sim.start(cp)
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 5, "updateType": "Full", "localAuthorizationList": [
                {"idTag": "LOCAL-OK", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "LOCAL-BLOCKED", "idTagInfo": {"status": "Blocked"}},
                {"idTag": "LOCAL-GONE", "idTagInfo": {"status": "Accepted"}}]}) == {"status": "Accepted"}
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 5}
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 5, "updateType": "Differential", "localAuthorizationList": []}) == {
            "status": "VersionMismatch"}
        assert await send(stack, cp, "SendLocalList", {
            "listVersion": 6, "updateType": "Differential", "localAuthorizationList": [
                {"idTag": "LOCAL-NEW", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "LOCAL-GONE"}]}) == {"status": "Accepted"}
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 6}

        await go_offline(st, 2.0)
        assert await st.start_local(1, "LOCAL-OK") == "Accepted"
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id < 0  # provisional
        assert await st.start_local(2, "LOCAL-BLOCKED") == "Blocked"
        assert await st.start_local(2, "LOCAL-GONE") == "Invalid"
        assert await st.start_local(2, "STRANGER") == "Invalid"  # AllowOfflineTxForUnknownId false
        assert await st.start_local(2, "LOCAL-NEW") == "Accepted"
        await back_online(st, 1)
        found = await eventually(lambda: _n_tx(stack, cp, 2))
        assert {t["id_tag"]: t["connector_id"] for t in found} == {"LOCAL-OK": 1, "LOCAL-NEW": 2}
        ids = {t["connector_id"]: t["id"] for t in found}
        await eventually(lambda: _check(
            st.connectors[1].tx is not None and st.connectors[1].tx.id == ids[1]
            and st.connectors[2].tx is not None and st.connectors[2].tx.id == ids[2]))


async def _n_tx(stack: Stack, cp: str, n: int) -> list[dict[str, Any]]:
    found = await transactions(stack, cp)
    assert len(found) == n, found
    return found


# -- smart charging -----------------------------------------------------------------------------
def _profile(profile_id: int, purpose: str, limit: float, stack_level: int = 0,
             unit: str = "W", **extra: Any) -> dict[str, Any]:
    return {"chargingProfileId": profile_id, "stackLevel": stack_level,
            "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": unit,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
            **extra}


async def test_charging_profiles_cap_the_meter_and_suspend(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SMART"
        st = await sim.start(cp)

        async def set_profile(connector_id: int, profile: dict[str, Any]) -> str:
            return (await send(stack, cp, "SetChargingProfile", {
                "connectorId": connector_id, "csChargingProfiles": profile}))["status"]

        async def composite(connector_id: int, unit: str) -> list[dict[str, Any]]:
            answer = await send(stack, cp, "GetCompositeSchedule", {
                "connectorId": connector_id, "duration": 600, "chargingRateUnit": unit})
            assert answer["status"] == "Accepted" and answer["connectorId"] == connector_id
            assert answer["chargingSchedule"]["chargingRateUnit"] == unit
            return answer["chargingSchedule"]["chargingSchedulePeriod"]  # type: ignore[no-any-return]

        assert await set_profile(1, _profile(11, "TxDefaultProfile", 3000)) == "Accepted"
        assert await set_profile(1, _profile(12, "TxProfile", 1000)) == "Rejected"  # no transaction
        assert await set_profile(1, _profile(13, "ChargePointMaxProfile", 1000)) == "Rejected"
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 3000.0}]
        assert await composite(1, "A") == [{"startPeriod": 0, "limit": 4.3}]  # 3000 W / (3 x 230 V)
        assert await composite(2, "W") == [{"startPeriod": 0, "limit": 22000.0}]

        tx_id = await start_tx(st, 1)
        powers = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", 2))
        assert {p["value"] for p in powers} == {"3000"}  # the car wants 11 kW; the profile caps it
        energy = await samples(stack, tx_id, "Energy.Active.Import.Register")
        delta_wh = float(energy[-1]["value"]) - float(energy[0]["value"])
        delta_s = (utc(energy[-1]["timestamp"]) - utc(energy[0]["timestamp"])).total_seconds()
        assert abs(delta_wh - 3000 * delta_s / 3600) <= 1.5

        # limit 0 on this transaction: suspended by the EVSE, no power
        assert await set_profile(1, _profile(14, "TxProfile", 0, stack_level=1,
                                             transactionId=tx_id)) == "Accepted"
        await until_status(stack, cp, 1, "SuspendedEVSE")
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 0.0}]
        mark = len(await samples(stack, tx_id, "Power.Active.Import"))
        later = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", mark + 1))
        assert later[-1]["value"] == "0"
        # clearing it resumes charging at the default profile's cap
        assert await send(stack, cp, "ClearChargingProfile", {"id": 14}) == {"status": "Accepted"}
        await until_status(stack, cp, 1, "Charging")
        assert await send(stack, cp, "ClearChargingProfile", {"id": 14}) == {"status": "Unknown"}
        mark = len(await samples(stack, tx_id, "Power.Active.Import"))
        later = await eventually(lambda: _n_samples(stack, tx_id, "Power.Active.Import", mark + 1))
        assert later[-1]["value"] == "3000"
        assert await send(stack, cp, "ClearChargingProfile",
                          {"chargingProfilePurpose": "TxDefaultProfile"}) == {"status": "Accepted"}
        assert await composite(1, "W") == [{"startPeriod": 0, "limit": 22000.0}]


async def _n_samples(stack: Stack, tx_id: int, measurand: str, n: int) -> list[dict[str, Any]]:
    found = await samples(stack, tx_id, measurand)
    assert len(found) >= n, found
    return found


# -- firmware, diagnostics, security ------------------------------------------------------------
async def test_update_firmware_full_sequence_then_reboot(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-FW"
        st = await sim.start(cp)
        assert await send(stack, cp, "UpdateFirmware", {
            "location": "https://fw.example.com/fw.bin", "retrieveDate": now_iso()}) == {}
        await eventually(lambda: _statuses(stack, cp, "firmware", [
            "Downloading", "Downloaded", "Installing", "Installed"]))
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [(_, _, boot)] = (await calls(stack, cp, "BootNotification"))[1:]
        assert boot["firmwareVersion"] == "2.4.1+update"
        [row] = await rows(stack, "SELECT firmware_version, firmware_status FROM charge_points "
                                  "WHERE id = :cp", cp=cp)
        assert (row["firmware_version"], row["firmware_status"]) == ("2.4.1+update", "Installed")
        await back_online(st, 1)


async def _statuses(stack: Stack, cp: str, kind: str, expected: list[str],
                    request_id: int | None = None) -> None:
    found = await notifications(stack, cp, kind)
    assert [n["status"] for n in found] == expected
    if request_id is not None:
        assert {n["request_id"] for n in found} == {request_id}


async def test_get_diagnostics_sequence(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-DIAG"
        await sim.start(cp)
        assert await send(stack, cp, "GetDiagnostics", {"location": "ftp://diag.example.com/"}) == {
            "fileName": f"diagnostics-{cp}.log"}
        await eventually(lambda: _statuses(stack, cp, "diagnostics", ["Uploading", "Uploaded"]))
        [row] = await rows(stack, "SELECT diagnostics_status FROM charge_points WHERE id = :cp", cp=cp)
        assert row["diagnostics_status"] == "Uploaded"


@pytest.mark.parametrize("requested", [
    "SignChargePointCertificate", "LogStatusNotification", "BootNotification", "StatusNotification",
    "Heartbeat", "MeterValues"])
async def test_extended_trigger_message_really_sends_the_message(stack: Stack, sim: Sims,
                                                                 requested: str) -> None:
    async with asyncio.timeout(BUDGET):
        cp = f"CP-XTRIG-{requested[:16]}"
        await sim.start(cp)
        mark = await last_message_id(stack, cp)
        payload: dict[str, Any] = {"requestedMessage": requested}
        if requested in ("StatusNotification", "MeterValues"):
            payload["connectorId"] = 2
        assert await send(stack, cp, "ExtendedTriggerMessage", payload) == {"status": "Accepted"}
        action = "SignCertificate" if requested == "SignChargePointCertificate" else requested
        await eventually(lambda: _at_least(stack, cp, action, 1, after=mark))
        await asyncio.sleep(0.2)
        [(_, _, sent)] = await calls(stack, cp, action, after=mark)
        if requested == "SignChargePointCertificate":
            [csr] = await eventually(lambda: _n_notes(stack, cp, "sign_certificate", 1))
            assert cp in csr["detail"] and "CERTIFICATE REQUEST" in csr["detail"]
        elif requested == "LogStatusNotification":
            assert sent["status"] == "Idle"
            await eventually(lambda: _statuses(stack, cp, "log", ["Idle"]))
        elif requested in ("StatusNotification", "MeterValues"):
            assert sent["connectorId"] == 2


async def test_certificates_install_list_delete(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-CERTS"
        st = await sim.start(cp)
        assert await send(stack, cp, "CertificateSigned", {"certificateChain": CERT}) == {
            "status": "Accepted"}
        assert st.certificates["ChargePointCertificate"] == CERT
        assert await send(stack, cp, "InstallCertificate", {
            "certificateType": "ManufacturerRootCertificate", "certificate": ROOT_CERT}) == {
            "status": "Accepted"}
        installed = await send(stack, cp, "GetInstalledCertificateIds",
                               {"certificateType": "ManufacturerRootCertificate"})
        assert installed["status"] == "Accepted" and len(installed["certificateHashData"]) == 1
        assert await send(stack, cp, "GetInstalledCertificateIds",
                          {"certificateType": "CentralSystemRootCertificate"}) == {"status": "NotFound"}
        hash_data = installed["certificateHashData"][0]
        assert await send(stack, cp, "DeleteCertificate", {"certificateHashData": hash_data}) == {
            "status": "Accepted"}
        assert await send(stack, cp, "DeleteCertificate", {"certificateHashData": hash_data}) == {
            "status": "NotFound"}
        assert await send(stack, cp, "GetInstalledCertificateIds",
                          {"certificateType": "ManufacturerRootCertificate"}) == {"status": "NotFound"}


async def test_get_log_sends_log_status_notifications(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-GETLOG"
        await sim.start(cp)
        assert await send(stack, cp, "GetLog", {
            "logType": "SecurityLog", "requestId": 42,
            "log": {"remoteLocation": "https://logs.example.com/"}}) == {
            "status": "Accepted", "filename": f"SecurityLog-{cp}.log"}
        await eventually(lambda: _statuses(stack, cp, "log", ["Uploading", "Uploaded"], 42))


async def test_signed_update_firmware_full_sequence_then_reboot(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SIGNED-FW"
        st = await sim.start(cp)
        assert await send(stack, cp, "SignedUpdateFirmware", {"requestId": 43, "firmware": {
            "location": "https://fw.example.com/fw.bin", "retrieveDateTime": now_iso(),
            "signingCertificate": CERT, "signature": "c2lnbmF0dXJl"}}) == {"status": "Accepted"}
        await eventually(lambda: _statuses(stack, cp, "signed_firmware", [
            "Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"], 43))
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [row] = await rows(stack, "SELECT firmware_version, firmware_status FROM charge_points "
                                  "WHERE id = :cp", cp=cp)
        assert (row["firmware_version"], row["firmware_status"]) == ("2.4.1+update", "Installed")
        await back_online(st, 1)


async def _n_notes(stack: Stack, cp: str, kind: str, n: int) -> list[dict[str, Any]]:
    found = await notifications(stack, cp, kind)
    assert len(found) == n, found
    return found


# -- meter values -------------------------------------------------------------------------------
async def test_meter_values_are_coherent(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-METER"
        ev = {"battery_wh": 2000, "initial_soc": [10, 10], "max_power_w": 22000,
              "taper_from_soc": 90}
        st = await sim.start(cp, template(ev=ev))
        tx_id = await start_tx(st)
        await eventually(lambda: _n_samples(stack, tx_id, "SoC", 5), timeout=10)
        await send(stack, cp, "RemoteStopTransaction", {"transactionId": tx_id})
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))

        by_ts: dict[datetime, dict[str, float]] = {}
        for r in await rows(stack, "SELECT * FROM meter_values WHERE transaction_id = :tx AND "
                                   "source = 'MeterValues' ORDER BY id", tx=tx_id):
            by_ts.setdefault(utc(r["timestamp"]), {})[r["measurand"]] = float(r["value"])
        series = sorted(by_ts.items())
        assert len(series) >= 5
        energy = [m["Energy.Active.Import.Register"] for _, m in series]
        soc = [m["SoC"] for _, m in series]
        assert energy == sorted(energy) and energy[-1] > energy[0]  # the register never decreases
        assert energy[0] >= tx["meter_start"]
        assert soc == sorted(soc) and soc[-1] > soc[0]
        for (t0, m0), (t1, m1) in zip(series, series[1:]):
            dt = (t1 - t0).total_seconds()
            expected = m1["Power.Active.Import"] * dt / 3600
            assert abs((m1["Energy.Active.Import.Register"] - m0["Energy.Active.Import.Register"])
                       - expected) <= 1.5 + 0.1 * expected
        for _, m in series:
            assert m["Power.Active.Import"] == 22000
            assert m["Current.Import"] == pytest.approx(
                m["Power.Active.Import"] / (3 * m["Voltage"]), abs=0.1)
            assert 226 <= m["Voltage"] <= 234
        # overall: meter start to the last sample follows power x time
        start = utc(tx["start_timestamp"])
        span = (series[-1][0] - start).total_seconds()
        assert energy[-1] - tx["meter_start"] == pytest.approx(22000 * span / 3600, rel=0.15, abs=2)


async def test_meter_stop_agrees_with_the_register_reading(stack: Stack, sim: Sims) -> None:
    """meterStop is the same register reading the StopTransaction's transactionData (and the
    MeterValues before it) show: the register never appears to go backwards at the stop.

    1.8 kW from an integral meterStart: ~1.5 s later the register stands at start + ~0.75 Wh, a
    fraction where truncating and rounding the same reading differ.
    """
    async with asyncio.timeout(BUDGET):
        cp = "CP-METER-STOP"
        ev = {"battery_wh": 60000, "initial_soc": [20, 20], "max_power_w": 1800,
              "taper_from_soc": 90}
        st = await sim.start(cp, template(ev=ev))
        tx_id = await start_tx(st)
        await asyncio.sleep(1.5)
        assert await st.stop_local(1) is True
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        [(_, _, stop)] = await calls(stack, cp, "StopTransaction")
        [reading] = [s for s in stop["transactionData"][0]["sampledValue"]
                     if s["measurand"] == "Energy.Active.Import.Register"]
        periodic = [float(r["value"]) for r in await samples(stack, tx_id,
                                                             "Energy.Active.Import.Register")]
        assert tx["meter_stop"] >= max(periodic, default=tx["meter_start"])
        assert stop["meterStop"] == int(reading["value"])


async def _first_meter_values(sim: Sims, identity: str, seed: int) -> tuple[int, dict[str, str]]:
    # a fresh state each time: a station that kept its meter continues from its last register
    st = await sim.start(identity, seed=seed, queue=sim.queue(f"{identity}-{len(sim.queues)}"))
    assert await st.start_local(1, "TAG-SEED") == "Accepted"

    def started() -> int:
        # A MeterValues the previous run of this identity queued as it stopped goes out first.
        found = [f[3]["meterStart"] for f in station_frames(st, "out")
                 if f[0] == 2 and f[2] == "StartTransaction"]
        assert found
        return int(found[0])

    meter_start = await eventually(started)

    def first() -> dict[str, str]:
        mv = [f[3] for f in station_frames(st, "out") if f[0] == 2 and f[2] == "MeterValues"]
        assert mv
        return {s["measurand"]: s["value"] for s in mv[0]["meterValue"][0]["sampledValue"]}

    values = await eventually(first)
    await sim.stop(st)
    return meter_start, values


async def test_same_seed_gives_the_same_first_meter_values(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        start_a, first_a = await _first_meter_values(sim, "CP-SEED", 7)
        start_b, first_b = await _first_meter_values(sim, "CP-SEED", 7)
        start_c, _ = await _first_meter_values(sim, "CP-SEED", 8)
        assert start_a == start_b and start_a != start_c
        energy_a = float(first_a.pop("Energy.Active.Import.Register"))
        energy_b = float(first_b.pop("Energy.Active.Import.Register"))
        assert abs(energy_a - energy_b) <= 1  # power x (slightly different) elapsed time
        assert first_a == first_b  # power, current, voltage and SoC


# -- the offline queue --------------------------------------------------------------------------
async def test_offline_transactions_are_queued_and_replayed_in_order(
        stack: Stack, sim: Sims, tmp_path: Path) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-OFFLINE"
        queue = sim.queue("offline")
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue, replay_rate=50)
        tx_a = await start_tx(st, 1, "TAG-A")
        await asyncio.sleep(1.1)

        await go_offline(st, 4.0)
        offline_at = datetime.now(UTC)
        assert await st.stop_local(1, "TAG-A") is True
        assert await st.start_local(2, "TAG-B") == "Accepted"
        provisional_b = st.connectors[2].tx.id  # type: ignore[union-attr]
        await asyncio.sleep(1.2)  # at least one MeterValues for B, queued
        assert await st.stop_local(2, "TAG-B") is True
        await st.unplug(1)
        assert await st.start_local(1, "TAG-C") == "Accepted"
        provisional_c = st.connectors[1].tx.id  # type: ignore[union-attr]
        assert provisional_b < 0 and provisional_c < 0 and provisional_b != provisional_c

        queued = await queue.pending(cp)
        actions = [a for _, a, _ in queued]
        assert [a for a in actions if a != "MeterValues"] == [
            "StopTransaction", "StartTransaction", "StopTransaction", "StartTransaction"]
        stop_a, start_b, stop_b, start_c = [p for _, a, p in queued if a != "MeterValues"]
        assert stop_a["transactionId"] == tx_a
        assert start_b["_provisional"] == provisional_b and stop_b["transactionId"] == provisional_b
        assert start_c["_provisional"] == provisional_c
        assert any(a == "MeterValues" and p["transactionId"] == provisional_b for _, a, p in queued)

        async def mirrored() -> None:  # memory and disk agree (a MeterValues may be mid-push)
            assert st.snapshot()["queued"] == len(await queue.pending(cp))

        await eventually(mirrored)

        mark = await last_message_id(stack, cp)
        await back_online(st, 1)
        await eventually(lambda: _queue_empty(st, queue))
        # the queued messages arrived in the order they were queued, right after the boot
        replayed = [(a, p) for _, a, p in await calls(stack, cp, after=mark)
                    if a in ("StartTransaction", "StopTransaction", "MeterValues")]
        assert [a for a, _ in replayed[:len(queued)]] == actions
        found = await transactions(stack, cp)
        assert [(t["id_tag"], t["stop_reason"]) for t in found] == [
            ("TAG-A", "Local"), ("TAG-B", "Local"), ("TAG-C", None)]
        a, b, c = found
        assert a["id"] == tx_a and a["meter_stop"] == stop_a["meterStop"]
        assert b["meter_stop"] == stop_b["meterStop"] and b["meter_stop"] >= b["meter_start"]
        assert utc(b["start_timestamp"]) >= offline_at - timedelta(seconds=1)
        assert utc(b["start_timestamp"]) < utc(b["stop_timestamp"])
        assert c["meter_stop"] is None and st.connectors[1].tx is not None
        assert st.connectors[1].tx.id == c["id"]  # the provisional id was replaced
        # meter values carry the CSMS's ids, never a provisional one; nothing was unmatched
        assert await rows(stack, "SELECT * FROM meter_values WHERE charge_point_id = :cp AND "
                                 "transaction_id < 0", cp=cp) == []
        assert await samples(stack, b["id"], "Energy.Active.Import.Register")
        assert await rows(stack, "SELECT * FROM stop_records WHERE charge_point_id = :cp", cp=cp) == []
        # and the transaction that kept running reports under its real id
        mark = await last_message_id(stack, cp)
        await eventually(lambda: _at_least(stack, cp, "MeterValues", 1, after=mark))
        mv = (await calls(stack, cp, "MeterValues", after=mark))[-1][2]
        assert mv["transactionId"] == c["id"]
        assert st.outbox.stats["replayed"] >= len(queued)


async def _queue_empty(st: Station, queue: DurableQueue) -> None:
    assert await queue.pending(st.identity) == []
    assert len(st.outbox) == 0


async def _leave_a_queued_transaction(sim: Sims, cp: str, queue: DurableQueue,
                                      id_tag: str) -> list[tuple[int, str, dict[str, Any]]]:
    """A station that is offline for good queues a whole transaction, then is switched off."""
    st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
    await go_offline(st, 600)
    assert await st.start_local(1, id_tag) == "Accepted"
    await asyncio.sleep(1.2)
    assert await st.stop_local(1, id_tag) is True
    await sim.stop(st)
    queued = await queue.pending(cp)
    assert [a for _, a, _ in queued if a != "MeterValues"] == ["StartTransaction", "StopTransaction"]
    assert any(a == "MeterValues" for _, a, _ in queued)
    return queued


async def test_queue_survives_a_station_restart(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-QRESTART"
        queue = sim.queue("restart")
        queued = await _leave_a_queued_transaction(sim, cp, queue, "TAG-R")
        assert await transactions(stack, cp) == []
        # a new Station object (the process restarted) with the same queue file
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
        await eventually(lambda: _queue_empty(st, queue))
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        stop = next(p for _, a, p in queued if a == "StopTransaction")
        start = next(p for _, a, p in queued if a == "StartTransaction")
        assert (tx["id_tag"], tx["meter_start"], tx["meter_stop"], tx["stop_reason"]) == (
            "TAG-R", start["meterStart"], stop["meterStop"], "Local")
        assert len(await samples(stack, tx["id"], "Energy.Active.Import.Register")) == sum(
            1 for _, a, _ in queued if a == "MeterValues")
        assert await rows(stack, "SELECT * FROM stop_records WHERE charge_point_id = :cp", cp=cp) == []


async def test_replay_interrupted_by_a_restart_keeps_the_real_transaction_id(
        stack: Stack, sim: Sims) -> None:
    """The StartTransaction was replayed (and removed from the queue), then the station restarted
    before its StopTransaction went out: the queued StopTransaction must close the CSMS's
    transaction, not name the provisional id the new process knows nothing about."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-QINTERRUPT"
        queue = sim.queue("interrupt")
        await _leave_a_queued_transaction(sim, cp, queue, "TAG-I")
        slow = await sim.start(cp, template(**OFFLINE_OK), queue=queue, replay_rate=0.5)
        await eventually(lambda: _check(slow.outbox.stats["replayed"] >= 1), timeout=5)
        await sim.stop(slow)
        left = await queue.pending(cp)
        assert left and left[0][1] != "StartTransaction"  # the start is through, the rest is not
        [tx] = await transactions(stack, cp)
        st = await sim.start(cp, template(**OFFLINE_OK), queue=queue)
        await eventually(lambda: _queue_empty(st, queue))
        await asyncio.sleep(0.2)
        unmatched = await rows(stack, "SELECT transaction_id, kind FROM stop_records WHERE "
                                      "charge_point_id = :cp", cp=cp)
        assert [dict(r) for r in unmatched] == []
        assert await rows(stack, "SELECT * FROM meter_values WHERE charge_point_id = :cp AND "
                                 "transaction_id < 0", cp=cp) == []
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert tx["stop_reason"] == "Local"


async def test_provisional_ids_do_not_collide_after_a_restart(stack: Stack, sim: Sims) -> None:
    """A new Station object that starts a transaction offline while the queue still holds the old
    one's provisional ids must not mix the two transactions up."""
    async with asyncio.timeout(BUDGET):
        cp = "CP-QCOLLIDE"
        queue = sim.queue("collide")
        await _leave_a_queued_transaction(sim, cp, queue, "TAG-OLD")
        st = Station(cp, template(**OFFLINE_OK), stack.ws_url, queue=queue, log_size=20_000)
        st.refuse_until = time.monotonic() + 1.5  # still offline when it comes up
        sim.stations.append(st)
        sim.tasks[id(st)] = asyncio.create_task(st.run())
        await asyncio.sleep(0.1)
        assert await st.start_local(1, "TAG-NEW") == "Accepted"
        await back_online(st, 0)
        await eventually(lambda: _queue_empty(st, queue))
        found = await eventually(lambda: _n_tx(stack, cp, 2))
        old, new = found
        assert (old["id_tag"], old["stop_reason"]) == ("TAG-OLD", "Local")
        assert (new["id_tag"], new["stop_timestamp"]) == ("TAG-NEW", None)
        assert st.connectors[1].tx is not None and st.connectors[1].tx.id == new["id"]
        tx_id = st.connectors[1].tx.id
        await st.stop_local(1, "TAG-NEW")
        [_, new] = await eventually(lambda: _stopped(stack, cp, 2))
        assert new["id"] == tx_id and new["stop_reason"] == "Local"


# -- reconnects ---------------------------------------------------------------------------------
async def test_reconnects_after_the_csms_deletes_the_charge_point(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-DELETED"
        st = await sim.start(cp)
        async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=5) as http:
            response = await http.delete(f"/api/v1/charge-points/{cp}")
            assert response.status_code == 204, response.text
        await back_online(st, 1, timeout=6)
        assert "disconnected {'code': 1000}" in station_events(st)
        await eventually(lambda: _at_least(stack, cp, "BootNotification", 2))
        [row] = await eventually(lambda: _online(stack, cp))
        assert (row["vendor"], row["model"]) == ("Chargebay", "SIM-AC22")
        await sim.ready(st)


async def _online(stack: Stack, cp: str) -> list[Any]:
    found = await rows(stack, "SELECT * FROM charge_points WHERE id = :cp", cp=cp)
    assert len(found) == 1 and found[0]["online"] and found[0]["vendor"], found
    return found


async def test_reconnects_after_a_takeover(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-TAKEOVER"
        st = await sim.start(cp)
        async with websockets.connect(f"{stack.ws_url}/{cp}", subprotocols=["ocpp1.6"]) as intruder:  # type: ignore[list-item]
            await eventually(lambda: _check("disconnected {'code': 4001}" in station_events(st)))
            await back_online(st, 1, timeout=6)
            # the station took its place back: the intruder was replaced in turn
            await asyncio.wait_for(intruder.wait_closed(), 5)
            assert intruder.close_code == 4001
        mark = await last_message_id(stack, cp)
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}
        assert await last_message_id(stack, cp) > mark


async def test_backs_off_while_the_csms_is_unreachable(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        st = await sim.start("CP-BACKOFF", url=f"ws://127.0.0.1:{dead_port}/ocpp", wait=False)
        failures: list[float] = []

        def three_failures() -> None:
            failures[:] = [datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                           for ts, kind, text in st.log
                           if kind == "event" and text.startswith("connect_failed")]
            assert len(failures) >= 3

        await eventually(three_failures, timeout=12, interval=0.05)
        first_gap, second_gap = failures[1] - failures[0], failures[2] - failures[1]
        assert 0.45 <= first_gap <= 1.6  # 1 s with jitter (x 0.5 .. 1.5)
        assert 0.95 <= second_gap <= 3.1  # then 2 s with jitter
        assert st.stats["connects"] == 0 and not st.connected


# -- faults -------------------------------------------------------------------------------------
async def test_fault_connector_and_clear_fault(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-FAULT"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await st.fault_connector(1, "GroundFailure", "leakage")
        row = await until_status(stack, cp, 1, "Faulted", error_code="GroundFailure")
        assert row["info"] == "leakage"
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "Other")
        assert await send(stack, cp, "RemoteStartTransaction",
                          {"connectorId": 1, "idTag": "TAG-1"}) == {"status": "Rejected"}
        assert (await send(stack, cp, "ReserveNow", {
            "connectorId": 1, "expiryDate": now_iso(60), "idTag": "TAG-1",
            "reservationId": 3}))["status"] == "Faulted"
        assert await st.start_local(1, "TAG-1") == "Busy"
        assert (await connectors(stack, cp))[2]["status"] == "Available"  # only connector 1
        await st.clear_fault(1)
        await until_status(stack, cp, 1, "Preparing")  # the car is still plugged in
        await st.unplug(1)
        await until_status(stack, cp, 1, "Available")
        assert await start_tx(st, 1, "TAG-2") > tx_id


async def test_power_loss_stops_the_transaction_reported_after_the_reboot(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-POWER"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await asyncio.sleep(1.1)
        await st.power_loss(outage_s=1.0)
        assert not st.connected and not st.booted.is_set()
        assert [a for _, a, _ in st.outbox.pending][-1] == "StopTransaction"
        await back_online(st, 1, timeout=8)
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert (tx["id"], tx["stop_reason"]) == (tx_id, "PowerLoss")
        assert tx["meter_stop"] > tx["meter_start"]
        boots = await calls(stack, cp, "BootNotification")
        [(stop_id, _, stop)] = await calls(stack, cp, "StopTransaction")
        assert len(boots) == 2 and stop_id > boots[1][0]  # delivered after the reboot
        assert stop["transactionId"] == tx_id and stop["reason"] == "PowerLoss"


async def test_response_delay_and_dropped_responses_time_the_csms_out(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SLOW"
        st = await sim.start(cp)
        st.response_delay = 1.0
        outcome = await stack.central.commands.send(cp, "ClearCache", {}, timeout=0.3)
        assert outcome.kind == "timeout"
        st.response_delay = 0.0
        await asyncio.sleep(1.0)  # the late answer arrives and is dropped by the CSMS
        assert await send(stack, cp, "ClearCache", {}) == {"status": "Accepted"}
        st.drop_responses = 1.0
        outcome = await stack.central.commands.send(cp, "GetLocalListVersion", {}, timeout=0.5)
        assert outcome.kind == "timeout"
        assert "response_dropped" in station_events(st)
        [command] = await rows(stack, "SELECT status FROM commands WHERE charge_point_id = :cp AND "
                                      "action = 'GetLocalListVersion'", cp=cp)
        assert command["status"] == "timeout"
        st.drop_responses = 0.0
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}


async def test_send_raw_malformed_frames_are_answered_with_call_errors(
        stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-RAW"
        st = await sim.start(cp)
        await st.send_raw("this is not an OCPP frame")

        def answered(prefix: str) -> None:
            assert any(text.startswith(prefix) for _, kind, text in st.log if kind == "in")

        await eventually(lambda: answered('[4,"-1","FormationViolation"'))
        await st.send_raw('[2,"raw-1","NoSuchAction",{}]')
        await eventually(lambda: answered('[4,"raw-1","NotImplemented"'))
        await st.send_raw('[2,"raw-2","Heartbeat",{}]')
        await eventually(lambda: answered('[3,"raw-2",{"currentTime"'))
        assert ("out", "this is not an OCPP frame") in [(k, t) for _, k, t in st.log]
        found = await rows(stack, "SELECT direction, message_type, frame FROM messages WHERE "
                                  "charge_point_id = :cp AND (message_type IN (0, 4) OR "
                                  "message_id LIKE 'raw-%') ORDER BY id", cp=cp)
        assert [(r["direction"], r["message_type"]) for r in found] == [
            ("in", 0), ("out", 4), ("in", 2), ("out", 4), ("in", 2), ("out", 3)]
        assert found[0]["frame"] == "this is not an OCPP frame"
        # the station carries on normally
        assert await send(stack, cp, "GetLocalListVersion", {}) == {"listVersion": 0}
        await start_tx(st, 1)


async def test_clock_skew_shifts_the_station_timestamps(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-SKEW"
        st = await sim.start(cp)
        st.clock_skew = 3600.0
        mark = await last_message_id(stack, cp)
        await send(stack, cp, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "connectorId": 2})
        await eventually(lambda: _at_least(stack, cp, "StatusNotification", 1, after=mark))
        now = datetime.now(UTC)
        stamp = utc((await connectors(stack, cp))[2]["timestamp"])
        assert abs((stamp - now).total_seconds() - 3600) < 30
        await start_tx(st, 1)
        [tx] = await transactions(stack, cp)
        assert abs((utc(tx["start_timestamp"]) - now).total_seconds() - 3600) < 30
        st.clock_skew = -7200.0
        await st.stop_local(1)
        [tx] = await eventually(lambda: _stopped(stack, cp, 1))
        assert abs((utc(tx["stop_timestamp"]) - now).total_seconds() + 7200) < 30


# -- the station's log --------------------------------------------------------------------------
async def test_every_frame_in_and_out_is_in_the_station_log(stack: Stack, sim: Sims) -> None:
    async with asyncio.timeout(BUDGET):
        cp = "CP-LOG"
        st = await sim.start(cp)
        tx_id = await start_tx(st, 1)
        await send(stack, cp, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        await send(stack, cp, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        await send(stack, cp, "DataTransfer", {"vendorId": "nobody"})
        await asyncio.sleep(1.2)
        await send(stack, cp, "RemoteStopTransaction", {"transactionId": tx_id})
        await eventually(lambda: _stopped(stack, cp, 1))
        await st.send_raw("garbage")
        await asyncio.sleep(0.3)
        logged = await rows(stack, "SELECT direction, frame FROM messages WHERE charge_point_id = :cp"
                                   " ORDER BY id", cp=cp)
        csms_in = [r["frame"] for r in logged if r["direction"] == "in"]
        csms_out = [r["frame"] for r in logged if r["direction"] == "out"]
        station_out = [text for _, kind, text in st.log if kind == "out"]
        station_in = [text for _, kind, text in st.log if kind == "in"]
        assert station_out == csms_in
        assert station_in == csms_out
        assert {kind for _, kind, _ in st.log} == {"in", "out", "event"}
        assert len(csms_in) > 10
        for ts, _, _ in st.log:
            assert utc(ts) <= datetime.now(UTC)
