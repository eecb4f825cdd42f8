"""What an emulated board holds, without frames: a simulated clock, devices that charge, bays
with a door, an item sensor and an outlet."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from locker_bridge.protocol import Event

MAX_BOARDS = 31
MAX_BAYS = 48
MAX_STEP = 1.0  # simulated seconds per integration step: fine enough for a 5 s power ramp
TICK = 0.05  # real seconds between checks for door timers, boot completion and pending events
COMMANDS = frozenset({"START_CHARGING", "STOP_CHARGING", "CHARGING_STATUS", "OPEN_DOOR",
                      "LOCKER_STATUS", "BOARD_STATUS"})


class ChargeState(IntEnum):
    """The state byte of a CHARGING_STATUS reply."""

    OFF = 0
    CHARGING = 1
    IDLE = 2  # outlet on but nothing drawing: no device, or its battery is full
    FAULT = 3


class SimClock:
    """Simulated seconds: real time × ``speed``, plus whatever was skipped with :meth:`advance`.

    Why: a phone takes an hour to charge; tests and demos must see the whole curve in seconds.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()
        self._skipped = 0.0

    def __call__(self) -> float:
        return (time.monotonic() - self._start) * self.speed + self._skipped

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._skipped += seconds


@dataclass
class Device:
    """A battery behind a charger on a bay's outlet, as the outlet sees it.

    Constant power after a short ramp, a linear taper above ``taper_from``, then the charger
    stops at ``cutoff`` × max and only its standby draw remains: the CC/CV shape of real chargers,
    which gives the bridge all three CHARGING_STATUS answers (charging, tapering, on but idle).
    """

    capacity_wh: float
    max_power_w: float
    soc: float = 0.2
    ramp_s: float = 5.0
    taper_from: float = 0.8
    cutoff: float = 0.05
    idle_w: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.soc <= 1.0:
            raise ValueError("state of charge is a fraction 0..1")
        if not 0.0 < self.taper_from < 1.0 or self.capacity_wh <= 0 or self.max_power_w <= 0:
            raise ValueError("capacity and power must be positive, taper_from inside 0..1")

    @classmethod
    def phone(cls, soc: float = 0.2) -> Device:
        return cls(capacity_wh=15.0, max_power_w=20.0, soc=soc)

    @classmethod
    def ebike(cls, soc: float = 0.2) -> Device:
        return cls(capacity_wh=500.0, max_power_w=120.0, soc=soc, ramp_s=10.0, idle_w=1.5)

    @property
    def full(self) -> bool:
        return self.soc >= 1.0

    def power(self, powered_for: float) -> float:
        """Watts drawn ``powered_for`` seconds after the power came on."""
        if self.full:
            return self.idle_w
        ramp = min(1.0, powered_for / self.ramp_s) if self.ramp_s > 0 else 1.0
        return self.max_power_w * ramp * self._taper()

    def absorb(self, wh: float) -> None:
        if self.full:
            return
        self.soc = min(1.0, self.soc + wh / self.capacity_wh)
        if self._taper() < self.cutoff:
            self.soc = 1.0  # the charger terminates: from now on standby only

    def _taper(self) -> float:
        if self.soc <= self.taper_from:
            return 1.0
        return (1.0 - self.soc) / (1.0 - self.taper_from)


class Bay:
    """One compartment: door, item sensor, outlet and energy register.

    State changes the board would report on its own (door opened/closed, charging stopped) are
    passed to ``emit``; the methods without a request behind them are the "effect without command"
    faults (:meth:`open_door`, :meth:`close_door`, :meth:`stop_by_board`, :meth:`fail`).
    """

    def __init__(self, number: int, clock: Callable[[], float], emit: Callable[[int, Event], None],
                 door_close_after: float | None = 5.0, energy_wh: float = 0.0) -> None:
        self.number = number
        self.door_close_after = door_close_after  # simulated seconds; None: open until closed
        self.door_open = False
        self.item = False
        self.device: Device | None = None
        self.outlet_on = False
        self.switch_ons = 0  # times the outlet went on (a start that should not have been shows)
        self.broken = False
        self._clock = clock
        self._emit = emit
        self._energy_wh = energy_wh
        self._last = clock()
        self._powered_for = 0.0
        self._close_at: float | None = None

    def update(self) -> None:
        """Bring the battery, the energy register and the door timer up to the clock."""
        now = self._clock()
        dt, self._last = now - self._last, now
        while dt > 0 and self.outlet_on and self.device is not None:
            step = min(dt, MAX_STEP)
            wh = self.device.power(self._powered_for + step / 2) * step / 3600.0
            self._energy_wh += wh
            self.device.absorb(wh)
            self._powered_for += step
            dt -= step
        if self.door_open and self._close_at is not None and now >= self._close_at:
            self.close_door()

    @property
    def energy_wh(self) -> float:
        self.update()
        return self._energy_wh

    @property
    def energy_register(self) -> int:
        """What the board reports: whole Wh in a u32 that wraps."""
        return int(self.energy_wh) & 0xFFFFFFFF

    @property
    def power_w(self) -> float:
        self.update()
        if not self.outlet_on or self.device is None:
            return 0.0
        return self.device.power(self._powered_for)

    @property
    def state(self) -> ChargeState:
        self.update()
        if self.broken:
            return ChargeState.FAULT
        if not self.outlet_on:
            return ChargeState.OFF
        if self.device is None or self.device.full:
            return ChargeState.IDLE
        return ChargeState.CHARGING

    def switch_on(self) -> None:
        self.update()
        if not self.outlet_on:
            self.outlet_on = True
            self.switch_ons += 1
            self._powered_for = 0.0

    def switch_off(self) -> None:
        self.update()
        self.outlet_on = False

    def reset_register(self) -> None:
        self.update()
        self._energy_wh = 0.0

    def open_door(self) -> None:
        """Unlatch (by command, or on its own as a fault); it shuts after ``door_close_after``."""
        self.update()
        if self.door_close_after is not None:
            self._close_at = self._clock() + self.door_close_after
        if not self.door_open:
            self.door_open = True
            self._emit(self.number, Event.DOOR_OPENED)

    def close_door(self) -> None:
        if self.door_open:
            self.door_open = False
            self._close_at = None
            self._emit(self.number, Event.DOOR_CLOSED)

    def stop_by_board(self) -> None:
        """The board cuts the outlet on its own (overcurrent, say) and says so."""
        self.update()
        if self.outlet_on:
            self.outlet_on = False
            self._emit(self.number, Event.CHARGING_STOPPED)

    def fail(self) -> None:
        """Outlet or lock hardware fault: CHARGING_STATUS state 3, START/OPEN_DOOR get BAY_FAULT."""
        self.stop_by_board()
        self.broken = True

    def repair(self) -> None:
        self.broken = False

    def place(self, device: Device | None = None) -> None:
        """Put an item in the bay; ``device`` if it is plugged in to charge."""
        self.update()
        self.item = True
        self.device = device
        self._powered_for = 0.0

    def take(self) -> None:
        self.update()
        self.item = False
        self.device = None


