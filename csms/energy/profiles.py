"""The SetChargingProfile payloads the allocator sends, in each version's shape.

Why these profiles:

- A running session's share goes out as a **TxProfile** (stack level 1) that holds only for a
  lease (``validTo``, renewed while the central system runs). Should the central system go away,
  the share lapses and the charge point falls back to
- the member's **TxDefaultProfile** (stack level 0): its failsafe, recomputed beside the shares
  so that shares and failsafes never add up past a limit (:mod:`csms.energy.outage`): an outage
  freezes the allocation. It is sent when a member's charge point connects and whenever the
  failsafe moves. (Why not ChargePointMaxProfile: it caps the charge point while the central
  system is up too, so a share freed by others could never be handed to it.)

Both are ``Relative`` with one period from 0: they hold from the transaction's start (or now);
only the lease's ``validTo`` is read on the charge point's clock.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from csms.timeutil import iso

TX_STACK_LEVEL = 1
DEFAULT_STACK_LEVEL = 0
# Profile ids of the allocator: 1.6 and 2.0.1 replace a profile of the same id, so each outlet
# keeps one of each (a connector's ids are apart from any an operator is likely to pick).
_TX_BASE = 1_900_000_000
_DEFAULT_BASE = 1_950_000_000


def profile_ids(connector_id: int) -> tuple[int, int]:
    """The (TxProfile, TxDefaultProfile) ids the allocator uses on ``connector_id``."""
    return _TX_BASE + connector_id, _DEFAULT_BASE + connector_id


def _schedule(limit: float, unit: str, phases: int | None) -> dict[str, Any]:
    # rounded down to the 0.1 a charge point takes: the shares sent never add up past the limit
    period: dict[str, Any] = {"startPeriod": 0, "limit": math.floor(limit * 10 + 1e-6) / 10}
    if phases is not None and unit == "A":
        period["numberPhases"] = phases
    return {"chargingRateUnit": unit, "chargingSchedulePeriod": [period]}


def tx_profile_16(connector_id: int, transaction_id: int, limit: float, unit: str, phases: int | None,
                  valid_to: datetime) -> dict[str, Any]:
    return {"connectorId": connector_id, "csChargingProfiles": {
        "chargingProfileId": profile_ids(connector_id)[0], "transactionId": transaction_id,
        "stackLevel": TX_STACK_LEVEL, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "validTo": iso(valid_to), "chargingSchedule": _schedule(limit, unit, phases)}}


def default_profile_16(connector_id: int, limit: float, unit: str, phases: int | None) -> dict[str, Any]:
    return {"connectorId": connector_id, "csChargingProfiles": {
        "chargingProfileId": profile_ids(connector_id)[1], "stackLevel": DEFAULT_STACK_LEVEL,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": _schedule(limit, unit, phases)}}


def _schedule_201(profile_id: int, limit: float, unit: str, phases: int | None) -> list[dict[str, Any]]:
    return [{"id": profile_id, **_schedule(limit, unit, phases)}]


def tx_profile_201(evse_id: int, transaction_id: str, limit: float, unit: str, phases: int | None,
                   valid_to: datetime) -> dict[str, Any]:
    profile_id = profile_ids(evse_id)[0]
    return {"evseId": evse_id, "chargingProfile": {
        "id": profile_id, "stackLevel": TX_STACK_LEVEL, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative", "transactionId": transaction_id, "validTo": iso(valid_to),
        "chargingSchedule": _schedule_201(profile_id, limit, unit, phases)}}


def default_profile_201(evse_id: int, limit: float, unit: str, phases: int | None) -> dict[str, Any]:
    profile_id = profile_ids(evse_id)[1]
    return {"evseId": evse_id, "chargingProfile": {
        "id": profile_id, "stackLevel": DEFAULT_STACK_LEVEL, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": _schedule_201(profile_id, limit, unit, phases)}}


def accepted(payload: dict[str, Any] | None) -> bool:
    return bool(payload) and payload.get("status") == "Accepted"  # type: ignore[union-attr]
