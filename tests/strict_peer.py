"""The strict third-party central system of the 2.0.1 peer tests: npm ``ocpp-rpc``'s RPCServer in
strict mode (tests/peers/csms.mjs), run as a child process that prints one JSON object a line."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

PEERS = Path(__file__).resolve().parent / "peers"


async def start(script: str = "station") -> asyncio.subprocess.Process:
    """The peer, driving whatever connects through its ``script`` (``station`` or ``bay``)."""
    if not (PEERS / "node_modules" / "ocpp-rpc").exists():
        pytest.fail("tests/peers/node_modules missing: `make install` runs npm ci there")
    return await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(PEERS / "csms.mjs"), script,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)


async def read_until(process: asyncio.subprocess.Process, lines: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Collect the peer's lines into ``lines`` up to the first that has ``key``; return it."""
    assert process.stdout is not None
    while True:
        raw = await process.stdout.readline()
        assert raw, f"the peer ended early: {lines}"
        line = json.loads(raw)
        lines.append(line)
        if key in line:
            return line
