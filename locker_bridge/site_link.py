"""What a bridge at the locker site tells the CSMS beyond a charger's own messages.

Embedded in ``chargebay serve`` the bridge shares the process with the locker sites, which listen
to it directly. Run on its own (``chargebay bridge``), it has only its bays' OCPP connections, so
each bay says where it is wired (DataTransfer ``BayInfo``, after every boot) and what its door
does (``DoorEvent``: ``door`` open or closed, ``commanded`` whether an OPEN_DOOR sent for the bay
explains an opening), vendorId ``chargebay``: the CSMS keeps its locker records and audit log
from them. A CSMS without the extension answers UnknownVendorId, which is fine: a bay is a charge
point first.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any

from chargepoint.client import CALL_FAILED
from locker_bridge.charge_point import VirtualChargePoint
from locker_bridge.handlers import VENDOR_ID

if TYPE_CHECKING:
    from locker_bridge.service import BridgeService

log = logging.getLogger(__name__)


class SiteLink:
    def __init__(self, bridge: BridgeService) -> None:
        self.bridge = bridge
        bridge.door_listeners.append(self._door)
        for cp in bridge.cps.values():
            cp.boot_hooks.append(functools.partial(self.bay_info, cp))

    async def bay_info(self, cp: VirtualChargePoint) -> None:
        bay = cp.bay
        answer = await self._send(cp, "BayInfo", {"locker": bay.locker, "port": bay.port,
                                                  "address": bay.address, "bay": bay.number})
        if answer is not None and answer.get("status") == "Rejected":
            log.error("%s: the CSMS refused this bay's wiring: %s", cp.identity, answer.get("data"))

    def _door(self, identity: str, door_open: bool, commanded: bool) -> None:
        cp = self.bridge.cps.get(identity)
        if cp is not None:
            cp.spawn(self._send(cp, "DoorEvent", {"door": "open" if door_open else "closed",
                                                  "commanded": commanded}))

    async def _send(self, cp: VirtualChargePoint, message_id: str,
                    data: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await cp.call("DataTransfer", {"vendorId": VENDOR_ID, "messageId": message_id,
                                                  "data": json.dumps(data)})
        except CALL_FAILED as exc:
            log.info("%s: %s not reported to the CSMS (%r)", cp.identity, message_id, exc)
            return None
