"""Security whitepaper messages a charge point sends: events, CSRs and log upload status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csms.handlers import handles
from csms.handlers.core import notification
from csms.store.models import Notification

if TYPE_CHECKING:
    from csms.connection import Connection

_NOTIFICATIONS = Notification.__table__


@handles("SecurityEventNotification")
async def security_event(conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    conn.central.writer.insert(_NOTIFICATIONS, notification(
        conn, "security_event", p["type"], None, p["timestamp"], p.get("techInfo")))
    conn.central.events.publish("security_event", conn.charge_point_id, event=p["type"])
    return {}


@handles("SignCertificate")
async def sign_certificate(conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    """The CSR is kept for an operator (or a CA integration) to answer with CertificateSigned."""
    await conn.central.writer.save(_NOTIFICATIONS, [notification(
        conn, "sign_certificate", "Pending", None, None, p["csr"])])
    conn.central.events.publish("sign_certificate", conn.charge_point_id)
    return {"status": "Accepted"}


@handles("LogStatusNotification")
async def log_status(conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    conn.central.writer.insert(_NOTIFICATIONS, notification(
        conn, "log", p["status"], p.get("requestId"), None, None))
    conn.central.events.publish("log", conn.charge_point_id, status=p["status"],
                                request_id=p.get("requestId"))
    return {}
