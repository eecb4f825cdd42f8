"""One locker bay as the board reports it, and the OCPP status that follows from that.

The board is the truth: door, item sensor, outlet state, power and the energy register are read
over the bus (polls, read-backs and EVENT frames) and kept here. :meth:`Bay.status` derives the
connector's OCPP 1.6 status from those observations and the bridge's own facts (a transaction,
availability and maintenance, Finishing until the door has opened and closed again).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from locker_bridge.bus import Bus, Priority
from locker_bridge.config import CODE_FIELDS
from locker_bridge.protocol import Frame, Status, from_hex

# A door that opens this long after an OPEN_DOOR went out for its bay is that command's doing; one
# that opens with none sent within it was opened by hand, a key or force (the CSMS's lock.forced_open).
COMMANDED_WINDOW_S = 30.0


class Outlet(int, Enum):
    """CHARGING_STATUS state byte."""

    OFF = 0
    CHARGING = 1
    IDLE = 2  # on, but the device draws (almost) nothing: full or unplugged
    FAULT = 3


class FaultKind(str, Enum):  # noqa: UP042 (a StrEnum would print differently in logs)
    """Why a bay is Faulted; the value is the vendorErrorCode sent with StatusNotification."""

    BOARD_SILENT = "BOARD_SILENT"  # no answer to 3 polls in a row; clears when it answers
    BAY_FAULT = "BAY_FAULT"  # the board says the outlet or lock is broken; clears when it stops
    READBACK_MISMATCH = "READBACK_MISMATCH"  # acknowledged without effect; clears on success


ERROR_CODES = {FaultKind.BOARD_SILENT: "OtherError", FaultKind.BAY_FAULT: "OtherError",
               FaultKind.READBACK_MISMATCH: "PowerSwitchFailure"}


class BoardError(Exception):
    """The board answered with a non-OK status byte."""

    def __init__(self, status: int, command: str) -> None:
        name = Status(status).name if status in Status._value2member_map_ else f"0x{status:02X}"
        super().__init__(f"{command}: board answered {name}")
        self.status = status


@dataclass
class Tx:
    """A transaction on the bay; ``id`` is negative (provisional) until the CSMS numbers it.

    Its meter readings are the board's energy register plus ``offset``, and never go back: a
    board that reboots may count from 0 again (its register lives in RAM), and a u32 register
    wraps. Either way, a reading below the previous one is a reset, not negative energy: the
    offset grows so the transaction's meter carries on from ``last_wh``, the last reading it had.
    """

    id: int
    id_tag: str
    meter_start: int
    started: str
    last_wh: int | None = None  # the transaction's last reading (board register + offset)
    raw_last: int | None = None  # the board register at that reading
    offset: int = 0
    station_id: str | None = None  # a 2.0.1 bay names its transactions (TransactionEvent)
    seq: int = 0  # the next seqNo of this transaction's events (2.0.1)

    @property
    def shown(self) -> str:
        """How the CSMS knows it: a 2.0.1 bay's own id, else the (1.6) transaction id."""
        return self.station_id or str(self.id)

    def __post_init__(self) -> None:
        if self.last_wh is None:
            self.last_wh = self.meter_start
            self.raw_last = self.meter_start

    def observe(self, register: int) -> int:
        """A fresh board register during the transaction: its meter reading now."""
        assert self.last_wh is not None
        if self.raw_last is not None and register < self.raw_last:  # a reset, or a u32 wrap
            self.offset = self.last_wh - register
        reading = register + self.offset
        if reading < self.last_wh:  # a board counting from elsewhere (an adopted transaction)
            self.offset += self.last_wh - reading
            reading = self.last_wh
        self.raw_last, self.last_wh = register, reading
        return reading

    @property
    def meter_now(self) -> int:
        """The last reading, never below the start."""
        return max(self.last_wh or 0, self.meter_start)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tx:
        known = {f: data[f] for f in ("id", "id_tag", "meter_start", "started", "last_wh",
                                      "raw_last", "offset", "station_id", "seq") if f in data}
        return cls(**known)


@dataclass
class ChargingReading:
    state: Outlet
    power_w: int
    energy_wh: int

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.name.lower(), "powerW": self.power_w, "energyWh": self.energy_wh}


@dataclass
class DoorReading:
    door_open: bool
    item: bool

    def to_json(self) -> dict[str, Any]:
        return {"door": "open" if self.door_open else "closed",
                "item": "occupied" if self.item else "empty"}


class Bay:
    """The hardware side of one virtual charge point: board address, bay number, observations."""

    def __init__(self, identity: str, locker: str, port: str, bus: Bus, address: int, number: int,
                 codes: dict[str, str | None], *, suspended_below_w: float,
                 suspended_after: float) -> None:
        self.identity = identity
        self.locker = locker
        self.port = port
        self.bus = bus
        self.address = address
        self.number = number
        self.codes = codes  # field -> vendor hex override (None: built from the profile)
        self.suspended_below_w = suspended_below_w
        self.suspended_after = suspended_after
        # what the board said last (None: not read yet)
        self.door_open: bool | None = None
        self.item: bool | None = None
        self.outlet: Outlet | None = None
        self.power_w = 0
        self.energy_wh: int | None = None
        self.low_power_since: float | None = None  # monotonic time the draw fell under the limit
        # the bridge's own facts
        self.tx: Tx | None = None
        self.fault: FaultKind | None = None
        self.fault_info: str | None = None
        self.board_silent = False
        self.operative = True  # the CSMS's ChangeAvailability
        self.maintenance = False  # the locker operator's (BridgeService.set_maintenance)
        self.finishing = False
        self.door_opened_since_stop = False
        self.off_polls = 0  # polls that found the outlet off under a transaction
        self.paused = False  # the outlet is off by the charging limit, the transaction goes on
        self.stopping = False  # STOP_CHARGING for an outlet that was on: off, but not suspended
        self.on_door: Callable[[bool], None] | None = None  # told of every door reading
        self.open_sent_at: float | None = None  # monotonic time of the last OPEN_DOOR for it

    # -- the bus ------------------------------------------------------------------------------
    def code(self, command: str) -> str:
        """The frame for ``command`` as hex: the vendor override or the profile's own."""
        override = self.codes.get(CODE_FIELDS[command])
        if override:
            return override
        profile = self.bus.profile
        return Frame(self.address, profile.opcode(command), self.number).hex(profile)

    async def request(self, command: str, priority: Priority = Priority.OPERATOR) -> Frame:
        """Send ``command`` to this bay; raise BoardError unless the board answers OK."""
        if command == "OPEN_DOOR":
            self.open_sent()
        override = self.codes.get(CODE_FIELDS[command])
        if override:
            reply = await self.bus.send_raw(from_hex(override), priority, self.bus.default_retries)
        else:
            reply = await self.bus.request(self.address, command, self.number, priority=priority)
        if reply.status != Status.OK:
            raise BoardError(reply.status if reply.status is not None else -1, command)
        return reply

    async def read_charging(self, priority: Priority = Priority.OPERATOR) -> ChargingReading:
        reply = await self.request("CHARGING_STATUS", priority)
        state, power, energy = struct.unpack_from("<BHI", reply.data, 1)
        reading = ChargingReading(Outlet(state) if state in Outlet._value2member_map_ else Outlet.FAULT,
                                  power, energy)
        self.note_charging(reading)
        return reading

    async def read_door(self, priority: Priority = Priority.OPERATOR) -> DoorReading:
        reply = await self.request("LOCKER_STATUS", priority)
        reading = DoorReading(bool(reply.data[1]), bool(reply.data[2]))
        self.item = reading.item
        self.observe_door(reading.door_open)
        return reading

    def open_sent(self) -> None:
        """An OPEN_DOOR goes out for this bay (typed, or a raw frame of the hex pass-through)."""
        self.open_sent_at = time.monotonic()

    def take_open_command(self) -> bool:
        """Was an OPEN_DOOR sent for this bay within :data:`COMMANDED_WINDOW_S`? Taken once, by
        the next door change: a door that opens again after that is no command's doing."""
        sent, self.open_sent_at = self.open_sent_at, None
        return sent is not None and time.monotonic() - sent <= COMMANDED_WINDOW_S

    def observe_door(self, door_open: bool) -> None:
        if self.on_door is not None:
            self.on_door(door_open)
        else:
            self.door_open = door_open

    def note_charging(self, reading: ChargingReading) -> None:
        self.outlet, self.power_w, self.energy_wh = reading.state, reading.power_w, reading.energy_wh
        if self.tx is not None:
            self.tx.observe(reading.energy_wh)
        if reading.state != Outlet.CHARGING or reading.power_w >= self.suspended_below_w:
            self.low_power_since = None
        elif self.low_power_since is None:
            self.low_power_since = time.monotonic()
        if reading.state == Outlet.FAULT:
            self.set_fault(FaultKind.BAY_FAULT, "the board reports an outlet fault")
        elif self.fault == FaultKind.BAY_FAULT:
            self.clear_fault(FaultKind.BAY_FAULT)

    # -- faults -------------------------------------------------------------------------------
    def set_fault(self, kind: FaultKind, info: str) -> None:
        self.fault, self.fault_info = kind, info[:50]

    def clear_fault(self, kind: FaultKind | None = None) -> None:
        if kind is None or self.fault == kind:
            self.fault, self.fault_info = None, None

    @property
    def available(self) -> bool:
        """Neither the CSMS nor the operator took the bay out of service. Taken out during a
        transaction, it goes on: the bay is Unavailable once the transaction has ended."""
        return self.operative and not self.maintenance

    @property
    def ev_suspended(self) -> bool:
        """The outlet is on but the device takes (almost) nothing: the board says so (state 2), or
        the draw has stayed under ``suspended_below_w`` for ``suspended_after`` seconds (boards
        that report state 1 whenever the outlet is on; a device takes a moment to start)."""
        if self.outlet == Outlet.IDLE:
            return True
        return (self.outlet == Outlet.CHARGING and self.low_power_since is not None
                and time.monotonic() - self.low_power_since >= self.suspended_after)

    @property
    def outlet_without_tx(self) -> bool:
        """On with no transaction: switched on past the bridge (a raw START_CHARGING, say)."""
        return self.tx is None and self.outlet in (Outlet.CHARGING, Outlet.IDLE)

    @property
    def can_start(self) -> bool:
        """A new transaction may begin (a read-back mismatch alone does not stop a retry)."""
        return (self.tx is None and self.available and not self.board_silent
                and self.fault != FaultKind.BAY_FAULT and self.door_open is not True)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> tuple[str, str, str | None]:
        """(status, errorCode, vendorErrorCode) for connector 1."""
        fault = FaultKind.BOARD_SILENT if self.board_silent else self.fault
        if fault is not None:
            return "Faulted", ERROR_CODES[fault], fault.value
        if self.tx is not None:
            if self.outlet == Outlet.OFF and (self.paused or not self.stopping):
                return "SuspendedEVSE", "NoError", None
            if self.ev_suspended:
                return "SuspendedEV", "NoError", None
            return "Charging", "NoError", None  # also when not read back yet
        if not self.available:
            return "Unavailable", "NoError", None
        if self.finishing:
            return "Finishing", "NoError", None
        if self.door_open or self.item:
            return "Preparing", "NoError", None
        return "Available", "NoError", None

    def snapshot(self) -> dict[str, Any]:
        status, error_code, vendor_error = self.status()
        return {
            "identity": self.identity, "locker": self.locker, "comPort": self.port,
            "address": self.address, "bay": self.number, "status": status,
            "errorCode": error_code, "vendorErrorCode": vendor_error, "faultInfo": self.fault_info,
            "door": None if self.door_open is None else ("open" if self.door_open else "closed"),
            "item": None if self.item is None else ("occupied" if self.item else "empty"),
            "outlet": None if self.outlet is None else self.outlet.name.lower(),
            "powerW": self.power_w, "energyWh": self.energy_wh,
            # a 2.0.1 bay's transaction is known by its own id (stationTransactionId), not a number
            "transactionId": self.tx.id if self.tx and self.tx.station_id is None else None,
            "stationTransactionId": self.tx.station_id if self.tx else None,
            "idTag": self.tx.id_tag if self.tx else None,
            "operative": self.operative, "maintenance": self.maintenance,
            "outletWithoutTransaction": self.outlet_without_tx,
            "waitingForLoadLimit": self.paused,  # off by the site's load limit, the transaction on
            **{field: self.code(command) for command, field in CODE_FIELDS.items()},
        }
