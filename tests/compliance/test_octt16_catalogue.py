"""The OCTT 1.6 CSMS test cases, all 77 (OCA's Test Case Document, chapter 3), and a check that
each has a test in this suite: a function named after it (``test_tc_046_csms_…``) or a parametrised
case with its id (``[TC_030]``). A case dropped or renamed fails here, not silently."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import tests.compliance

CASES: dict[str, str] = {
    # Core
    'TC_001': 'Cold Boot Charge Point',
    'TC_003': 'Regular Charging Session - Plugin First',
    'TC_004_1': 'Regular Charging Session - Identification First',
    'TC_004_2': 'Regular Charging Session - Identification First - ConnectionTimeOut',
    'TC_005_1': 'EV Side Disconnected - StopTransactionOnEVSideDisconnect = true - '
                'UnlockConnectorOnEVSideDisconnect = true',
    'TC_007': 'Regular Start Charging Session - Cached Id',
    'TC_061': 'Clear Authorization Data in Authorization Cache',
    'TC_010': 'Remote Start Charging Session - Cable Plugged in First',
    'TC_011_1': 'Remote Start Charging Session - Remote Start First',
    'TC_011_2': 'Remote Start Charging Session - Time Out',
    'TC_012': 'Remote Stop Charging Session',
    'TC_013': 'Hard Reset',
    'TC_014': 'Soft Reset',
    'TC_017_1': 'Unlock connector - no charging session running (Not fixed cable)',
    'TC_017_2': 'Unlock connector - no charging session running (Fixed cable)',
    'TC_018_1': 'Unlock Connector - With Charging Session',
    'TC_019_1': 'Retrieve all configuration keys',
    'TC_019_2': 'Retrieve specific configuration key',
    'TC_021': 'Change/set Configuration',
    'TC_023_1': 'Start Charging Session - Authorize invalid',
    'TC_023_2': 'Start Charging Session - Authorize expired',
    'TC_023_3': 'Start Charging Session - Authorize blocked',
    'TC_024': 'Start Charging Session - Lock Failure',
    'TC_026': 'Remote Start Charging Session - Rejected',
    'TC_028': 'Remote Stop Transaction - Rejected',
    'TC_030': 'Unlock Connector - Unlock Failure',
    'TC_031': 'Unlock Connector - Unknown Connector',
    'TC_032_1': 'Power Failure boot charging point - stop transaction(s)',
    'TC_037_1': 'Offline Start Transaction - Valid IdTag',
    'TC_037_3': 'Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = true',
    'TC_039': 'Offline Transaction',
    'TC_040_1': 'Configuration Keys - Not supported',
    'TC_040_2': 'Configuration Keys - Invalid value',
    'TC_064': 'Data Transfer to a Central System',
    'TC_088': 'WebSocket Subprotocol negotiation/validation',
    # LocalAuthList
    'TC_042_1': 'Get Local List Version (not supported)',
    'TC_042_2': 'Get Local List Version (empty)',
    'TC_043_1': 'Send Local Authorization List - NotSupported',
    'TC_043_3': 'Send Local Authorization List - Failed',
    'TC_043_4': 'Send Local Authorization List - Full',
    'TC_043_5': 'Send Local Authorization List - Differential',
    # Firmware
    'TC_044_1': 'Firmware Update - Download and Install',
    'TC_044_2': 'Firmware Update - Download failed',
    'TC_044_3': 'Firmware Update - Installation failed',
    'TC_045_1': 'Get Diagnostics of a Charge Point',
    'TC_045_2': 'Get Diagnostics of a Charge Point - Upload failed',
    # Reservation
    'TC_046': 'Reservation of a Connector - Transaction',
    'TC_047': 'Reservation of a Connector - Expire',
    'TC_048_1': 'Reservation of a Connector - Faulted',
    'TC_048_2': 'Reservation of a Connector - Occupied',
    'TC_048_3': 'Reservation of a Connector - Unavailable',
    'TC_048_4': 'Reservation of a Connector - Rejected',
    'TC_049': 'Reservation of a Charge Point - Transaction',
    'TC_051': 'Cancel Reservation',
    'TC_052': 'Cancel Reservation - Rejected',
    'TC_053': 'Use a reserved Connector with parentIdTag',
    # RemoteTrigger
    'TC_054': 'Trigger Message',
    'TC_055': 'Trigger Message - Rejected',
    # SmartCharging
    'TC_056': 'Central Smart Charging - TxDefaultProfile',
    'TC_057': 'Central Smart Charging - TxProfile',
    'TC_059': 'Remote Start Transaction with Charging Profile',
    'TC_066': 'Get Composite Schedule',
    'TC_067': 'Clear Charging Profile',
    # Security
    'TC_073': 'Update Charge Point Password for HTTP Basic Authentication',
    'TC_074': 'Update Charge Point Certificate by request of Central System',
    'TC_075_1': 'Install a certificate on the Charge Point - ManufacturerRootCertificate',
    'TC_075_2': 'Install a certificate on the Charge Point - CentralSystemRootCertificate',
    'TC_076': 'Delete a specific certificate from the Charge Point',
    'TC_077': 'Invalid ChargePointCertificate Security Event',
    'TC_078': 'Invalid CentralSystemCertificate Security Event',
    'TC_079': 'Get Security Log',
    'TC_080': 'Secure Firmware Update',
    'TC_081': 'Secure Firmware Update - Invalid Signature',
    'TC_083': 'Upgrade Charge Point Security Profile - Accepted',
    'TC_085': 'Basic Authentication - Valid username/password combination',
    'TC_086': 'TLS - server-side certificate - Valid certificate',
    'TC_087': 'TLS - client-side certificate - valid certificate',
}

NAMED = re.compile(r"^test_tc_(\d{3}(?:_\d)?)_csms_")


def covered() -> dict[str, list[str]]:
    """OCTT case id -> the tests of this suite that play it."""
    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(tests.compliance.__path__):
        if not info.name.startswith("test_octt16_"):
            continue
        module = importlib.import_module(f"tests.compliance.{info.name}")
        for name, function in vars(module).items():
            for case in cases_of(name, function):
                found.setdefault(case, []).append(f"{info.name}::{name}")
    return found


def cases_of(name: str, function: Any) -> list[str]:
    if not name.startswith("test_tc_"):
        return []
    ids = [param.id for mark in getattr(function, "pytestmark", []) if mark.name == "parametrize"
           for param in mark.args[1] if getattr(param, "id", None)]
    ids += [i for mark in getattr(function, "pytestmark", []) if mark.name == "parametrize"
            for i in mark.kwargs.get("ids") or []]
    if ids:
        return [i for i in ids if i in CASES]
    named = NAMED.match(name)
    return [f"TC_{named.group(1)}"] if named else []


def test_catalogue_has_the_77_cases() -> None:
    assert len(CASES) == 77


def test_every_octt_case_has_a_test() -> None:
    found = covered()
    assert sorted(set(CASES) - set(found)) == []
    assert sorted(set(found) - set(CASES)) == []  # no test named after a case that does not exist
