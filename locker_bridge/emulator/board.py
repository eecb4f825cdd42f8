"""One emulated controller board: its bays, its boot, and what each command does to them."""

from __future__ import annotations

import struct
from collections.abc import Callable

from locker_bridge.emulator.model import COMMANDS, MAX_BAYS, MAX_BOARDS, Bay
from locker_bridge.protocol import Event, Status


class Board:
    """One controller board: its bays and the commands of the protocol, without framing."""

    def __init__(self, address: int, bays: int, clock: Callable[[], float],
                 door_close_after: float | None = 5.0) -> None:
        if not 1 <= address <= MAX_BOARDS or not 1 <= bays <= MAX_BAYS:
            raise ValueError(f"address 1..{MAX_BOARDS}, bays 1..{MAX_BAYS}")
        self.address = address
        self.bays = {n: Bay(n, clock, self._emit, door_close_after) for n in range(1, bays + 1)}
        self.events: list[tuple[int, Event]] = []  # (bay, event) not yet sent; bay 0 = board
        self.on_event: Callable[[], None] | None = None  # lets the bus send events promptly
        self.reboots = 0
        self._clock = clock
        self._boot_until: float | None = None

    def _emit(self, bay: int, event: Event) -> None:
        self.events.append((bay, event))
        if self.on_event is not None:
            self.on_event()

    def take_events(self) -> list[tuple[int, Event]]:
        events, self.events = self.events, []
        return events

    def update(self) -> None:
        self._finish_boot()
        for bay in self.bays.values():
            bay.update()

    @property
    def booting(self) -> bool:
        """A rebooting board hears nothing."""
        self._finish_boot()
        return self._boot_until is not None

    def reboot(self, down_for: float = 0.0, reset_registers: bool = False) -> None:
        """Restart: every outlet goes off; EVENT 4 once it is back after ``down_for`` seconds.
        ``reset_registers``: a board that keeps its energy registers in RAM counts from 0 again."""
        for bay in self.bays.values():
            bay.switch_off()
            if reset_registers:
                bay.reset_register()
        self.reboots += 1
        self._boot_until = self._clock() + down_for
        self._finish_boot()

    def _finish_boot(self) -> None:
        if self._boot_until is not None and self._clock() >= self._boot_until:
            self._boot_until = None
            self._emit(0, Event.BOARD_REBOOTED)

    def handle(self, command: str | None, bay_number: int, *, effect: bool = True) -> tuple[Status, bytes]:
        """Carry out one request; return its status and the reply DATA after the status byte.

        ``effect=False`` acknowledges without doing anything: the "ack without effect" fault.
        """
        if command not in COMMANDS:
            return Status.INVALID_COMMAND, b""
        if command == "BOARD_STATUS":
            if bay_number != 0:
                return Status.INVALID_BAY, b""
            self.update()
            bays = list(self.bays.values())
            return Status.OK, (bytes([len(bays)]) + bitmap([b.door_open for b in bays])
                               + bitmap([b.outlet_on for b in bays]))
        bay = self.bays.get(bay_number)
        if bay is None:
            return Status.INVALID_BAY, b""
        if command == "START_CHARGING":
            if bay.broken:
                return Status.BAY_FAULT, b""
            bay.update()
            if bay.door_open:
                return Status.DOOR_OPEN, b""
            if effect:
                bay.switch_on()
        elif command == "STOP_CHARGING":
            if effect:
                bay.switch_off()
        elif command == "CHARGING_STATUS":
            power = min(round(bay.power_w), 0xFFFF)
            return Status.OK, struct.pack("<BHI", bay.state, power, bay.energy_register)
        elif command == "OPEN_DOOR":
            if bay.broken:
                return Status.BAY_FAULT, b""
            if effect:
                bay.open_door()
        else:  # LOCKER_STATUS
            bay.update()
            return Status.OK, bytes([bay.door_open, bay.item])
        return Status.OK, b""


def bitmap(flags: list[bool]) -> bytes:
    """Bit 0 of the first byte is bay 1; ceil(count/8) bytes."""
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


