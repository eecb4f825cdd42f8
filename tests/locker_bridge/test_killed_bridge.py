"""Issue #13 items 1 and 2 at the locker site: `chargebay bridge` as a real process, SIGKILLed
while its StartTransaction or StopTransaction is on its way and unanswered (a TCP proxy stalls the
link to the CSMS), then started again — from another working directory, as a replaced container
would be. Nothing may be lost: the transaction the board really ran is the one the CSMS has, with
its meter values and its stop. The board is emulated on a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chargebay.stack import Stack, running
from locker_bridge.emulator import Device, Emulator, Fault
from tests.conftest import make_settings
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.conftest import until
from tests.proxy import StallingProxy

CLI = str(Path(sys.executable).parent / "chargebay")
TAG = "TAG-K"
BAY = "LOCKER-A-01"


def site_yaml(tmp_path: Path, csms_url: str) -> Path:
    """The bridge's file at the site: no `outbox:`, so its state goes to the data directory."""
    config = tmp_path / "site.yaml"
    config.write_text(f"""
csms_url: {csms_url}
ports:
  COM2: {{device: {tmp_path / 'ttyCOM2'}, baudrate: 9600}}
lockers:
  - {{name: LOCKER-A, port: COM2, address: 1, bays: 4}}
poll_interval: 0.2
meter_interval: 1
""")
    return config


class Site:
    """`chargebay bridge` processes, one after the other, each from a working directory of its
    own, all with one CHARGEBAY_DATA_DIR."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path, self.config = tmp_path, config
        self.data_dir = tmp_path / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        cwd = self.tmp_path / f"cwd-{self.runs}"
        cwd.mkdir()
        env = {**os.environ, "CHARGEBAY_DATA_DIR": str(self.data_dir),
               "CHARGEBAY_LOG_LEVEL": os.environ.get("BRIDGE_LOG", "INFO")}
        env.pop("CHARGEBAY_BRIDGE_CONFIG", None)
        with open(cwd / "bridge.log", "wb") as out:
            self.proc = subprocess.Popen([CLI, "bridge", "--config", str(self.config)], cwd=cwd,
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return "\n".join((self.tmp_path / f"cwd-{n}" / "bridge.log").read_text()
                         for n in range(1, self.runs + 1))


@contextlib.asynccontextmanager
async def site(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Stack, StallingProxy, Site]]:
    async with running(make_settings(db_url), migrate=False) as stack:
        assert stack.ocpp is not None
        await add_id_tag(stack, TAG)
        proxy = StallingProxy(stack.ocpp.port)
        port = await proxy.start()
        bridge = Site(tmp_path, site_yaml(tmp_path, f"ws://127.0.0.1:{port}/ocpp"))
        try:
            bridge.start()
            await until(lambda: _online(stack), 20)
            await until(lambda: _settled(stack), 10)
            yield stack, proxy, bridge
        except BaseException:
            print(bridge.log())
            raise
        finally:
            bridge.stop()
            await proxy.close()


async def _mark(stack: Stack) -> int:
    found = await rows(stack, "SELECT MAX(id) AS m FROM messages")
    return int(found[0]["m"] or 0)


async def _online(stack: Stack, after: int = 0) -> bool:
    """Every bay connected and, since message ``after``, booted and reported its connector."""
    reported = await rows(stack, "SELECT DISTINCT charge_point_id FROM messages WHERE action = "
                          "'StatusNotification' AND direction = 'in' AND id > :after", after=after)
    return stack.central.router.local_count() == 4 and len(reported) == 4


async def _settled(stack: Stack) -> bool:
    """The locker sites answered every bay's BayInfo with its out-of-service state (a call of
    the CSMS's own that must not be caught by a stalled link), and no command waits."""
    said = await rows(stack, "SELECT charge_point_id, COUNT(*) AS n FROM messages WHERE "
                      "direction = 'in' AND message_type = 2 AND action = 'DataTransfer' AND "
                      "frame LIKE '%BayInfo%' GROUP BY charge_point_id")
    answered = await rows(stack, "SELECT charge_point_id, COUNT(*) AS n FROM commands WHERE "
                          "action = 'DataTransfer' AND payload LIKE '%Maintenance%' AND "
                          "status != 'pending' GROUP BY charge_point_id")
    pending = await rows(stack, "SELECT id FROM commands WHERE status = 'pending'")
    return (len(said) == 4 and {r["charge_point_id"]: r["n"] for r in said}
            == {r["charge_point_id"]: r["n"] for r in answered} and not pending)


async def _gone(stack: Stack) -> bool:
    return stack.central.router.local_count() == 0


async def restart(stack: Stack, bridge: Site) -> None:
    await until(lambda: _gone(stack), 10)
    mark = await _mark(stack)
    bridge.start()
    await until(lambda: _online(stack, mark), 20)
    await until(lambda: _settled(stack), 10)


async def _send(stack: Stack, action: str, payload: dict[str, Any], timeout: float = 0.5) -> Any:
    return await stack.central.commands.send(BAY, action, payload, timeout)


async def _txs(stack: Stack) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp "
                                        "ORDER BY id", cp=BAY)]


async def _held_more_than(proxy: StallingProxy, n: int) -> bool:
    return proxy.held > n


async def _true(value: Any) -> Any:
    return value


async def test_killed_before_its_start_transaction_was_answered(db_url: str, tmp_path: Path,
                                                                emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    bay.place(Device.phone())
    async with site(db_url, tmp_path) as (stack, proxy, bridge):
        # no Authorize round trip to wait for: the start goes straight to the board
        answer = await _send(stack, "ChangeConfiguration",
                             {"key": "AuthorizeRemoteTxRequests", "value": "false"}, 10)
        assert answer.payload == {"status": "Accepted"}
        proxy.stall()
        held = proxy.held
        await _send(stack, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})
        await until(lambda: _true(bay.outlet_on), 10)
        # its RemoteStart answer and its status leave and are never heard; its StartTransaction
        # is under way (one call at a time: behind the unanswered status)
        await until(lambda: _held_more_than(proxy, held + 150), 10)
        await asyncio.sleep(0.5)
        bridge.kill()
        proxy.cut()
        assert await _txs(stack) == []
        emu.advance(600)  # the phone charges on while nobody watches
        await restart(stack, bridge)
        [tx] = await until(lambda: _txs(stack), 20)
        assert (tx["id_tag"], tx["stop_timestamp"]) == (TAG, None)

        async def metered() -> list[Any]:
            return await rows(stack, "SELECT transaction_id FROM meter_values WHERE "
                              "charge_point_id = :cp AND transaction_id IS NOT NULL", cp=BAY)
        found = await until(metered, 10)
        assert {r["transaction_id"] for r in found} == {tx["id"]}  # none under a provisional id
        answer = await _send(stack, "RemoteStopTransaction", {"transactionId": tx["id"]}, 10)
        assert answer.payload == {"status": "Accepted"}
        [tx] = await until(lambda: _stopped(stack), 10)
    assert tx["stop_reason"] == "Remote" and tx["meter_stop"] > tx["meter_start"]
    assert not bay.outlet_on


async def _stopped(stack: Stack) -> list[dict[str, Any]] | None:
    found = await _txs(stack)
    return found if found and all(t["stop_timestamp"] is not None for t in found) else None


async def test_killed_before_its_stop_transaction_was_answered(db_url: str, tmp_path: Path,
                                                               emu: Emulator) -> None:
    bay = emu.boards[1].bays[1]
    bay.place(Device.phone())
    async with site(db_url, tmp_path) as (stack, proxy, bridge):
        answer = await _send(stack, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG}, 10)
        assert answer.payload == {"status": "Accepted"}
        [tx] = await until(lambda: _txs(stack), 10)
        emu.advance(600)
        await asyncio.sleep(1.5)  # a meter value or two with the real id
        proxy.stall()
        held = proxy.held
        await _send(stack, "RemoteStopTransaction", {"transactionId": tx["id"]})
        await until(lambda: _true(not bay.outlet_on), 10)
        await until(lambda: _held_more_than(proxy, held + 150), 10)
        await asyncio.sleep(0.5)
        bridge.kill()
        proxy.cut()
        assert (await _txs(stack))[0]["stop_timestamp"] is None
        await restart(stack, bridge)
        [tx] = await until(lambda: _stopped(stack), 20)
    assert (tx["stop_reason"], tx["end_source"]) == ("Remote", "charge_point")
    assert tx["meter_stop"] >= bay.energy_register - 1 and tx["meter_stop"] > tx["meter_start"]
    assert await rows(stack, "SELECT * FROM stop_records") == []


async def test_the_state_is_in_the_data_directory_whatever_the_working_directory(
        db_url: str, tmp_path: Path, emu: Emulator) -> None:
    """Started again from elsewhere (a new container on the same volume), the bridge finds its
    state in CHARGEBAY_DATA_DIR: its transaction goes on and answers a RemoteStop by its id."""
    bay = emu.boards[1].bays[1]
    bay.place(Device.phone())
    async with site(db_url, tmp_path) as (stack, proxy, bridge):
        answer = await _send(stack, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG}, 10)
        assert answer.payload == {"status": "Accepted"}
        [tx] = await until(lambda: _txs(stack), 10)
        bridge.stop()
        assert (bridge.data_dir / "bridge-outbox.db").exists()
        assert not list(tmp_path.glob("cwd-*/var"))  # nothing relative to where it ran
        await restart(stack, bridge)
        answer = await _send(stack, "RemoteStopTransaction", {"transactionId": tx["id"]}, 10)
        assert answer.payload == {"status": "Accepted"}
        [tx] = await until(lambda: _stopped(stack), 10)
        assert "state in " + str(bridge.data_dir / "bridge-outbox.db") in bridge.log()
    assert tx["stop_reason"] == "Remote"


async def test_killed_between_switching_on_and_its_start_on_disk(db_url: str, tmp_path: Path,
                                                                emu: Emulator) -> None:
    """The board switched the outlet on, but the bridge died before the StartTransaction reached
    its disk (here: the read-back never answers, nor a STOP_CHARGING, and then SIGKILL). The
    marker written before START_CHARGING tells the next run: the outlet goes off at the first
    read, and no transaction appears."""
    bay = emu.boards[1].bays[1]
    bay.place(Device.phone())
    async with site(db_url, tmp_path) as (stack, proxy, bridge):
        answer = await _send(stack, "ChangeConfiguration",
                             {"key": "AuthorizeRemoteTxRequests", "value": "false"}, 10)
        assert answer.payload == {"status": "Accepted"}
        deaf = [emu.inject(Fault.IGNORE, address=1, bay=1, command=name)
                for name in ("CHARGING_STATUS", "STOP_CHARGING")]
        await _send(stack, "RemoteStartTransaction", {"connectorId": 1, "idTag": TAG})
        await until(lambda: _true(bay.outlet_on), 10)
        await asyncio.sleep(0.3)
        bridge.kill()
        for rule in deaf:
            emu.remove_fault(rule)
        emu.advance(600)  # the phone charges on while nobody watches
        assert bay.outlet_on and await _txs(stack) == []
        await restart(stack, bridge)
        await until(lambda: _true(not bay.outlet_on), 10)
        assert "a start interrupted by the bridge's restart" in bridge.log()
        await asyncio.sleep(1.5)  # a transaction would have been sent by now
        assert await _txs(stack) == []
