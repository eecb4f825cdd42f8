"""Security whitepaper messages a charge point sends: events, CSRs and log upload status."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table

from csms.handlers import handles
from csms.handlers.context import ChargePointLink, Services
from csms.handlers.core import notification
from csms.store.models import Notification
from csms.timeutil import parse_ts

_NOTIFICATIONS = cast(Table, Notification.__table__)


@handles("SecurityEventNotification")
async def security_event(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    timestamp = parse_ts(p["timestamp"])
    assert timestamp is not None  # the schema requires it
    ctx.security.reported(conn.charge_point_id, p["type"], timestamp, p.get("techInfo"))
    return {}


@handles("SignCertificate")
async def sign_certificate(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """With a CA, the CSR is checked and signed (:mod:`csms.services.certificates`); without
    one it is kept for an operator to answer with CertificateSigned."""
    if ctx.certificates.has_ca:
        return {"status": ctx.certificates.on_csr(conn.charge_point_id, p["csr"])}
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
