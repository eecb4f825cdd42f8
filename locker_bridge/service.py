"""The bridge as a service: buses per port, a poller per board, a virtual charge point per bay.

The REST layer reaches the boards through this: the vendor's hex pass-through and the typed
per-bay operations, which share the bay's bus queue and its transaction lock with the OCPP side.
The locker back office puts bays in and out of maintenance here (:meth:`BridgeService.set_maintenance`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chargepoint.outbox import kept_version
from common.durable import DurableQueue
from common.settings import get_settings
from locker_bridge.bay import Bay, BoardError
from locker_bridge.bay201 import VirtualChargingStation
from locker_bridge.bay_limits import DEFAULT_RATED_W
from locker_bridge.board import BoardPoller
from locker_bridge.bus import Bus, BusError, Priority
from locker_bridge.charge_point import CsmsReach, VirtualChargePoint
from locker_bridge.config import HEX_FIELDS, BridgeConfig
from locker_bridge.handlers import open_door
from locker_bridge.protocol import CB81, Frame, Profile, decode, from_hex, to_hex
from locker_bridge.site_link import SiteLink
from locker_bridge.store import BridgeStore

log = logging.getLogger(__name__)

# What a caller of the service may catch: the back office (``lockers``) reaches the boards only
# through this module, never the serial internals themselves (an import-linter contract).
__all__ = ["BoardError", "BridgeService", "BusError", "UnknownBay", "UnknownPort"]


class UnknownPort(LookupError):
    pass


class UnknownBay(LookupError):
    pass


class BridgeService:
    def __init__(self, config: BridgeConfig, profile: Profile = CB81,
                 csms_url: str | None = None, data_dir: Path | None = None) -> None:
        self.config = config
        self.profile = profile
        self.csms_url = csms_url or config.csms_url
        self.buses = {name: Bus(name, port.device, profile, port.baudrate,
                                on_unsolicited=functools.partial(self._unsolicited, name))
                      for name, port in config.ports.items()}
        self.state_path = config.state_path(data_dir or get_settings().data_dir)
        self.queue = DurableQueue(self.state_path)
        self.store = BridgeStore(self.queue)
        self._restored = self.store.load()
        self._availability = self.store.load_availability()
        self._starting = self.store.load_starting()
        self._profiles = self.store.load_profiles()  # the charging profiles each bay holds
        self.reach = CsmsReach()  # one word per bridge on an unreachable CSMS, not one per bay
        self.cps: dict[str, VirtualChargePoint] = {}
        self.pollers: dict[tuple[str, int], BoardPoller] = {}
        # told of every door change: (identity, door open, an OPEN_DOOR sent for it explains it)
        self.door_listeners: list[Callable[[str, bool, bool], None]] = []
        self._runs: list[asyncio.Task[None]] = []
        self._started = False
        for locker in config.lockers:
            for number in locker.bay_numbers():
                options = config.bay(locker, number)
                self.add_bay(config.identity_of(locker, number), locker.name, locker.port,
                             locker.address, number, {f: getattr(options, f) for f in HEX_FIELDS},
                             unlock_opens_door=options.unlock_opens_door,
                             ocpp_version=locker.ocpp_version or config.ocpp_version,
                             outlet_w=options.outlet_w or locker.outlet_w)

    def _outlet_w(self, port: str, address: int) -> float:
        """The rated outlet power of the YAML's locker on ``port`` and ``address`` (a bay entered in
        the back office), else the default."""
        return next((lk.outlet_w for lk in self.config.lockers if lk.port == port and lk.address == address),
                    DEFAULT_RATED_W)

    def add_bay(self, identity: str, locker: str, port: str, address: int, number: int,
                codes: dict[str, str | None] | None = None, *,
                unlock_opens_door: bool = False, ocpp_version: str | None = None,
                outlet_w: float | None = None) -> VirtualChargePoint:
        """Drive one more bay (from the YAML, or entered in the locker back office); it connects
        to the CSMS and joins its board's polling at once when the bridge is running."""
        if identity in self.cps:
            return self.cps[identity]
        if port not in self.buses:
            raise UnknownPort(port)
        bay = Bay(identity, locker, port, self.buses[port], address, number, codes or {},
                  suspended_below_w=self.config.suspended_ev_below_w,
                  suspended_after=self.config.suspended_ev_after)
        bay.operative, bay.maintenance = self._availability.pop(identity, (True, False))
        # a bay entered in the back office speaks its locker's version (the YAML's locker on the
        # same port and board address, whatever the back office calls it), else the bridge's
        if ocpp_version is None:
            ocpp_version = next((lk.ocpp_version for lk in self.config.lockers
                                 if lk.port == port and lk.address == address), None)
        ocpp_version = self._version_kept(identity, ocpp_version or self.config.ocpp_version)
        kind = VirtualChargingStation if ocpp_version == "2.0.1" else VirtualChargePoint
        cp = kind(bay, self.csms_url, self.queue, self.store, reach=self.reach,
                                meter_interval=self.config.meter_interval,
                                full_timeout=self.config.stop_when_full_after,
                                unlock_opens_door=unlock_opens_door,
                                rated_w=outlet_w or self._outlet_w(port, address),
                                profiles=self._profiles.pop(identity, None))
        cp.on_door_event = self._door_event
        if identity in self._restored:
            cp.restore(self._restored.pop(identity))
        if identity in self._starting:
            self._starting.discard(identity)
            cp.interrupted_start = True
        self.cps[identity] = cp
        poller = self.pollers.get((port, address))
        if poller is None:
            poller = self.pollers[(port, address)] = BoardPoller(
                self.buses[port], address, [cp], self.config.poll_interval)
            if self._started:
                asyncio.ensure_future(poller.start())
        else:
            poller.cps[number] = cp
        if self._started:
            self._runs.append(asyncio.create_task(cp.run(), name=f"bay-{identity}"))
        return cp

    def _version_kept(self, identity: str, wanted: str) -> str:
        """The version the bay speaks: ``wanted``, unless its state file holds a transaction or
        queued transaction messages of the other version, which it could neither send nor end in
        this one: then that version, until they are done (an ERROR says so; restart the bridge
        once the transaction has ended to switch)."""
        pending: list[tuple[int, str, dict[str, Any]]] = [(seq, action, {}) for seq, action in self.queue.read_sync(
            "SELECT seq, action FROM queue WHERE station = ?", (identity,))]
        restored = self._restored.get(identity)
        kept = kept_version(pending, [restored.to_json()] if restored is not None else [])
        if kept is None or kept == wanted:
            return wanted
        log.error("%s: configured for OCPP %s, but its transaction messages or open transaction are OCPP %s: "
                  "it speaks %s until they are done; restart the bridge after that to switch", identity, wanted,
                  kept, kept)
        return kept

    def _door_event(self, identity: str, door_open: bool, commanded: bool) -> None:
        for listener in self.door_listeners:
            listener(identity, door_open, commanded)

    async def start(self) -> None:
        for bus in self.buses.values():
            await bus.start()
        for poller in self.pollers.values():
            await poller.start()
        self._runs = [asyncio.create_task(cp.run(), name=f"bay-{cp.identity}") for cp in self.cps.values()]
        self._started = True
        log.info("locker bridge: %d port(s), %d board(s), %d bay(s) as charge points at %s; "
                 "state in %s", len(self.buses), len(self.pollers), len(self.cps), self.csms_url,
                 self.state_path)

    async def close(self) -> None:
        for poller in self.pollers.values():
            await poller.close()
        await asyncio.gather(*(cp.close() for cp in self.cps.values()))
        for task in self._runs:
            task.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        for bus in self.buses.values():
            await bus.close()
        self.queue.close()

    async def ready(self) -> None:
        """Every board read once (and every restored transaction reconciled)."""
        await asyncio.gather(*(p.ready() for p in self.pollers.values()))

    def _unsolicited(self, port: str, frame: Frame) -> None:
        if frame.command != self.profile.opcode("EVENT"):
            return  # a late reply or a stranger's answer: the bus counted it
        poller = self.pollers.get((port, frame.address))
        if poller is not None:
            poller.on_event(frame)

    # -- the vendor's pass-through ---------------------------------------------------------------
    async def command(self, port: str, hex_code: str) -> str:
        """Send one complete frame given as hex on ``port``; return the reply as hex.

        Raises FrameError/ValueError for text that is not one valid frame, UnknownPort, or
        BusError when the port is down or the board does not answer.
        """
        raw = from_hex(hex_code)
        frame = decode(raw, self.profile)  # refuse anything that is not one valid frame
        bus = self.buses.get(port)
        if bus is None:
            raise UnknownPort(port)
        poller = self.pollers.get((port, frame.address))
        cp = poller.cps.get(frame.bay) if poller is not None else None
        if cp is not None and frame.command == self.profile.opcode("OPEN_DOOR"):
            cp.bay.open_sent()  # the door that opens now is this command's doing, not forced
        reply = await bus.send_raw(raw, Priority.OPERATOR)
        return to_hex(reply.encode(self.profile))

    # -- bays ------------------------------------------------------------------------------------
    def cp(self, identity: str) -> VirtualChargePoint:
        try:
            return self.cps[identity]
        except KeyError:
            raise UnknownBay(identity) from None

    def cabin(self, identity: str) -> dict[str, Any]:
        cp = self.cp(identity)
        return {**cp.bay.snapshot(), "connected": cp.booted.is_set(), "queued": len(cp.outbox)}

    def cabins(self, locker: str | None = None) -> list[dict[str, Any]]:
        return [self.cabin(identity) for identity, cp in self.cps.items()
                if locker is None or cp.bay.locker == locker]

    async def open(self, identity: str) -> tuple[bool, dict[str, Any]]:
        return await open_door(self.cp(identity))

    async def locker_status(self, identity: str) -> dict[str, Any]:
        return (await self.cp(identity).bay.read_door()).to_json()

    async def charging_status(self, identity: str) -> dict[str, Any]:
        return (await self.cp(identity).read_outlet()).to_json()

    async def start_charging(self, identity: str, id_tag: str) -> tuple[bool, str]:
        return await self.cp(identity).start_transaction(id_tag, authorize=True)

    async def stop_charging(self, identity: str) -> tuple[bool, str]:
        return await self.cp(identity).stop_transaction("Local")

    async def set_maintenance(self, identity: str, on: bool) -> None:
        """Put a bay in maintenance or take it out (the locker back office): its charge point
        reports Unavailable and takes no transaction meanwhile, like ChangeAvailability
        Inoperative, a running transaction first runs to its end; kept across restarts."""
        await self.cp(identity).set_availability(maintenance=on)

    def ports(self) -> list[dict[str, Any]]:
        return [{"name": name, "device": bus.device, "baudrate": bus.baudrate, "up": bus.up,
                 **vars(bus.stats), **{f"parser_{k}": v for k, v in vars(bus.parser.stats).items()}}
                for name, bus in self.buses.items()]


async def serve_until_signalled(config: BridgeConfig, csms_url: str | None = None,
                                data_dir: Path | None = None) -> None:
    """What ``chargebay bridge`` does: run the bridge until SIGINT/SIGTERM, then stop cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = BridgeService(config, csms_url=csms_url, data_dir=data_dir)
    SiteLink(service)  # on its own, the bridge tells the CSMS its wiring and door events
    await service.start()
    try:
        await stop.wait()
    finally:
        queued = sum(len(cp.outbox) for cp in service.cps.values())
        await service.close()
        for port in service.ports():
            log.info("port %s: %d frames out, %d in, %d timeouts, %d retries, %d checksum errors, "
                     "%d bytes resynced", port["name"], port["frames_out"], port["frames_in"],
                     port["timeouts"], port["retries"], port["parser_checksum_errors"],
                     port["parser_resyncs"])
        log.info("locker bridge stopped; %d transaction message(s) kept for the next start", queued)
