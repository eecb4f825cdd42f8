"""A locker bay as a virtual OCPP 1.6 charge point with one connector.

:class:`VirtualChargePoint` is what the bridge service creates per bay: a behaviour on the shared
:mod:`chargepoint` client. Its parts: the life with the CSMS and the bay's status
(:mod:`locker_bridge.bay_point`), transactions and what the board reports
(:mod:`locker_bridge.bay_transactions`), what it answers (:mod:`locker_bridge.handlers`) and what
a bay that kept no state asks after its first boot (:mod:`locker_bridge.recovery`). Availability
(ChangeAvailability, maintenance) is kept in the bridge's store, transaction messages in the
durable outbox, so both survive a CSMS outage and a bridge restart.
"""

from __future__ import annotations

from typing import Any

from chargepoint.errors import Offline
from chargepoint.handlers import Handlers
from chargepoint.times import iso
from locker_bridge import handlers
from locker_bridge.bay_limits import BayLimits
from locker_bridge.bay_settings import Settings
from locker_bridge.reach import CsmsReach
from locker_bridge.recovery import reconcile_with_csms

__all__ = ["CsmsReach", "Offline", "Settings", "VirtualChargePoint", "iso"]


class VirtualChargePoint(BayLimits):
    """One bay, connected as its own charge point."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answer_with(self.handlers)

    def answer_with(self, on: Handlers) -> None:
        """Fill the answers to the CSMS's calls (a 2.0.1 bay answers 2.0.1's)."""
        handlers.register(self, on)

    async def _after_boot(self) -> None:
        if self.ask_csms:
            await reconcile_with_csms(self)
        await super()._after_boot()
