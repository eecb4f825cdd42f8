"""Against a strict third-party peer (issue #16): npm ``ocpp-rpc`` in strict mode, a 1.6 and a
2.0.1 station at once on one server, each validating every frame of ours both ways against its own
schemas (tests/peers/station.mjs). Each plays a session, then answers commands sent through REST."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.helpers import add_id_tag, rows

PEERS = Path(__file__).resolve().parent.parent / "peers"
BUDGET = 40.0


class Peer:
    """The node process of one station, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []

    async def until(self, key: str) -> dict[str, Any]:
        """Read until a line with ``key``; that line."""
        assert self.process.stdout is not None
        while True:
            raw = await self.process.stdout.readline()
            assert raw, f"the peer ended early: {self.lines}"
            line = json.loads(raw)
            self.lines.append(line)
            if key in line:
                return line

    async def finish(self) -> list[str]:
        """Close its stdin; the strict-validation failures it saw."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        failures = (await self.until("strictFailures"))["strictFailures"]
        await self.process.wait()
        return failures  # type: ignore[no-any-return]


async def peer(stack: Stack, identity: str, protocol: str) -> Peer:
    if not (PEERS / "node_modules" / "ocpp-rpc").exists():
        pytest.fail("tests/peers/node_modules missing: `make install` runs npm ci there")
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(PEERS / "station.mjs"), stack.ws_url, identity, protocol,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    return Peer(process)


async def test_strict_16_and_201_stations_side_by_side(stack: Stack) -> None:
    await add_id_tag(stack, "STRICT-TAG", max_concurrent_tx=2)  # one session at each station
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=20) as client:
        new, old = await peer(stack, "STRICT-201", "ocpp2.0.1"), await peer(stack, "STRICT-16", "ocpp1.6")
        try:
            await asyncio.gather(new.until("ready"), old.until("ready"))
            commands = (("STRICT-201", "Reset", {"type": "OnIdle"}),
                        ("STRICT-201", "GetVariables", {"getVariableData": [
                            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
                        ("STRICT-201", "RequestStartTransaction", {"remoteStartId": 7, "idToken": {
                            "idToken": "STRICT-TAG", "type": "ISO14443"}}),
                        ("STRICT-16", "Reset", {"type": "Soft"}),
                        ("STRICT-16", "GetConfiguration", {"key": ["HeartbeatInterval"]}))
            for cp_id, action, payload in commands:
                r = await client.post(f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload,
                                      params={"wait": 10})
                assert r.status_code == 200, (action, r.text)
            assert r.json()["response"]["configurationKey"][0]["value"] == "300"
        finally:
            new_failures, old_failures = await new.finish(), await old.finish()
    for station in (new, old):
        steps = [line for line in station.lines if "step" in line]
        assert steps and all(line["ok"] for line in steps), steps
    assert [line["handled"] for line in new.lines if "handled" in line] == [
        "Reset", "GetVariables", "RequestStartTransaction"]
    assert [line["handled"] for line in old.lines if "handled" in line] == ["Reset", "GetConfiguration"]
    assert (new_failures, old_failures) == ([], [])  # nothing of ours broke a schema, either way
    shown = {r["id"]: r["ocpp_version"] for r in await rows(
        stack, "SELECT id, ocpp_version FROM charge_points WHERE id LIKE 'STRICT-%'")}
    assert shown == {"STRICT-201": "2.0.1", "STRICT-16": "1.6"}
    [tx] = await rows(stack, "SELECT meter_stop, stop_reason FROM transactions WHERE charge_point_id = 'STRICT-16'")
    assert (tx["meter_stop"], tx["stop_reason"]) == (1500, "Local")
