"""Charging profiles (OCPP 1.6 smart charging) and the power limit they put on a connector.

Shared by the simulated stations (their meters are capped by it) and the locker bays (a limit
below the outlet's rated power switches it off): how a stack of profiles is read lands once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Rating:
    """What a connector's limits in amps mean in watts: its voltage and phases (a profile's
    ``numberPhases`` overrides them on AC; DC counts one), and the power it gives when no profile
    limits it."""

    voltage: float
    phases: int
    max_power_w: float
    ac: bool = True


PURPOSE_16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}


def profile_from_201(profile: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 ``chargingProfile`` in 1.6's shape, which :class:`Profiles` reads: its first
    schedule, 1.6's purpose names; ``transactionId`` stays the 2.0.1 one (a station maps it to
    its own if it keeps 1.6 ids)."""
    schedule = dict(profile["chargingSchedule"][0])
    schedule.pop("id", None)
    schedule.pop("salesTariff", None)
    found: dict[str, Any] = {
        "chargingProfileId": profile["id"], "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": PURPOSE_16.get(profile["chargingProfilePurpose"], profile["chargingProfilePurpose"]),
        "chargingProfileKind": profile["chargingProfileKind"], "chargingSchedule": schedule}
    for key in ("recurrencyKind", "validFrom", "validTo", "transactionId"):
        if key in profile:
            found[key] = profile[key]
    return found


def _ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class Profiles:
    """Installed profiles per connector (0 = the whole station)."""

    def __init__(self, rating: Rating) -> None:
        self.rating = rating
        self._profiles: dict[int, list[dict[str, Any]]] = {}

    def set(self, connector_id: int, profile: dict[str, Any], tx_id: int | str | None) -> str:
        purpose = profile["chargingProfilePurpose"]
        if purpose == "TxProfile" and (connector_id == 0 or tx_id is None):
            return "Rejected"
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return "Rejected"
        installed = [p for p in self._profiles.get(connector_id, [])
                     if not (p["chargingProfileId"] == profile["chargingProfileId"]
                             or (p["stackLevel"] == profile["stackLevel"]
                                 and p["chargingProfilePurpose"] == purpose))]
        installed.append(profile)
        self._profiles[connector_id] = installed
        return "Accepted"

    def clear(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
              stack_level: int | None) -> str:
        removed = False
        for cid, profiles in self._profiles.items():
            keep = []
            for p in profiles:
                match = (profile_id is not None and p["chargingProfileId"] == profile_id) or (
                    profile_id is None
                    and (connector_id is None or cid == connector_id)
                    and (purpose is None or p["chargingProfilePurpose"] == purpose)
                    and (stack_level is None or p["stackLevel"] == stack_level))
                removed |= match
                if not match:
                    keep.append(p)
            self._profiles[cid] = keep
        return "Accepted" if removed else "Unknown"

    def restore(self, installed: list[tuple[int, dict[str, Any]]]) -> None:
        """Profiles kept from before a restart (OCPP keeps them across a reboot)."""
        self._profiles = {}
        for connector_id, profile in installed:
            self._profiles.setdefault(connector_id, []).append(profile)

    def installed(self) -> list[tuple[int, dict[str, Any]]]:
        """Every installed profile with its connector (0: the whole station)."""
        return [(cid, p) for cid, profiles in sorted(self._profiles.items()) for p in profiles]

    def clear_tx_profiles(self, connector_id: int) -> None:
        self._profiles[connector_id] = [p for p in self._profiles.get(connector_id, [])
                                        if p["chargingProfilePurpose"] != "TxProfile"]

    def _to_watts(self, limit: float, unit: str, phases: int | None) -> float:
        if unit == "W":
            return limit
        r = self.rating
        n = (phases or r.phases) if r.ac else 1
        return limit * r.voltage * n

    def _period_limit(self, profile: dict[str, Any], now: datetime,
                      tx_start: datetime | None) -> float | None:
        valid_from, valid_to = profile.get("validFrom"), profile.get("validTo")
        if (valid_from and now < _ts(valid_from)) or (valid_to and now >= _ts(valid_to)):
            return None
        schedule = profile["chargingSchedule"]
        kind = profile["chargingProfileKind"]
        if kind == "Relative":
            start = tx_start or now
        elif schedule.get("startSchedule"):
            start = _ts(schedule["startSchedule"])
        else:
            start = now
        if kind == "Recurring" and start <= now:
            cycle = timedelta(days=7 if profile.get("recurrencyKind") == "Weekly" else 1)
            start += cycle * ((now - start) // cycle)
        offset = (now - start).total_seconds()
        if offset < 0 or ("duration" in schedule and offset >= schedule["duration"]):
            return None
        current = None
        for period in schedule["chargingSchedulePeriod"]:
            if period["startPeriod"] <= offset:
                current = period
        if current is None:
            return None
        return self._to_watts(float(current["limit"]), schedule["chargingRateUnit"],
                              current.get("numberPhases"))

    def _best(self, purpose: str, connector_ids: tuple[int, ...], now: datetime,
              tx_start: datetime | None, tx_id: int | str | None) -> float | None:
        candidates = sorted(
            (p for cid in connector_ids for p in self._profiles.get(cid, [])
             if p["chargingProfilePurpose"] == purpose
             and (purpose != "TxProfile" or p.get("transactionId") in (None, tx_id))),
            key=lambda p: -p["stackLevel"])
        for profile in candidates:
            limit = self._period_limit(profile, now, tx_start)
            if limit is not None:
                return limit
        return None

    def limit_w(self, connector_id: int, now: datetime, tx_start: datetime | None = None,
                tx_id: int | str | None = None) -> float | None:
        """The power cap on a connector now (None: no profile applies)."""
        tx_limit = None
        if tx_id is not None:
            tx_limit = self._best("TxProfile", (connector_id,), now, tx_start, tx_id)
        if tx_limit is None:
            tx_limit = self._best("TxDefaultProfile", (connector_id, 0), now, tx_start, tx_id)
        station = self._best("ChargePointMaxProfile", (0,), now, tx_start, tx_id)
        limits = [v for v in (tx_limit, station) if v is not None]
        return min(limits) if limits else None

    def composite(self, connector_id: int, duration: int, unit: str | None, now: datetime,
                  tx_start: datetime | None, tx_id: int | str | None) -> dict[str, Any]:
        """GetCompositeSchedule: the limit sampled each minute, merged into periods."""
        unit = unit or "W"
        r = self.rating
        divisor = 1.0 if unit == "W" else r.voltage * (r.phases if r.ac else 1)
        periods: list[dict[str, Any]] = []
        for offset in range(0, max(duration, 1), 60):
            limit = self.limit_w(connector_id, now + timedelta(seconds=offset), tx_start, tx_id)
            value = round((r.max_power_w if limit is None else limit) / divisor, 1)
            if not periods or periods[-1]["limit"] != value:
                periods.append({"startPeriod": offset, "limit": value})
        return {"duration": duration, "startSchedule": now.isoformat().replace("+00:00", "Z"),
                "chargingRateUnit": unit, "chargingSchedulePeriod": periods}
