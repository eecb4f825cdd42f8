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


STOP_6 = "81 01 02 52 06 5B 00 FA"  # the vendor's example: STOP_CHARGING board 1 bay 6


@pytest.mark.parametrize(("data", "message"), [
    # a hex code must be a frame of its own field's command
    (base(overrides=[{"number": 6, "charging_status_code": STOP_6}]),
     r"bay 6 charging_status_code: .* is STOP_CHARGING, not CHARGING_STATUS"),
    (base(overrides=[{"number": 6, "open_code": "81 01 02 50 06 59 00 FA"}]),
     "open_code: .* is START_CHARGING, not OPEN_DOOR"),
    # a code that drives another configured bay's outlet: both bays named
    (base(overrides=[{"number": 2, "stop_charging_code": STOP_6}]),
     r"locker L bay 2 and locker L bay 6 drive the same outlet \(COM2 board 1 bay 6\)"),
    (base(bays=4, overrides=[{"number": 1, "stop_charging_code": STOP_6},
                             {"number": 2, "stop_charging_code": STOP_6}]),
     r"locker L bay 1 and locker L bay 2 drive the same outlet \(COM2 board 1 bay 6\)"),
    # identities: a template that cannot be filled, and ids the CSMS would refuse
    (base(identity="{lockr}-{bay:02d}"), r"locker L: identity template .* names \{lockr\}"),
    (base(identity="{locker}-{bay:zz}"), "locker L: identity template .* cannot be filled"),
    (base(identity="{locker}/{bay}"), r"locker L bay 1: identity 'L/1' must be printable ASCII"),
    (base(identity="{locker}-{bay}-" + "x" * 48), "must be 1-48 characters"),
    (base(overrides=[{"number": 3, "identity": "BAY-Ü"}]), "locker L bay 3: identity 'BAY-Ü'"),
])
def test_codes_and_identities_that_cannot_work_fail_at_load(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(data)


def test_a_code_for_an_outlet_no_other_bay_drives_is_fine() -> None:
    """Vendor style: bay 4's stop code addresses bay 6, which this 4-bay locker does not have."""
    config = parse(base(bays=4, overrides=[{"number": 4, "stop_charging_code": STOP_6}]))
    assert config.bay(config.lockers[0], 4).stop_charging_code == STOP_6


def test_an_identity_with_a_space_is_valid() -> None:
    """The CSMS accepts any printable ASCII id without '/' (percent-decoded from the path); that
    such a bay connects is in test_virtual_cp."""
    config = parse(base(name="LOCKER B"))
    assert config.identity_of(config.lockers[0], 1) == "LOCKER B-01"
