"""A stack with the embedded bridge in front of an emulated board (LOCKER-A, 4 bays, address 1 on
COM2), its bays registered as lockers 1-4 (bank "LOCKER-A"), for the locker-domain APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.conftest import ADMIN_TOKEN
from tests.helpers import rows
from tests.locker_bridge.conftest import bridge_yaml, bridged, emu, until

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def site(db_url: str, tmp_path: Path, emu: Emulator) -> AsyncIterator[Stack]:
    async with bridged(db_url, bridge_yaml(tmp_path)) as s:
        yield s


@pytest.fixture
async def client(site: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.http_url, headers=ADMIN, timeout=20) as c:
        yield c


async def audit_actions(stack: Stack, locker_id: int | None = None) -> list[str]:
    """The audit log's actions, oldest first (for one locker if given)."""
    sql = "SELECT action FROM audit_log" + (" WHERE locker_id = :l" if locker_id else "") + " ORDER BY id"
    return [r["action"] for r in await rows(stack, sql, l=locker_id)]


async def locker_id(stack: Stack, identity: str) -> int:
    [row] = await rows(stack, "SELECT id FROM lockers WHERE identity = :i", i=identity)
    return int(row["id"])


__all__ = ["ADMIN", "audit_actions", "emu", "locker_id", "until"]
