"""Firmware and diagnostics status reports (1.6 core and security whitepaper variants)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, update

from csms.handlers import handles
from csms.handlers.context import ChargePointLink, Services
from csms.handlers.core import notification
from csms.store.models import ChargePoint, Notification

_CP = cast(Table, ChargePoint.__table__)
_NOTIFICATIONS = cast(Table, Notification.__table__)


async def _report(ctx: Services, conn: ChargePointLink, kind: str, column: str, status: str,
                  request_id: int | None = None) -> dict[str, Any]:
    """Keep the report in the history and the charge point's current status column."""
    writer = ctx.writer
    writer.insert(_NOTIFICATIONS, notification(conn, kind, status, request_id, None, None))
    stmt = update(_CP).where(_CP.c.id == conn.charge_point_id).values({column: status})
    writer.submit(lambda c: c.execute(stmt))
    ctx.events.publish(kind, conn.charge_point_id, status=status, request_id=request_id)
    return {}


@handles("FirmwareStatusNotification")
async def firmware_status(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return await _report(ctx, conn, "firmware", "firmware_status", p["status"], p.get("requestId"))  # 2.0.1's


@handles("SignedFirmwareStatusNotification")
async def signed_firmware_status(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return await _report(ctx, conn, "signed_firmware", "firmware_status", p["status"], p.get("requestId"))


@handles("DiagnosticsStatusNotification")
async def diagnostics_status(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return await _report(ctx, conn, "diagnostics", "diagnostics_status", p["status"])
