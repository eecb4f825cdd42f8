"""``chargebay emulator``: boards on a pty behind a stable symlink, until a signal."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from locker_bridge.emulator.faults import Fault
from locker_bridge.emulator.line import Emulator
from locker_bridge.emulator.model import Device
from locker_bridge.protocol import CB81


def fill_with_devices(emu: Emulator) -> None:
    """A phone in every odd bay, an e-bike battery in every even one: something to charge."""
    for board in emu.boards.values():
        for n, bay in board.bays.items():
            bay.place(Device.phone() if n % 2 else Device.ebike())


def parse_fault(spec: str) -> tuple[Fault, int | None]:
    """``NAME`` (every request) or ``NAME:COUNT`` (the next COUNT requests), as ``--fault`` of
    ``chargebay emulate-board`` takes it; ValueError names the faults there are."""
    name, colon, count = spec.partition(":")
    try:
        kind = Fault(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; one of: "
                         f"{', '.join(f.value for f in Fault)}") from None
    if not colon:
        return kind, None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{spec!r}: COUNT must be a whole number from 1")
    return kind, int(count)


async def serve_until_signalled(link: Path, boards: int, bays: int, *, line_timing: bool = False,
                                baudrate: int = 9600, speed: float = 1.0, devices: bool = False,
                                faults: Sequence[tuple[Fault, int | None]] = ()) -> None:
    """What ``chargebay emulate-board`` does: serve until SIGINT/SIGTERM, then clean up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    profile = replace(CB81, baudrate=baudrate)
    async with Emulator.on_pty(link=link, boards=boards, bays=bays, profile=profile,
                               line_timing=line_timing, speed=speed) as emu:
        if devices:
            fill_with_devices(emu)
        for kind, times in faults:
            emu.inject(kind, times=times)
        timing = f"paced at {baudrate} baud" if line_timing else "no line timing"
        injected = "".join(f", fault {kind.value}" + (f" x{times}" if times else "")
                           for kind, times in faults)
        print(f"emulating {boards} board(s) x {bays} bays on {emu.device} -> {link} ({timing}"
              f"{injected}); Ctrl-C to stop", flush=True)
        await stop.wait()
        s = emu.stats
    print(f"stopped: {s.requests} requests, {s.replies} replies, {s.events} events, "
          f"{s.ignored} ignored, {emu.parser.stats.checksum_errors} bad checksums, "
          f"{sum(s.faults.values())} faults injected", flush=True)


def run_cli(link: Path, boards: int, bays: int, *, line_timing: bool = False, baudrate: int = 9600,
            speed: float = 1.0, devices: bool = False,
            faults: Sequence[tuple[Fault, int | None]] = ()) -> None:
    """Entry point of ``chargebay emulate-board``: a clean message, not a traceback, for a bad --link."""
    try:
        asyncio.run(serve_until_signalled(link, boards, bays, line_timing=line_timing,
                                          baudrate=baudrate, speed=speed, devices=devices,
                                          faults=faults))
    except (FileExistsError, FileNotFoundError) as exc:
        print(f"error: --link {link}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
