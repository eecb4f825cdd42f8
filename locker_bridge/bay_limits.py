"""A locker bay's outlet under charging profiles (issue #19): a switch, not a dimmer.

A bay's outlet is on or off, so a profile's limit is read as a switch: a limit below the outlet's
rated power turns it off (the transaction goes on, the bay reports SuspendedEVSE), a limit at or
above it (or none) turns it on again. A cabinet on one circuit thus charges as many bays as its
load group fits and queues the rest. The profiles are read as any charge point's
(:mod:`chargepoint.smart_charging`: stack levels, TxProfile over TxDefaultProfile, validity) and
kept in the bridge's store, as OCPP keeps them across a reboot.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from chargepoint.smart_charging import Profiles, Rating
from locker_bridge.bay import BoardError, Outlet, Tx
from locker_bridge.bay_transactions import BayTransactions
from locker_bridge.bus import BusError

log = logging.getLogger("locker_bridge")
NOMINAL_VOLTS = 230.0
DEFAULT_RATED_W = 500.0  # a bay outlet's rated power unless the locker's configuration says


def _started(tx: Tx) -> datetime | None:
    try:
        value = datetime.fromisoformat(tx.started.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class BayLimits(BayTransactions):
    """Charging profiles, and the outlet switched to follow them."""

    def __init__(self, *args: Any, rated_w: float = DEFAULT_RATED_W,
                 profiles: list[tuple[int, dict[str, Any]]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rated_w = rated_w
        self.profiles = Profiles(Rating(NOMINAL_VOLTS, 1, rated_w))
        self.profiles.restore(profiles or [])

    def tx_key(self, tx: Tx) -> int | str:
        """The id a TxProfile names the transaction by (a 2.0.1 bay: its own)."""
        return tx.station_id if tx.station_id is not None else tx.id

    def limit_w(self, tx: Tx | None) -> float | None:
        return self.profiles.limit_w(1, datetime.now(UTC), _started(tx) if tx else None,
                                     self.tx_key(tx) if tx else None)

    def may_charge(self, tx: Tx | None) -> bool:
        limit = self.limit_w(tx)
        return limit is None or limit >= self.rated_w - 0.5

    async def set_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile: install it, keep it, and switch the outlet as it now says."""
        if connector_id not in (0, 1):
            return "Rejected"
        tx = self.bay.tx
        status = self.profiles.set(connector_id, profile, self.tx_key(tx) if tx else None)
        if status == "Accepted":
            await self.store.save_profiles(self.identity, self.profiles.installed())
            self.spawn(self.apply_limit())
        return status

    async def clear_profiles(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
                             stack_level: int | None) -> str:
        status = self.profiles.clear(profile_id, connector_id, purpose, stack_level)
        if status == "Accepted":
            await self.store.save_profiles(self.identity, self.profiles.installed())
            self.spawn(self.apply_limit())
        return status

    async def transaction_over(self) -> None:
        """Its TxProfiles end with it."""
        before = self.profiles.installed()
        self.profiles.clear_tx_profiles(1)
        if self.profiles.installed() != before:
            await self.store.save_profiles(self.identity, self.profiles.installed())

    def limit_due(self) -> bool:
        """The outlet is not as the profiles say (one lapsed, say): a poll calls :meth:`apply_limit`."""
        tx = self.bay.tx
        return tx is not None and not self.lock.locked() and self.may_charge(tx) == self.bay.paused

    async def apply_limit(self) -> None:
        """Switch the outlet of a running transaction off (paused) or on as the limit says."""
        async with self.lock:
            bay, tx = self.bay, self.bay.tx
            if tx is None:
                return
            allowed = self.may_charge(tx)
            try:
                if allowed and bay.paused:
                    reading = await self.switch_on()
                    if isinstance(reading, str):
                        log.warning("%s: the limit allows charging again, but %s", self.identity, reading)
                        return
                    bay.paused = False
                    log.info("%s: charging again (limit %s W)", self.identity, self.limit_w(tx))
                elif not allowed and not bay.paused:
                    await bay.request("STOP_CHARGING")
                    if (await bay.read_charging()).state != Outlet.OFF:
                        log.warning("%s: STOP_CHARGING for the limit, but the outlet is on", self.identity)
                        return
                    bay.paused = True
                    log.info("%s: outlet off, the limit (%s W) is under its %s W", self.identity,
                             self.limit_w(tx), self.rated_w)
            except (BusError, BoardError) as exc:  # the next poll tries again
                log.warning("%s: the outlet could not follow the limit: %s", self.identity, exc)
            finally:
                self.refresh()
