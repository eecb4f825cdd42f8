"""The locker sites wired to the central system, for bridges that run elsewhere.

A bridge at the locker site (``chargebay bridge``) shares no process and no database with us: its
bays are charge points of the CSMS like any other. So the sites reach them the way a CSMS reaches
a charge point, over OCPP: an open is a DataTransfer ``OpenLocker`` routed to the bay's socket
(on whichever node holds it), and the bays tell us where they are wired (``BayInfo``) and what
their doors do (``DoorEvent``) through DataTransfer of their own, answered here.
"""

from __future__ import annotations

import json
from typing import Any

from csms.central import CentralSystem
from locker_bridge.bus import BusError
from locker_bridge.handlers import VENDOR_ID
from locker_bridge.sites.service import Position, RemoteUnavailable, SiteService

# An open waits for OPEN_DOOR and the read-back on a busy RS-485 bus at the site.
OPEN_TIMEOUT_S = 15.0


class OcppBays:
    """:class:`~locker_bridge.sites.service.RemoteBays` over the central system's commands."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    async def open(self, identity: str, position: Position) -> tuple[bool, dict[str, Any]]:
        """The position goes along, so a bay wired elsewhere than we think refuses to open."""
        data = {"port": position.port, "address": position.address, "bay": position.bay}
        outcome = await self.central.commands.send(
            identity, "DataTransfer", {"vendorId": VENDOR_ID, "messageId": "OpenLocker",
                                       "data": json.dumps(data)},
            timeout=OPEN_TIMEOUT_S, requested_by="locker sites")
        if outcome.kind == "offline":
            raise RemoteUnavailable(f"no bridge drives this locker: charge point {identity} is "
                                    "not connected")
        if outcome.kind != "result" or outcome.payload is None:
            raise BusError(f"bay {identity} did not answer the open ({outcome.kind}: "
                           f"{outcome.error_code or ''} {outcome.description or ''})".strip())
        status = outcome.payload["status"]
        if status not in ("Accepted", "Rejected"):
            raise RemoteUnavailable(f"charge point {identity} is no locker bay ({status})")
        reading: dict[str, Any] = json.loads(outcome.payload.get("data") or "{}")
        return status == "Accepted", reading


    async def set_available(self, identity: str, available: bool) -> None:
        outcome = await self.central.commands.send(
            identity, "ChangeAvailability",
            {"connectorId": 0, "type": "Operative" if available else "Inoperative"},
            requested_by="locker sites")
        if outcome.kind != "result" or outcome.payload is None:
            raise RemoteUnavailable(f"bay {identity}: ChangeAvailability {outcome.kind}")
        if outcome.payload["status"] == "Rejected":
            raise RemoteUnavailable(f"bay {identity} rejected ChangeAvailability")


def wire(central: CentralSystem, sites: SiteService) -> None:
    """Let the sites answer the bays' DataTransfer and reach bays of bridges elsewhere."""
    central.vendor_extensions[VENDOR_ID] = sites.vendor_extension
    sites.remote = OcppBays(central)
