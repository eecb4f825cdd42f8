"""Station templates: what a simulated charge point is (YAML/JSON files; three are shipped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from common.ocpp_version import OcppVersion

TEMPLATES = Path(__file__).parent / "templates"


class EvProfile(BaseModel):
    """The car (or battery) that plugs in: how much it takes and how charging tapers."""

    battery_wh: float = 60000
    initial_soc: tuple[float, float] = (20, 60)
    max_power_w: float = 11000
    taper_from_soc: float = 80


class Template(BaseModel):
    name: str
    description: str = ""
    ocpp_version: OcppVersion = Field("1.6", description=(
        "The OCPP version the station speaks (2.0.1: charger_sim.station201, its device model)."))
    vendor: str = "Chargebay"
    model: str = "SIM"
    firmware_version: str = "1.0.0"
    meter_type: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    connectors: int = Field(1, ge=1, le=16)
    current_type: Literal["AC", "DC"] = "AC"
    max_power_w: float = Field(22000, gt=0)
    phases: int = Field(3, ge=1, le=3)
    voltage: float = 230
    meter_interval: int = Field(60, ge=0, description="MeterValueSampleInterval (s); 0 = none.")
    measurands: list[str] = ["Energy.Active.Import.Register", "Power.Active.Import"]
    heartbeat_interval: int = 300
    plug_in_delay: float | None = Field(
        2.0, description="After RemoteStart on an empty connector the driver plugs in after this "
                         "many seconds; null: nobody plugs in (tests ConnectionTimeOut).")
    password: str | None = Field(None, description="HTTP Basic auth password (security profile 1).")
    csms_url: str | None = None
    ev: EvProfile = EvProfile()
    configuration: dict[str, str] = Field(default_factory=dict, description="Key overrides.")


def load_template(name_or_path: str, overrides: dict[str, Any] | None = None) -> Template:
    """A shipped template by name (``ac-wallbox``, ``dc-fast``, ``locker-bay``) or a file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = TEMPLATES / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in TEMPLATES.glob("*.yaml")))
        raise FileNotFoundError(f"no template {name_or_path!r} (shipped: {shipped})")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if overrides:
        data = {**data, **overrides}
    return Template.model_validate(data)


def shipped_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATES.glob("*.yaml"))
