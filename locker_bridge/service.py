"""The bridge as a service: one :class:`~locker_bridge.bus.Bus` per configured port.

The REST layer reaches the boards through this (the vendor's hex pass-through today; the
virtual charge points of each bay build on the same buses).
"""

from __future__ import annotations

import logging

from locker_bridge.bus import Bus, Priority
from locker_bridge.config import BridgeConfig
from locker_bridge.protocol import CB81, Profile, decode, from_hex, to_hex

log = logging.getLogger(__name__)


class UnknownPort(LookupError):
    pass


class BridgeService:
    def __init__(self, config: BridgeConfig, profile: Profile = CB81) -> None:
        self.config = config
        self.profile = profile
        self.buses = {name: Bus(name, port.device, profile, port.baudrate)
                      for name, port in config.ports.items()}

    async def start(self) -> None:
        for bus in self.buses.values():
            await bus.start()
        log.info("locker bridge: %d port(s), %d locker(s)", len(self.buses), len(self.config.lockers))

    async def close(self) -> None:
        for bus in self.buses.values():
            await bus.close()

    async def command(self, port: str, hex_code: str) -> str:
        """Send one complete frame given as hex on ``port``; return the reply as hex.

        Raises FrameError/ValueError for text that is not one valid frame, UnknownPort, or
        BusError when the port is down or the board does not answer.
        """
        raw = from_hex(hex_code)
        decode(raw, self.profile)  # refuse anything that is not one valid frame
        bus = self.buses.get(port)
        if bus is None:
            raise UnknownPort(port)
        reply = await bus.send_raw(raw, Priority.OPERATOR)
        return to_hex(reply.encode(self.profile))
