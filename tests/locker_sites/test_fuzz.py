"""A property-based run over every locker-domain operation with the bridge and an emulated board
behind it (so opens, heartbeats and rentals reach real code paths): never a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.fuzz import fuzz
from tests.locker_sites.conftest import ADMIN

LOCKER_PREFIXES = ("/api/shifts", "/api/shift-devices", "/api/devices", "/api/bays", "/api/admin/",
                   "/api/users", "/api/groups", "/api/locations", "/api/roles", "/api/countries",
                   "/api/logs", "/api/auth/", "/transactions", "/lockers", "/locker-types",
                   "/bank-types", "/system/", "/api/locks", "/api/lock-groups", "/api/locker/")


def locker_operation(method: str, path: str, op: dict[str, Any]) -> bool:
    return path.startswith(LOCKER_PREFIXES)


async def test_no_locker_operation_answers_a_server_error(site: Stack, tmp_path: Path) -> None:
    pytest.importorskip("schemathesis", reason="the property-based run needs schemathesis (dev dependency)")
    async with httpx.AsyncClient(base_url=site.http_url) as client:
        spec = (await client.get("/openapi.json", headers=ADMIN)).json()
    failures, counts = await fuzz(site.http_url, spec, ADMIN, tmp_path, locker_operation, 150.0)
    assert len(counts) > 80  # every back-office, gateway, smart-lock and cabin operation
    untried = [label for label, n in counts.items() if n == 0]
    assert not untried, f"ran out of time before: {untried}"
    assert not failures, "server errors:\n" + "\n".join(sorted(set(failures))[:40])
