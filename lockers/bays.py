"""What the back office knows of the bays a bridge drives: where one is wired, what an open did,
and how a bridge running elsewhere is reached (over OCPP, see :mod:`lockers.ocpp_bays`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from locker_bridge.charge_point import VirtualChargePoint


@dataclass
class OpenResult:
    """What an open did: ``success`` is what the caller should believe (broken-lock aware)."""

    locker_id: int
    success: bool
    door: str | None  # open | closed | None (not read)
    sensor_ignored: bool = False  # brokenLock: the sensor said closed, success anyway
    error: str | None = None  # why not (no bridge, no reply, board refused, door stayed shut)
    driven: bool = True  # False: no bridge, here or reachable over OCPP, drives this locker

    def to_json(self) -> dict[str, Any]:
        return {"lockerId": self.locker_id, "success": self.success, "door": self.door,
                "sensorIgnored": self.sensor_ignored, "error": self.error}


class RemoteUnavailable(Exception):
    """The bay's charge point is not connected, or did not answer."""


@dataclass(frozen=True)
class Position:
    """Where a bay is wired: the same identity somewhere else is another door."""

    port: str
    address: int
    bay: int

    def __str__(self) -> str:
        return f"{self.port} board {self.address} bay {self.bay}"


def position_of(cp: VirtualChargePoint) -> Position:
    return Position(cp.bay.port, cp.bay.address, cp.bay.number)


class RemoteBays(Protocol):
    """Bays of a bridge running elsewhere (``chargebay bridge`` at the locker site), reached as the
    charge points they are: the open goes to the bay over OCPP (DataTransfer ``OpenLocker``)."""

    async def open(self, identity: str, position: Position) -> tuple[bool, dict[str, Any]]:
        """(opened, the bay's reading); raises RemoteUnavailable."""

    async def set_maintenance(self, identity: str, on: bool) -> None:
        """Out of service or back (DataTransfer ``Maintenance``); raises RemoteUnavailable or
        BusError."""
