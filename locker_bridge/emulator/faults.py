"""Per-request misbehaviour on demand, and what the emulator counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from locker_bridge.protocol import Frame


class Fault(Enum):
    """Per-request misbehaviour, switched on with :meth:`Emulator.inject`."""

    IGNORE = "ignore"  # the request is never heard: no effect, no reply
    NO_REPLY = "no_reply"  # carried out, but the reply is lost
    GARBAGE_BEFORE = "garbage_before"
    GARBAGE_INSIDE = "garbage_inside"  # splits the reply: the driver must drop it
    GARBAGE_AFTER = "garbage_after"
    BAD_CHECKSUM = "bad_checksum"
    BAD_LEN = "bad_len"  # the reply's LEN says one byte more than there is
    BAD_EOF = "bad_eof"
    TRUNCATED = "truncated"  # only the first half of the reply goes out: a partial frame
    SHORT_REPLY = "short_reply"  # well framed, but DATA stops after the status byte (or before it)
    LATE_REPLY = "late_reply"  # after the master's reply timeout, while it may be sending again
    ECHO = "echo"  # the adapter echoes the request (any address) before anything else
    WRONG_ADDRESS = "wrong_address"  # the reply names another board (and the right one never comes)
    WRONG_BAY = "wrong_bay"
    BUSY = "busy"  # status BUSY, no effect
    STUCK_DOOR = "stuck_door"  # OPEN_DOOR acknowledged, the door stays shut
    ACK_WITHOUT_EFFECT = "ack_without_effect"  # START/STOP acknowledged, the outlet unchanged


ONLY_FOR: dict[Fault, frozenset[str]] = {
    Fault.STUCK_DOOR: frozenset({"OPEN_DOOR"}),
    Fault.ACK_WITHOUT_EFFECT: frozenset({"START_CHARGING", "STOP_CHARGING"}),
}


@dataclass
class FaultRule:
    """A fault and the requests it hits; ``times=None`` keeps it on until removed."""

    kind: Fault
    times: int | None = None
    address: int | None = None
    bay: int | None = None
    command: str | None = None  # request name, e.g. "OPEN_DOOR"
    applied: int = 0

    def matches(self, request: Frame, name: str | None) -> bool:
        return ((self.times is None or self.applied < self.times)
                and (self.address is None or self.address == request.address)
                and (self.bay is None or self.bay == request.bay)
                and (self.command is None or self.command == name)
                and (self.kind not in ONLY_FOR or name in ONLY_FOR[self.kind]))


@dataclass
class EmulatorStats:
    """Counters for tests and the benchmark: what the bus saw and what the boards sent."""

    requests: int = 0  # frames one of our boards handled
    ignored: int = 0  # frames for other addresses, to a rebooting board, or not heard (IGNORE)
    replies: int = 0
    events: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bytes_dropped: int = 0  # written while unplugged or with the pty buffer full (nobody reading)
    faults: Counter[Fault] = field(default_factory=Counter)


