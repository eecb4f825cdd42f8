"""A locker bay's configuration keys, as a CSMS reads (GetConfiguration) and partly changes them."""

from __future__ import annotations


class Settings:
    """The configuration keys a CSMS can read (GetConfiguration) and partly change."""

    WRITABLE = {"HeartbeatInterval", "MeterValueSampleInterval", "StopWhenFullAfter",
                "AuthorizeRemoteTxRequests"}
    BOOLEAN = {"AuthorizeRemoteTxRequests"}

    def __init__(self, meter_interval: int, full_timeout: int) -> None:
        self.values = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": str(meter_interval),
            "StopWhenFullAfter": str(full_timeout),
            "NumberOfConnectors": "1",
            "SupportedFeatureProfiles": "Core,RemoteTrigger,SmartCharging",
            # charging profiles switch the outlet (locker_bridge.bay_limits)
            "ChargeProfileMaxStackLevel": "8",
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
            "ChargingScheduleMaxPeriods": "24",
            "MaxChargingProfilesInstalled": "16",
            # a remote start is authorized first: an id tag the CSMS refuses never switches an
            # outlet on (only to switch it off again at the StartTransaction's answer)
            "AuthorizeRemoteTxRequests": "true",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "ConnectorPhaseRotation": "NotApplicable",
        }

    def int(self, key: str) -> int:
        return int(self.values[key])

    def change(self, key: str, value: str) -> str:
        """The ChangeConfiguration status for setting ``key`` to ``value``."""
        if key not in self.values:
            return "NotSupported"
        if key in self.BOOLEAN and value.lower() in ("true", "false"):
            self.values[key] = value.lower()
            return "Accepted"
        if key not in self.WRITABLE or key in self.BOOLEAN or not value.isdigit():
            return "Rejected"
        self.values[key] = value
        return "Accepted"

    def flag(self, key: str) -> bool:
        return self.values[key] == "true"
