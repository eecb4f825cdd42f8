"""The OCPP 1.6 standard configuration keys a station carries, with their access rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocppj.basic_auth import key_password

if TYPE_CHECKING:
    from charger_sim.template import Template


@dataclass(slots=True)
class Key:
    value: str
    readonly: bool = False
    reboot: bool = False
    write_only: bool = False  # never reported by GetConfiguration (a secret)


class Configuration:
    """Core, local auth list, reservation and smart charging profile keys (OCPP 1.6 ch. 9)."""

    def __init__(self, template: Template) -> None:
        t = template
        measurands = ",".join(t.measurands)
        self.keys: dict[str, Key] = {
            "AllowOfflineTxForUnknownId": Key("false"),
            "AuthorizationCacheEnabled": Key("true"),
            "AuthorizeRemoteTxRequests": Key("false"),
            "BlinkRepeat": Key("3"),
            "ClockAlignedDataInterval": Key("0"),
            "ConnectionTimeOut": Key("60"),
            "ConnectorPhaseRotation": Key("0.RST"),
            "ConnectorPhaseRotationMaxLength": Key("3", readonly=True),
            "GetConfigurationMaxKeys": Key("64", readonly=True),
            "HeartbeatInterval": Key(str(t.heartbeat_interval)),
            "LightIntensity": Key("50"),
            "LocalAuthorizeOffline": Key("true"),
            "LocalPreAuthorize": Key("false"),
            "MaxEnergyOnInvalidId": Key("0"),
            "MeterValuesAlignedData": Key("Energy.Active.Import.Register"),
            "MeterValuesAlignedDataMaxLength": Key("8", readonly=True),
            "MeterValuesSampledData": Key(measurands),
            "MeterValuesSampledDataMaxLength": Key("8", readonly=True),
            "MeterValueSampleInterval": Key(str(t.meter_interval)),
            "MinimumStatusDuration": Key("0"),
            "NumberOfConnectors": Key(str(t.connectors), readonly=True),
            "ResetRetries": Key("3"),
            "StopTransactionOnEVSideDisconnect": Key("true"),
            "StopTransactionOnInvalidId": Key("true"),
            "StopTxnAlignedData": Key("Energy.Active.Import.Register"),
            "StopTxnAlignedDataMaxLength": Key("8", readonly=True),
            "StopTxnSampledData": Key("Energy.Active.Import.Register"),
            "StopTxnSampledDataMaxLength": Key("8", readonly=True),
            "SupportedFeatureProfiles": Key(
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
                "RemoteTrigger", readonly=True),
            "SupportedFeatureProfilesMaxLength": Key("6", readonly=True),
            "TransactionMessageAttempts": Key("3"),
            "TransactionMessageRetryInterval": Key("10"),
            "UnlockConnectorOnEVSideDisconnect": Key("true"),
            "WebSocketPingInterval": Key("0", reboot=True),
            "LocalAuthListEnabled": Key("true"),
            "LocalAuthListMaxLength": Key("1000", readonly=True),
            "SendLocalListMaxLength": Key("100", readonly=True),
            "ReserveConnectorZeroSupported": Key("false", readonly=True),
            "ChargeProfileMaxStackLevel": Key("10", readonly=True),
            "ChargingScheduleAllowedChargingRateUnit": Key("Current,Power", readonly=True),
            "ChargingScheduleMaxPeriods": Key("24", readonly=True),
            "MaxChargingProfilesInstalled": Key("10", readonly=True),
            "SecurityProfile": Key("1" if t.password else "0", reboot=True),
            # the whitepaper's Basic-auth password (hex, or the text itself): used from the next
            # connect; write-only
            "AuthorizationKey": Key("", write_only=True),
        }
        for name, value in t.configuration.items():
            if name in self.keys:
                self.keys[name].value = value
            else:
                self.keys[name] = Key(value)

    def get(self, name: str) -> str:
        return self.keys[name].value

    def get_int(self, name: str, default: int = 0) -> int:
        try:
            return int(self.keys[name].value)
        except (KeyError, ValueError):
            return default

    def get_bool(self, name: str) -> bool:
        key = self.keys.get(name)
        return key is not None and key.value.lower() == "true"

    def change(self, name: str, value: str) -> str:
        """Apply ChangeConfiguration; returns the OCPP status."""
        key = self.keys.get(name)
        if key is None:
            return "NotSupported"
        if key.readonly:
            return "Rejected"
        if name.endswith("Interval") or name in ("ConnectionTimeOut", "ResetRetries"):
            if not value.lstrip("-").isdigit() or int(value) < 0:
                return "Rejected"
        if name == "AuthorizationKey":
            try:
                key_password(value)
            except ValueError:
                return "Rejected"
        key.value = value
        return "RebootRequired" if key.reboot else "Accepted"

    def report(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: the known keys asked for (all when none) and the unknown ones."""
        wanted = names or [n for n, k in self.keys.items() if not k.write_only]
        known = [{"key": n, "readonly": self.keys[n].readonly, "value": self.keys[n].value}
                 for n in wanted if n in self.keys and not self.keys[n].write_only]
        return known, [n for n in wanted if n not in self.keys]
