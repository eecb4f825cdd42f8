"""BootNotification, Heartbeat, StatusNotification and DataTransfer."""

from __future__ import annotations

from typing import Any, cast

import orjson
from sqlalchemy import Table

from csms.handlers import handles
from csms.handlers.context import ChargePointLink, Services
from csms.store.models import ChargePoint, Connector, Notification, StatusHistory
from csms.timeutil import iso, now_utc, parse_ts

_CP = cast(Table, ChargePoint.__table__)
_CONNECTORS = cast(Table, Connector.__table__)
_HISTORY = cast(Table, StatusHistory.__table__)
_NOTIFICATIONS = cast(Table, Notification.__table__)

_BOOT_FIELDS = {
    "chargePointVendor": "vendor", "chargePointModel": "model",
    "chargePointSerialNumber": "charge_point_serial", "chargeBoxSerialNumber": "charge_box_serial",
    "firmwareVersion": "firmware_version", "iccid": "iccid", "imsi": "imsi",
    "meterType": "meter_type", "meterSerialNumber": "meter_serial",
}
# DataTransfer messages of our own vendor id the central system answers itself (others go to the
# vendor extensions registered for it)
OWN_VENDOR_ID = "chargebay"
# While a charge point waits for an operator (Pending) it should come back soon.
_PENDING_RETRY = 30
# Connectors 1..MAX_TRACKED with open transactions are watched for their first status after a
# boot (one bit each).
MAX_TRACKED = 255


@handles("BootNotification")
async def boot_notification(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    status = conn.registration_status
    now = now_utc()
    values = {col: p.get(key) for key, col in _BOOT_FIELDS.items()}
    ctx.writer.update(_CP, "id", {"id": conn.charge_point_id, **values,
                                          "boot_status": status, "last_boot_at": now,
                                          "last_seen": now})
    ctx.events.publish("boot", conn.charge_point_id, status=status,
                       vendor=p["chargePointVendor"], model=p["chargePointModel"])
    interval = ctx.settings.heartbeat_interval if status == "Accepted" else _PENDING_RETRY
    if status == "Accepted":
        ctx.energy.connected(conn.charge_point_id)  # a member gets its failsafe limit again
    # the connectors whose first status after this boot may end a transaction it ran before
    open_on = sum(1 << c for c in await ctx.transactions.open_connectors(conn.charge_point_id)
                  if 1 <= c <= MAX_TRACKED)
    conn.booted_at, conn.unreported = now, open_on
    return {"status": status, "currentTime": iso(now), "interval": interval}


@handles("Heartbeat")
async def heartbeat(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": iso(now_utc())}


@handles("StatusNotification")
async def status_notification(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    now = now_utc()
    row = {
        "charge_point_id": conn.charge_point_id, "connector_id": p["connectorId"],
        "status": p["status"], "error_code": p["errorCode"], "info": p.get("info"),
        "vendor_id": p.get("vendorId"), "vendor_error_code": p.get("vendorErrorCode"),
        "timestamp": parse_ts(p.get("timestamp")),
    }
    writer = ctx.writer
    writer.upsert(_CONNECTORS, {**row, "updated_at": now}, ("charge_point_id", "connector_id"))
    writer.insert(_HISTORY, {**row, "received_at": now})
    ctx.events.publish("status", conn.charge_point_id, connector_id=p["connectorId"],
                       status=p["status"], error_code=p["errorCode"])
    connector = p["connectorId"]
    if ctx.energy.watches(conn.charge_point_id):
        ctx.energy.status(conn.charge_point_id, connector, p["status"])
    if 1 <= connector <= MAX_TRACKED and conn.unreported >> connector & 1:
        conn.unreported &= ~(1 << connector)
        if p["status"] == "Available" and conn.booted_at is not None:
            # rebooted and idle: what this connector ran before the boot is over
            await ctx.transactions.after_boot(conn.charge_point_id, connector,
                                              conn.booted_at)
    return {}


@handles("DataTransfer")
async def data_transfer(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """Kept in the notifications, then answered by the vendor extension registered for its
    vendorId (``CentralSystem.vendor_extensions``); without one the spec's answer applies."""
    ctx.writer.insert(_NOTIFICATIONS, notification(
        conn, "data_transfer", p["vendorId"], None, None, orjson.dumps(p).decode()))
    if p["vendorId"] == OWN_VENDOR_ID and p.get("messageId") == "OpenTransactions":
        # a charge point that lost its memory asks what we hold open for it (locker bays do)
        found = await ctx.transactions.open_on(conn.charge_point_id)
        return {"status": "Accepted", "data": orjson.dumps({"transactions": found}).decode()}
    extension = ctx.vendor_extensions.get(p["vendorId"])
    if extension is None:
        return {"status": "UnknownVendorId"}
    status, data = await extension(conn.charge_point_id, p.get("messageId"), p.get("data"))
    return {"status": status} if data is None else {"status": status, "data": data}


def notification(conn: ChargePointLink, kind: str, status: str | None, request_id: int | None,
                 timestamp: str | None, detail: str | None) -> dict[str, Any]:
    """A row of the notifications table (all keys present, as the batch insert needs)."""
    return {"charge_point_id": conn.charge_point_id, "kind": kind, "status": status,
            "request_id": request_id, "timestamp": parse_ts(timestamp), "detail": detail,
            "received_at": now_utc()}
