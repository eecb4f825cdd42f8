"""The locker sites wired to the central system, for bridges that run elsewhere.

A bridge at the locker site (``chargebay bridge``) shares no process and no database with us: its
bays are charge points of the CSMS like any other. So the sites reach them the way a CSMS reaches
a charge point, over OCPP: an open is a DataTransfer ``OpenLocker`` routed to the bay's socket
(on whichever node holds it), and the bays tell us where they are wired (``BayInfo``) and what
their doors do (``DoorEvent``) through DataTransfer of their own, answered here. Those door
events, the opens and the bays' connections become lock events on the central system's bus
(:mod:`lockers.lock_alerts`), wired here too.
"""

from __future__ import annotations

import json
from typing import Any

from csms.central import CentralSystem
from locker_bridge.handlers import VENDOR_ID
from locker_bridge.service import BusError
from lockers.bays import Position, RemoteUnavailable
from lockers.lock_alerts import LockAlerts
from lockers.service import SiteService

# An open waits for OPEN_DOOR and the read-back on a busy RS-485 bus at the site.
OPEN_TIMEOUT_S = 15.0


class OcppBays:
    """:class:`~lockers.bays.RemoteBays` over the central system's commands."""

    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    async def _transfer(self, identity: str, message_id: str, data: dict[str, Any],
                        timeout: float | None = None) -> tuple[str, dict[str, Any]]:
        """DataTransfer to the bay: (status, its data as an object); a bay that is not connected
        or is no locker bay is RemoteUnavailable, one that does not answer (or answers nonsense)
        a BusError, as a silent board would be."""
        outcome = await self.central.commands.send(
            identity, "DataTransfer", {"vendorId": VENDOR_ID, "messageId": message_id,
                                       "data": json.dumps(data)},
            timeout=timeout, requested_by="locker sites")
        if outcome.kind == "offline":
            raise RemoteUnavailable(f"no bridge drives this locker: charge point {identity} is "
                                    "not connected")
        if outcome.kind != "result" or outcome.payload is None:
            raise BusError(f"bay {identity} did not answer {message_id} ({outcome.kind}: "
                           f"{outcome.error_code or ''} {outcome.description or ''})".strip())
        status = outcome.payload["status"]
        if status not in ("Accepted", "Rejected"):
            raise RemoteUnavailable(f"charge point {identity} is no locker bay ({status})")
        try:
            answer = json.loads(outcome.payload.get("data") or "{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BusError(f"bay {identity} answered {message_id} with data that is no JSON object")
        if answer.get("unavailable"):
            raise BusError(str(answer.get("error") or f"bay {identity}: the board did not answer"))
        return status, answer

    async def open(self, identity: str, position: Position) -> tuple[bool, dict[str, Any]]:
        """The position goes along, so a bay wired elsewhere than we think refuses to open."""
        status, reading = await self._transfer(
            identity, "OpenLocker",
            {"port": position.port, "address": position.address, "bay": position.bay},
            timeout=OPEN_TIMEOUT_S)
        return status == "Accepted", reading

    async def set_maintenance(self, identity: str, on: bool) -> None:
        status, answer = await self._transfer(identity, "Maintenance", {"on": on})
        if status != "Accepted":
            raise RemoteUnavailable(f"bay {identity} refused maintenance: {answer.get('error')}")


def wire(central: CentralSystem, sites: SiteService) -> None:
    """Let the sites answer the bays' DataTransfer, reach bays of bridges elsewhere and publish
    lock events on the central system's bus (a bay's connection is one of the central system's
    events, watched where it happened: once in a cluster)."""
    central.vendor_extensions[VENDOR_ID] = sites.vendor_extension
    sites.remote = OcppBays(central)
    sites.alerts = LockAlerts(sites.engine, central.events, sites.record)
    central.events.watch_local(sites.alerts.watch)
