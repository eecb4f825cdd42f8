"""The locker controller boards' hex frames (profile ``cb81``), as data and a streaming parser.

Frame: ``SOF ADDR LEN CMD BAY DATA… CHK_lo CHK_hi EOF`` with LEN counting CMD through DATA and CHK
the 16-bit sum of ADDR through DATA, little-endian (see docs/locker-protocol.md). Everything that
differs between board families — start/end bytes, opcodes, checksum, serial settings, timing — is
in :class:`Profile`, so another family is configuration, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal


class Status(IntEnum):
    OK = 0x00
    BUSY = 0x01
    BAY_FAULT = 0x02
    INVALID_BAY = 0x03
    INVALID_COMMAND = 0x04
    DOOR_OPEN = 0x05


class Event(IntEnum):
    DOOR_OPENED = 1
    DOOR_CLOSED = 2
    CHARGING_STOPPED = 3
    BOARD_REBOOTED = 4


@dataclass(frozen=True)
class Profile:
    """A board family: framing, opcodes, checksum and line settings."""

    name: str = "cb81"
    sof: int = 0x81
    eof: int = 0xFA
    min_len: int = 2
    max_len: int = 32
    checksum: Literal["sum16le", "sum8", "xor8"] = "sum16le"
    reply_offset: int = 1  # a reply's CMD is the request's CMD + this
    opcodes: dict[str, int] = field(default_factory=lambda: {
        "START_CHARGING": 0x50, "STOP_CHARGING": 0x52, "CHARGING_STATUS": 0x54,
        "OPEN_DOOR": 0x56, "LOCKER_STATUS": 0x58, "BOARD_STATUS": 0x5A, "EVENT": 0x61,
    })
    # DATA bytes of an OK reply (status byte included): a shorter one is unusable, not a crash
    reply_sizes: dict[str, int] = field(default_factory=lambda: {
        "START_CHARGING": 1, "STOP_CHARGING": 1, "CHARGING_STATUS": 8, "OPEN_DOOR": 1,
        "LOCKER_STATUS": 3, "BOARD_STATUS": 2,
    })
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    reply_timeout: float = 0.1  # a board answers within this or not at all
    inter_frame_gap: float = 0.005  # silence between a reply and the next request
    inter_byte_timeout: float = 0.05  # a partial frame older than this is given up

    @property
    def checksum_size(self) -> int:
        return 2 if self.checksum == "sum16le" else 1

    @property
    def overhead(self) -> int:
        """Bytes around CMD..DATA: SOF, ADDR, LEN, checksum, EOF."""
        return 4 + self.checksum_size

    def opcode(self, name: str) -> int:
        return self.opcodes[name]

    def name_of(self, opcode: int) -> str | None:
        for name, code in self.opcodes.items():
            if code == opcode:
                return name
        for name, code in self.opcodes.items():
            if code + self.reply_offset == opcode:
                return name + "_REPLY"
        return None

    def compute_checksum(self, body: bytes) -> bytes:
        """Checksum over ADDR..DATA."""
        if self.checksum == "sum16le":
            return (sum(body) & 0xFFFF).to_bytes(2, "little")
        if self.checksum == "sum8":
            return bytes([sum(body) & 0xFF])
        x = 0
        for b in body:
            x ^= b
        return bytes([x])


CB81 = Profile()


@dataclass(frozen=True)
class Frame:
    address: int
    command: int
    bay: int
    data: bytes = b""

    @property
    def status(self) -> int | None:
        """DATA[0] of a reply (EVENT frames have no status byte)."""
        return self.data[0] if self.data else None

    def encode(self, profile: Profile = CB81) -> bytes:
        length = 2 + len(self.data)
        if not profile.min_len <= length <= profile.max_len:
            raise ValueError(f"frame body of {length} bytes is outside {profile.min_len}-{profile.max_len}")
        if not 0 <= self.address <= 0xFF or not 0 <= self.bay <= 0xFF:
            raise ValueError("address and bay are single bytes")
        body = bytes([self.address, length, self.command, self.bay]) + self.data
        return bytes([profile.sof]) + body + profile.compute_checksum(body) + bytes([profile.eof])

    def hex(self, profile: Profile = CB81) -> str:
        return to_hex(self.encode(profile))


def to_hex(raw: bytes) -> str:
    """``81 01 02 52 06 5B 00 FA`` — the notation of the vendor's docs."""
    return " ".join(f"{b:02X}" for b in raw)


def from_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(" ", "").replace("0x", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a hex byte string") from None


class FrameError(ValueError):
    """Bytes that do not form one valid frame."""


def decode(raw: bytes, profile: Profile = CB81) -> Frame:
    """Exactly one frame, or :class:`FrameError` saying what is wrong with it."""
    if len(raw) < profile.overhead + profile.min_len:
        raise FrameError("too short")
    if raw[0] != profile.sof:
        raise FrameError(f"does not start with {profile.sof:02X}")
    length = raw[2]
    if not profile.min_len <= length <= profile.max_len:
        raise FrameError(f"LEN {length} out of range")
    total = length + profile.overhead
    if len(raw) != total:
        raise FrameError(f"LEN says {total} bytes, got {len(raw)}")
    if raw[-1] != profile.eof:
        raise FrameError(f"does not end with {profile.eof:02X}")
    body = raw[1:3 + length]
    if raw[3 + length:-1] != profile.compute_checksum(body):
        raise FrameError("bad checksum")
    return Frame(address=raw[1], command=raw[3], bay=raw[4], data=bytes(raw[5:3 + length]))


@dataclass
class ParserStats:
    frames: int = 0
    resyncs: int = 0  # bytes dropped while searching for a frame
    checksum_errors: int = 0
    echoes: int = 0
    timeouts: int = 0  # partial frames given up after the inter-byte timeout


class StreamParser:
    """Finds frames in a byte stream: garbage, partial frames and local echo included.

    On any mismatch one byte is dropped and the search starts again, so a real frame hidden
    behind garbage is still found. An exact copy of the frame just sent (RS-485 echo) is skipped.
    """

    def __init__(self, profile: Profile = CB81) -> None:
        self.profile = profile
        self.stats = ParserStats()
        self._buf = bytearray()
        self._echo: bytes | None = None
        self._partial_since: float | None = None

    def reset(self) -> None:
        """Forget buffered bytes (a reopened port starts clean); the counters keep counting."""
        self._buf.clear()
        self._echo = None
        self._partial_since = None

    def expect_echo(self, sent: bytes) -> None:
        """Skip an identical copy of ``sent`` if it comes back before anything else."""
        self._echo = sent

    def feed(self, data: bytes, now: float = 0.0) -> list[Frame]:
        """Add bytes received at ``now`` (monotonic seconds); return the complete frames."""
        p = self.profile
        if (self._partial_since is not None and self._buf
                and now - self._partial_since > p.inter_byte_timeout):
            self.stats.timeouts += 1
            self._drop(1)
            self._partial_since = None
        self._buf.extend(data)
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = buf.find(p.sof)
            if start < 0:
                self._drop(len(buf))
                break
            if start:
                self._drop(start)
            if len(buf) < 3:
                break
            length = buf[2]
            if not p.min_len <= length <= p.max_len:
                self._drop(1)
                continue
            total = length + p.overhead
            if len(buf) < total:
                break
            raw = bytes(buf[:total])
            try:
                frame = decode(raw, p)
            except FrameError as exc:
                if "checksum" in str(exc):
                    self.stats.checksum_errors += 1
                self._drop(1)
                continue
            del buf[:total]
            if self._echo is not None and raw == self._echo:
                self._echo = None
                self.stats.echoes += 1
                continue
            self._echo = None
            self.stats.frames += 1
            frames.append(frame)
        self._partial_since = now if buf else None
        return frames

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self.stats.resyncs += count

    @property
    def pending(self) -> int:
        return len(self._buf)
