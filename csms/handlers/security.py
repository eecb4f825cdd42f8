"""Security whitepaper messages a charge point sends: events, CSRs and log upload status."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table

from csms.handlers import handles
from csms.handlers.context import ChargePointLink, Services
from csms.handlers.core import notification
from csms.store.models import Notification

_NOTIFICATIONS = cast(Table, Notification.__table__)


@handles("SecurityEventNotification")
async def security_event(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    ctx.writer.insert(_NOTIFICATIONS, notification(
        conn, "security_event", p["type"], None, p["timestamp"], p.get("techInfo")))
    ctx.events.publish("security_event", conn.charge_point_id, event=p["type"])
    return {}


@handles("SignCertificate")
async def sign_certificate(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """The CSR is kept for an operator (or a CA integration) to answer with CertificateSigned."""
    await ctx.writer.save(_NOTIFICATIONS, [notification(
        conn, "sign_certificate", "Pending", None, None, p["csr"])])
    ctx.events.publish("sign_certificate", conn.charge_point_id)
    return {"status": "Accepted"}


@handles("LogStatusNotification")
async def log_status(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    ctx.writer.insert(_NOTIFICATIONS, notification(
        conn, "log", p["status"], p.get("requestId"), None, None))
    ctx.events.publish("log", conn.charge_point_id, status=p["status"],
                       request_id=p.get("requestId"))
    return {}
