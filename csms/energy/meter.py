"""What a session draws, from the sampled values of a MeterValues or TransactionEvent.

Charge points report power as ``Power.Active.Import`` (W or kW; a total, or one value per phase)
and current as ``Current.Import`` (A per phase). Power is taken when there is any; otherwise the
currents of the phases named, turned into watts at the nominal voltage. Returns None when neither is there (an
energy register alone says nothing about the draw now).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from csms.energy.allocator import NOMINAL_VOLTS

_SCALE = {"W": 1.0, "kW": 1000.0, "A": 1.0}


def _value(sample: Mapping[str, Any]) -> float | None:
    """1.6: a string value and ``unit``; 2.0.1: a number and ``unitOfMeasure`` (unit, multiplier)."""
    measure = sample.get("unitOfMeasure") or {}
    unit = sample.get("unit") or measure.get("unit") or ""
    try:
        return float(sample["value"]) * _SCALE.get(unit, 1.0) * 10.0 ** int(measure.get("multiplier", 0))
    except (KeyError, TypeError, ValueError):
        return None


def draw_watts(sampled: Iterable[Mapping[str, Any]]) -> float | None:
    """The draw in watts of one meter value's ``sampledValue`` list (1.6 and 2.0.1 alike)."""
    power: dict[str | None, float] = {}
    current: dict[str | None, float] = {}
    for sample in sampled:
        measurand = sample.get("measurand")
        into = power if measurand == "Power.Active.Import" else current if measurand == "Current.Import" else None
        value = _value(sample)
        if into is None or value is None:
            continue
        phase = sample.get("phase")
        if phase is not None and phase.endswith("-N"):
            phase = phase[:-2]
        into[phase] = value
    # a current without a phase says not how many phases carry it: it is not used (a 3-phase
    # charger's taken for one phase would look like an EV taking a third of its share)
    current.pop(None, None)
    for found, per_phase_volts in ((power, 1.0), (current, NOMINAL_VOLTS)):
        if not found:
            continue
        if None in found:  # a total
            return found[None] * per_phase_volts
        return sum(v for p, v in found.items() if p in ("L1", "L2", "L3")) * per_phase_volts
    return None
