"""Device heartbeats: when (by our clock) and what a device last reported.

A device beats with its device key (role ``device``, :mod:`lockers.backoffice.device_keys`); a
kiosk login's token and an operator's still may. A key or a kiosk token names one device and may
beat for it alone: another device's code is ``DeviceNotFound``, as an unknown one is.

Only a device's first heartbeat or a change of its ``status`` is audited: a heartbeat a minute
per device would bury the log.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from lockers.audit import audit, now_utc
from lockers.errors import Invalid, NotFound
from lockers.gateway.rows import DEVICES
from lockers.scope import Viewer
from lockers.service import SiteService

HEARTBEAT_MAX_BYTES = 16_384  # the report is stored whole: a bound on what a device may write
BOUND = frozenset({"kiosk", "device"})  # roles whose token names the one device it may beat for


def _status(stored: str | None) -> str | None:
    """The ``status`` of a stored report (None when there is none, or the text is not ours)."""
    try:
        value = json.loads(stored) if stored else None
    except ValueError:
        return None
    return value.get("status") if isinstance(value, dict) else None


class Heartbeats:
    def __init__(self, sites: SiteService) -> None:
        self.engine = sites.engine

    async def record(self, device_code: str, report: dict[str, Any], viewer: Viewer) -> datetime:
        """Store ``report`` (JSON-ready, its ``status`` optional) as the device's last heartbeat and
        return when it was recorded. ``HeartbeatTooLarge`` past :data:`HEARTBEAT_MAX_BYTES`;
        ``DeviceNotFound`` for an unknown device, or for a kiosk or a device key another device
        than its own."""
        text = json.dumps(report, separators=(",", ":"), default=str)
        if len(text.encode()) > HEARTBEAT_MAX_BYTES:
            raise Invalid("HeartbeatTooLarge", f"a heartbeat body may hold {HEARTBEAT_MAX_BYTES} bytes")
        now = now_utc()
        async with self.engine.begin() as conn:
            device = (await conn.execute(select(DEVICES.c.id, DEVICES.c.heartbeat).where(
                DEVICES.c.code == device_code))).first()
            if device is None or (viewer.role in BOUND and device.id != viewer.device_id):
                raise NotFound("DeviceNotFound", f"no device {device_code!r}")
            await conn.execute(update(DEVICES).where(DEVICES.c.id == device.id).values(
                last_heartbeat_at=now, heartbeat=text))
            previous, status = _status(device.heartbeat), report.get("status")
            if device.heartbeat is None or previous != status:
                await audit(conn, viewer.name, "device.heartbeat", device_id=device.id,
                            status=status, previousStatus=previous)
        return now
