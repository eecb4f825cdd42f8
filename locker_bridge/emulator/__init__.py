"""A bus of emulated locker controller boards on the far side of a pseudo-terminal.

Why: the bridge, its tests and the benchmark need boards that speak the real wire format over a
real serial device — pyserial opens the pty's slave side exactly as it opens ``/dev/ttyUSB0`` —
with every misbehaviour a robust driver must survive available on demand. The model
(:class:`Board`, :class:`Bay`, :class:`Device`) knows nothing about frames; :class:`Emulator` does
the framing through a :class:`~locker_bridge.protocol.Profile`, the line timing and the faults.
"""

from locker_bridge.emulator.board import Board, bitmap
from locker_bridge.emulator.cli import fill_with_devices, parse_fault, run_cli, serve_until_signalled
from locker_bridge.emulator.faults import EmulatorStats, Fault, FaultRule
from locker_bridge.emulator.line import Emulator, point
from locker_bridge.emulator.model import Bay, ChargeState, Device, SimClock

__all__ = ["Bay", "Board", "ChargeState", "Device", "Emulator", "EmulatorStats", "Fault", "FaultRule",
           "SimClock", "bitmap", "fill_with_devices", "parse_fault", "point", "run_cli",
           "serve_until_signalled"]
