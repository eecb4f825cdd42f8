"""The bridge's configuration file (YAML): CSMS, serial ports, lockers and their bays.

Everything that can be wrong is found when the file is loaded, with a message that names the
place: an unknown port, a hex code that is not a valid frame for the profile, two bays driving
one outlet. The minimal file of the issue works as it stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from locker_bridge.protocol import CB81, FrameError, Profile, decode, from_hex

HEX_FIELDS = ("open_code", "status_code", "start_charging_code", "stop_charging_code",
              "charging_status_code")


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


class LockerConfig(BaseModel):
    name: str = Field(min_length=1)
    port: str
    address: int = Field(ge=1, le=31)
    bays: int = Field(ge=1, le=48)
    first_bay: int = Field(1, ge=1, le=48)
    identity: str = "{locker}-{bay:02d}"
    overrides: list[BayConfig] = Field(default_factory=list)

    def bay_numbers(self) -> list[int]:
        return list(range(self.first_bay, self.first_bay + self.bays))


class BridgeConfig(BaseModel):
    csms_url: str = "ws://127.0.0.1:9000/ocpp"
    ports: dict[str, PortConfig]
    lockers: list[LockerConfig]
    poll_interval: float = Field(5.0, gt=0)
    meter_interval: int = Field(60, ge=0)
    stop_when_full_after: int = Field(1800, ge=0, description="seconds a full battery may idle "
                                      "on the outlet before the transaction ends (0: never)")
    outbox: str = "var/bridge-outbox.db"

    @model_validator(mode="after")
    def _consistent(self) -> BridgeConfig:
        outlets: dict[tuple[str, int, int], str] = {}
        identities: set[str] = set()
        for locker in self.lockers:
            if locker.port not in self.ports:
                raise ValueError(f"locker {locker.name}: port {locker.port!r} is not in ports "
                                 f"({', '.join(self.ports) or 'none'})")
            if locker.bay_numbers()[-1] > 48:
                raise ValueError(f"locker {locker.name}: bays go past 48")
            for number in locker.bay_numbers():
                device = self.ports[locker.port].device
                where = (device, locker.address, number)
                bay_name = f"{locker.name} bay {number}"
                if where in outlets:
                    raise ValueError(f"{bay_name} and {outlets[where]} are the same outlet "
                                     f"({locker.port} board {locker.address} bay {number})")
                outlets[where] = bay_name
                identity = self.identity_of(locker, number)
                if identity in identities:
                    raise ValueError(f"two bays are named {identity!r}")
                identities.add(identity)
            known = set(locker.bay_numbers())
            for bay in locker.overrides:
                if bay.number not in known:
                    raise ValueError(f"locker {locker.name}: override for bay {bay.number}, "
                                     f"which it does not have")
        return self

    def bay(self, locker: LockerConfig, number: int) -> BayConfig:
        for bay in locker.overrides:
            if bay.number == number:
                return bay
        return BayConfig(number=number)

    def identity_of(self, locker: LockerConfig, number: int) -> str:
        override = self.bay(locker, number).identity
        return override or locker.identity.format(locker=locker.name, bay=number)


def check_codes(config: BridgeConfig, profile: Profile = CB81) -> None:
    """Every per-bay hex code must be one valid frame for this bay's board and bay."""
    for locker in config.lockers:
        for bay in locker.overrides:
            for field_name in HEX_FIELDS:
                text = getattr(bay, field_name)
                if text is None:
                    continue
                where = f"locker {locker.name} bay {bay.number} {field_name}"
                try:
                    frame = decode(from_hex(text), profile)
                except (ValueError, FrameError) as exc:
                    raise ConfigError(f"{where}: {text!r} is not a valid frame ({exc})") from None
                if frame.address != locker.address:
                    raise ConfigError(f"{where}: addressed to board {frame.address}, "
                                      f"the locker is board {locker.address}")


def parse(data: dict[str, Any], profile: Profile = CB81) -> BridgeConfig:
    try:
        config = BridgeConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid bridge configuration: {problems}") from None
    check_codes(config, profile)
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
