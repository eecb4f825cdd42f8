"""Helpers of the compliance suite's profile cases (tests/compliance/test_octt16_profiles_*.py,
test_octt16_security_*.py): a charging session as a charge point plays it, timestamps, the
snake_case form in which :class:`tests.compliance.station.Station` records what it received,
and reads of what the central system stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.charge_point import camel_to_snake_case
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.compliance.station import Station
from tests.helpers import rows


def at(seconds: float = 0) -> str:
    """An OCPP timestamp ``seconds`` from now (UTC, ISO 8601 with Z)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def snake(payload: dict[str, Any]) -> dict[str, Any]:
    """A camelCase OCPP payload as the station records it (keys in snake_case, at every depth)."""
    return camel_to_snake_case(payload)  # type: ignore[no-any-return]


async def charge(cp: Station, id_tag: str, connector: int = 1, reservation_id: int | None = None,
                 authorized: str | None = None) -> int:
    """Authorize (``authorized``, default ``id_tag``), Preparing, StartTransaction with ``id_tag``
    (and ``reservation_id``), Charging; asserts both answers Accepted; the transaction id."""
    answer = await cp.call(call.Authorize(id_tag=authorized or id_tag))
    assert answer.id_tag_info["status"] == "Accepted", answer
    await cp.status(connector, "Preparing")
    started = await cp.call(call.StartTransaction(connector_id=connector, id_tag=id_tag, meter_start=0,
                                                  timestamp=at(), reservation_id=reservation_id))
    assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0, started
    await cp.status(connector, "Charging")
    return int(started.transaction_id)


async def charge_point(stack: Stack, cp_id: str) -> dict[str, Any]:
    """The charge point's row as the central system stored it."""
    [row] = await rows(stack, "SELECT * FROM charge_points WHERE id = :cp", cp=cp_id)
    return dict(row)


async def connector_statuses(stack: Stack, cp_id: str) -> list[tuple[int, str]]:
    found = await rows(stack, "SELECT connector_id, status FROM connectors WHERE charge_point_id = :cp "
                              "ORDER BY connector_id", cp=cp_id)
    return [(r["connector_id"], r["status"]) for r in found]


async def reports(stack: Stack, cp_id: str, kind: str) -> list[tuple[str, int | None]]:
    """The status reports of ``kind`` (firmware, signed_firmware, diagnostics, log) it kept, in
    order: (status, requestId)."""
    found = await rows(stack, "SELECT status, request_id FROM notifications WHERE charge_point_id = :cp "
                              "AND kind = :kind ORDER BY id", cp=cp_id, kind=kind)
    return [(r["status"], r["request_id"]) for r in found]


async def commands_of(client: httpx.AsyncClient, cp_id: str, action: str) -> list[dict[str, Any]]:
    """The commands of ``action`` the central system recorded for ``cp_id``, oldest first."""
    r = await client.get("/api/v1/commands", params={"charge_point_id": cp_id, "action": action})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


async def security_events(client: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    """Its security events as the REST API lists them, oldest first."""
    r = await client.get(f"/api/v1/charge-points/{cp_id}/security-events")
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))
