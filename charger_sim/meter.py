"""A connector's meter and the vehicle plugged into it.

The energy register only ever rises, by power × time; power follows the vehicle's charging curve
(flat, then tapering towards full) and is capped by the station and any charging profile; SoC
rises with the energy delivered; voltage and current stay consistent with power.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from charger_sim.template import Template

TRICKLE = 0.02  # share of max power still drawn just below 100 % SoC


@dataclass(slots=True)
class Vehicle:
    battery_wh: float
    soc: float
    max_power_w: float
    taper_from_soc: float

    def wanted_power(self) -> float:
        if self.soc >= 100:
            return 0.0
        if self.soc <= self.taper_from_soc:
            return self.max_power_w
        share = (100 - self.soc) / (100 - self.taper_from_soc)
        return self.max_power_w * max(TRICKLE, share)


class Meter:
    __slots__ = ("template", "rng", "energy_wh", "power_w", "vehicle", "voltage", "_last")

    def __init__(self, template: Template, rng: random.Random) -> None:
        self.template = template
        self.rng = rng
        self.energy_wh = float(rng.randint(0, 50_000))
        self.power_w = 0.0
        self.vehicle: Vehicle | None = None
        self.voltage = template.voltage
        self._last: float | None = None

    def plug_in(self) -> None:
        ev = self.template.ev
        low, high = ev.initial_soc
        self.vehicle = Vehicle(ev.battery_wh, self.rng.uniform(low, high), ev.max_power_w,
                               ev.taper_from_soc)

    def unplug(self) -> None:
        self.vehicle = None
        self.power_w = 0.0

    def advance(self, now: float, charging: bool, limit_w: float | None) -> None:
        """Integrate energy since the last call, then set the power for the next interval."""
        if self._last is not None and self.power_w > 0:
            delivered = self.power_w * (now - self._last) / 3600.0
            self.energy_wh += delivered
            if self.vehicle is not None:
                self.vehicle.soc = min(100.0, self.vehicle.soc + delivered / self.vehicle.battery_wh * 100)
        self._last = now
        if not charging or self.vehicle is None:
            self.power_w = 0.0
            return
        power = min(self.vehicle.wanted_power(), self.template.max_power_w)
        if limit_w is not None:
            power = min(power, max(limit_w, 0.0))
        self.power_w = power
        self._wobble()

    def _wobble(self) -> None:
        t = self.template
        if t.current_type == "DC":
            soc = self.vehicle.soc if self.vehicle else 50.0
            self.voltage = 350 + soc * 0.6 + self.rng.uniform(-1, 1)
        else:
            self.voltage = t.voltage + self.rng.uniform(-2, 2)

    @property
    def current_a(self) -> float:
        phases = self.template.phases if self.template.current_type == "AC" else 1
        return self.power_w / (self.voltage * phases) if self.voltage else 0.0

    @property
    def soc(self) -> float | None:
        return None if self.vehicle is None else self.vehicle.soc

    def sample(self, measurands: list[str], context: str) -> list[dict[str, str]]:
        """The sampledValue list for these measurands (unknown ones are skipped)."""
        values: list[dict[str, str]] = []
        for m in measurands:
            if m == "Energy.Active.Import.Register":
                values.append({"value": f"{self.energy_wh:.0f}", "measurand": m, "unit": "Wh"})
            elif m == "Power.Active.Import":
                values.append({"value": f"{self.power_w:.0f}", "measurand": m, "unit": "W"})
            elif m == "Current.Import":
                values.append({"value": f"{self.current_a:.1f}", "measurand": m, "unit": "A"})
            elif m == "Voltage":
                values.append({"value": f"{self.voltage:.1f}", "measurand": m, "unit": "V"})
            elif m == "SoC" and self.vehicle is not None:
                values.append({"value": f"{self.vehicle.soc:.0f}", "measurand": m, "unit": "Percent",
                               "location": "EV"})
            else:
                continue
            values[-1]["context"] = context
        return values
