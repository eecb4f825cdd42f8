"""The bridge configuration: the minimal file works, mistakes fail at load with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from locker_bridge.config import ConfigError, load, parse

MINIMAL = """
csms_url: ws://127.0.0.1:9000/ocpp
ports:
  COM2: {device: /dev/ttyUSB0, baudrate: 9600}
lockers:
  - {name: LOCKER-A, port: COM2, address: 1, bays: 12}
"""


def test_the_minimal_file_of_the_issue(tmp_path: Path) -> None:
    path = tmp_path / "bays.yaml"
    path.write_text(MINIMAL)
    config = load(path)
    locker = config.lockers[0]
    assert [config.identity_of(locker, n) for n in locker.bay_numbers()] == [
        f"LOCKER-A-{n:02d}" for n in range(1, 13)]
    assert config.ports["COM2"].device == "/dev/ttyUSB0"


def base(**locker: object) -> dict[str, object]:
    return {"ports": {"COM2": {"device": "/dev/ttyUSB0"}},
            "lockers": [{"name": "L", "port": "COM2", "address": 1, "bays": 12, **locker}]}


def test_vendor_hex_codes_per_bay_are_accepted() -> None:
    config = parse(base(overrides=[{"number": 6, "stop_charging_code": "81 01 02 52 06 5B 00 FA",
                                    "identity": "CABIN-6"}]))
    assert config.identity_of(config.lockers[0], 6) == "CABIN-6"


@pytest.mark.parametrize(("data", "message"), [
    (base(overrides=[{"number": 6, "stop_charging_code": "81 01 02 52 06 5C 00 FA"}]), "checksum"),
    (base(overrides=[{"number": 6, "stop_charging_code": "81 01 03 52 06 5B 00 FA"}]), "LEN"),
    (base(overrides=[{"number": 6, "start_charging_code": "zz"}]), "not a hex"),
    (base(overrides=[{"number": 6, "open_code": "81 02 02 56 0C 66 00 FA"}]), "board 2"),
    (base(overrides=[{"number": 13}]), "does not have"),
    (base(port="COM9"), "COM9"),
    ({"ports": {"COM2": {"device": "/dev/x"}, "COM3": {"device": "/dev/x"}},
      "lockers": [{"name": "A", "port": "COM2", "address": 1, "bays": 4},
                  {"name": "B", "port": "COM3", "address": 1, "bays": 4, "first_bay": 3}]},
     "same outlet"),
    ({"ports": {"COM2": {"device": "/dev/x"}},
      "lockers": [{"name": "A", "port": "COM2", "address": 1, "bays": 2, "identity": "X"},
                  {"name": "B", "port": "COM2", "address": 2, "bays": 2, "identity": "X"}]},
     "named"),
    (base(address=40), "address"),
])
def test_mistakes_fail_at_load_with_a_clear_message(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(data)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
