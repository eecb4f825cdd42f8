"""The bridge's configuration file (YAML): CSMS, serial ports, lockers and their bays.

Everything that can be wrong is found when the file is loaded, with a message that names the
place: an unknown port, an identity template that cannot be filled or an identity the CSMS would
refuse, a hex code that is not a valid frame of the right command for its board, two bays driving
one outlet. The minimal file of the issue works as it stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from common.ocpp_version import OcppVersion
from locker_bridge.protocol import CB81, FrameError, Profile, decode, from_hex

# The bridge's command names and the vendor's per-cabin hex code fields that replace them.
CODE_FIELDS = {"OPEN_DOOR": "open_code", "LOCKER_STATUS": "status_code",
               "START_CHARGING": "start_charging_code", "STOP_CHARGING": "stop_charging_code",
               "CHARGING_STATUS": "charging_status_code"}
HEX_FIELDS = tuple(CODE_FIELDS.values())
MAX_BAY = 48
MAX_IDENTITY = 48


class ConfigError(ValueError):
    """The configuration cannot work; the message says where and why."""


class PortConfig(BaseModel):
    device: str
    baudrate: int = Field(9600, gt=0)


class BayConfig(BaseModel):
    """Per-bay overrides; hex codes replace the frames the profile would build (vendor style)."""

    number: int = Field(ge=1, le=48)
    identity: str | None = None
    open_code: str | None = None
    status_code: str | None = None
    start_charging_code: str | None = None
    stop_charging_code: str | None = None
    charging_status_code: str | None = None
    unlock_opens_door: bool = False
    outlet_w: float | None = Field(default=None, gt=0, description=(
        "the outlet's rated power (W); default: the locker's outlet_w"))


class LockerConfig(BaseModel):
    name: str = Field(min_length=1)
    port: str
    address: int = Field(ge=1, le=31)
    bays: int = Field(ge=1, le=48)
    first_bay: int = Field(1, ge=1, le=48)
    identity: str = "{locker}-{bay:02d}"
    outlet_w: float = Field(500.0, gt=0, description=(
        "each bay outlet's rated power (W): a charging limit below it switches the outlet off, "
        "at or above it on (load management)"))
    ocpp_version: OcppVersion | None = Field(None, description=(
        "the OCPP version of this locker's bays (unset: the bridge's ocpp_version)"))
    overrides: list[BayConfig] = Field(default_factory=list)

    def bay_numbers(self) -> list[int]:
        return list(range(self.first_bay, self.first_bay + self.bays))


class BridgeConfig(BaseModel):
    csms_url: str = "ws://127.0.0.1:9000/ocpp"
    ocpp_version: OcppVersion = Field("1.6", description=(
        "the OCPP version every bay speaks (1.6: a charge point with connectors 0 and 1; 2.0.1: "
        "a charging station with EVSE 1, connector 1); a locker's own ocpp_version wins"))
    ports: dict[str, PortConfig]
    lockers: list[LockerConfig]
    poll_interval: float = Field(5.0, gt=0)
    meter_interval: int = Field(60, ge=0)
    stop_when_full_after: int = Field(1800, ge=0, description="seconds a full battery may idle "
                                      "on the outlet before the transaction ends (0: never)")
    suspended_ev_below_w: float = Field(2.0, ge=0, description="an outlet on that draws less "
                                        "than this (W) is SuspendedEV (0: only the board says)")
    suspended_ev_after: float = Field(10.0, ge=0, description="seconds the draw must stay below "
                                      "suspended_ev_below_w (a device takes a moment to start)")
    outbox: str = Field("bridge-outbox.db", description=(
        "the bridge's state file (queued transaction messages, each bay's transaction and "
        "availability); a relative path is in the data directory (CHARGEBAY_DATA_DIR)"))

    def state_path(self, data_dir: Path) -> Path:
        path = Path(self.outbox).expanduser()
        return path if path.is_absolute() else data_dir / path

    def bay(self, locker: LockerConfig, number: int) -> BayConfig:
        for bay in locker.overrides:
            if bay.number == number:
                return bay
        return BayConfig(number=number)

    def identity_of(self, locker: LockerConfig, number: int) -> str:
        override = self.bay(locker, number).identity
        return override or locker.identity.format(locker=locker.name, bay=number)


def identity_problem(identity: str) -> str | None:
    """Why the CSMS would refuse this charge point id at its handshake, or None.

    The central system's rule (csms/server.py ``valid_id``, which the bridge may not import):
    1-48 printable ASCII characters without "/"; the bridge percent-encodes the id in the URL.
    """
    if not 0 < len(identity) <= MAX_IDENTITY:
        return f"must be 1-{MAX_IDENTITY} characters, not {len(identity)}"
    if not (identity.isascii() and identity.isprintable()) or "/" in identity:
        return "must be printable ASCII without '/'"
    return None


def check(config: BridgeConfig, profile: Profile = CB81) -> None:
    """What one field cannot say: ports exist, identities can be made and are valid and unique,
    hex codes are frames of the right command for their board, no two bays drive one outlet."""
    identities: dict[str, str] = {}
    drivers: dict[tuple[str, int, int], str] = {}
    for locker in config.lockers:
        if locker.port not in config.ports:
            raise ConfigError(f"locker {locker.name}: port {locker.port!r} is not in ports "
                              f"({', '.join(config.ports) or 'none'})")
        numbers = locker.bay_numbers()
        if numbers[-1] > MAX_BAY:
            raise ConfigError(f"locker {locker.name}: bays go past {MAX_BAY}")
        for bay in locker.overrides:
            if bay.number not in numbers:
                raise ConfigError(f"locker {locker.name}: override for bay {bay.number}, "
                                  f"which it does not have")
        device = config.ports[locker.port].device
        for number in numbers:
            bay_name = f"locker {locker.name} bay {number}"
            identity = _identity(config, locker, number)
            problem = identity_problem(identity)
            if problem is not None:
                raise ConfigError(f"{bay_name}: identity {identity!r} {problem}")
            if identity in identities:
                raise ConfigError(f"{bay_name} and {identities[identity]} are both named {identity!r}")
            identities[identity] = bay_name
            for target in sorted(_targets(config.bay(locker, number), locker, profile)):
                where = (device, locker.address, target)
                other = drivers.setdefault(where, bay_name)
                if other != bay_name:
                    raise ConfigError(f"{other} and {bay_name} drive the same outlet "
                                      f"({locker.port} board {locker.address} bay {target})")


def _identity(config: BridgeConfig, locker: LockerConfig, number: int) -> str:
    try:
        return config.identity_of(locker, number)
    except KeyError as exc:
        raise ConfigError(f"locker {locker.name}: identity template {locker.identity!r} names "
                          f"{{{exc.args[0]}}}; it may use {{locker}} and {{bay}}") from None
    except (IndexError, ValueError, AttributeError) as exc:
        raise ConfigError(f"locker {locker.name}: identity template {locker.identity!r} cannot "
                          f"be filled ({exc}); it may use {{locker}} and {{bay}}") from None


def _targets(bay: BayConfig, locker: LockerConfig, profile: Profile) -> set[int]:
    """The bays on the locker's board that this bay's frames address: its own number, or where
    a vendor hex code points (each one valid for its board and command, or ConfigError)."""
    targets = set()
    for command, field_name in CODE_FIELDS.items():
        text = getattr(bay, field_name)
        if text is None:
            targets.add(bay.number)
            continue
        where = f"locker {locker.name} bay {bay.number} {field_name}"
        try:
            frame = decode(from_hex(text), profile)
        except (ValueError, FrameError) as exc:
            raise ConfigError(f"{where}: {text!r} is not a valid frame ({exc})") from None
        if frame.address != locker.address:
            raise ConfigError(f"{where}: addressed to board {frame.address}, "
                              f"the locker is board {locker.address}")
        if frame.command != profile.opcode(command):
            found = profile.name_of(frame.command) or f"opcode 0x{frame.command:02X}"
            raise ConfigError(f"{where}: {text!r} is {found}, not {command}")
        if not 1 <= frame.bay <= MAX_BAY:
            raise ConfigError(f"{where}: addressed to bay {frame.bay}, not a bay 1-{MAX_BAY}")
        targets.add(frame.bay)
    return targets


def parse(data: dict[str, Any], profile: Profile = CB81) -> BridgeConfig:
    try:
        config = BridgeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid bridge configuration: {problems}") from None
    check(config, profile)
    return config


def load(path: Path | str, profile: Profile = CB81) -> BridgeConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    return parse(data, profile)
