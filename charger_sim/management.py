"""What a simulated station answers beyond the core: smart charging, firmware, diagnostics, logs
and the security whitepaper's certificates. Status sequences run after the answer, paced by
:data:`STEP_S`."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

from chargepoint.handlers import Handlers
from charger_sim.handlers import TRIGGERS, Trigger, later
from charger_sim.transactions import StationTransactions

STEP_S = 1.0  # pace of firmware / diagnostics / log status sequences
Payload = dict[str, Any]


def register(st: StationTransactions, on: Handlers) -> None:
    """Answer smart charging, firmware, diagnostics and security calls for ``st``."""

    @on.on("SetChargingProfile")
    def set_charging_profile(p: Payload) -> Payload:
        connector_id = p["connectorId"]
        if connector_id != 0 and connector_id not in st.connectors:
            return {"status": "Rejected"}
        c = st.connectors.get(connector_id)
        status = st.profiles.set(connector_id, p["csChargingProfiles"],
                                 c.tx.id if c is not None and c.tx else None)
        if status == "Accepted":
            for conn in st.connectors.values():
                later(st, st.reassess(conn))
        return {"status": status}

    @on.on("ClearChargingProfile")
    def clear_charging_profile(p: Payload) -> Payload:
        status = st.profiles.clear(p.get("id"), p.get("connectorId"), p.get("chargingProfilePurpose"),
                                   p.get("stackLevel"))
        for conn in st.connectors.values():
            later(st, st.reassess(conn))
        return {"status": status}

    @on.on("GetCompositeSchedule")
    def get_composite_schedule(p: Payload) -> Payload:
        connector_id = p["connectorId"]
        if connector_id != 0 and connector_id not in st.connectors:
            return {"status": "Rejected"}
        c = st.connectors.get(connector_id)
        tx = c.tx if c is not None else None
        schedule = st.profiles.composite(connector_id, p["duration"], p.get("chargingRateUnit"),
                                         st.now(), tx.started if tx else None, tx.id if tx else None)
        return {"status": "Accepted", "connectorId": connector_id,
                "scheduleStart": schedule["startSchedule"], "chargingSchedule": schedule}

    @on.on("UpdateFirmware")
    def update_firmware(p: Payload) -> Payload:
        later(st, _firmware(st, p["retrieveDate"], ["Downloading", "Downloaded", "Installing",
                                                    "Installed"], signed=False))
        return {}

    @on.on("SignedUpdateFirmware")
    def signed_update_firmware(p: Payload) -> Payload:
        later(st, _firmware(st, p["firmware"]["retrieveDateTime"], [
            "Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"],
            signed=True, request_id=p["requestId"]))
        return {"status": "Accepted"}

    @on.on("GetDiagnostics")
    def get_diagnostics(p: Payload) -> Payload:
        later(st, _upload(st, "DiagnosticsStatusNotification", {}))
        return {"fileName": f"diagnostics-{st.identity}.log"}

    @on.on("GetLog")
    def get_log(p: Payload) -> Payload:
        later(st, _upload(st, "LogStatusNotification", {"requestId": p["requestId"]}))
        return {"status": "Accepted", "filename": f"{p['logType']}-{st.identity}.log"}

    @on.on("ExtendedTriggerMessage")
    def extended_trigger(p: Payload) -> Payload:
        requested = p["requestedMessage"]
        trigger = EXTENDED.get(requested) or TRIGGERS.get(requested)
        if trigger is None:
            return {"status": "NotImplemented"}
        later(st, trigger(st, p.get("connectorId")))
        return {"status": "Accepted"}

    _certificates(st, on)


def _certificates(st: StationTransactions, on: Handlers) -> None:
    @on.on("CertificateSigned")
    def certificate_signed(p: Payload) -> Payload:
        st.certificates["ChargePointCertificate"] = p["certificateChain"]
        return {"status": "Accepted"}

    @on.on("InstallCertificate")
    def install_certificate(p: Payload) -> Payload:
        st.certificates[p["certificateType"] + ":" + _digest(p["certificate"])] = p["certificate"]
        return {"status": "Accepted"}

    @on.on("GetInstalledCertificateIds")
    def get_installed_certificate_ids(p: Payload) -> Payload:
        ids = [hash_data(cert) for key, cert in st.certificates.items()
               if key.startswith(p["certificateType"] + ":")]
        if not ids:
            return {"status": "NotFound"}
        return {"status": "Accepted", "certificateHashData": ids}

    @on.on("DeleteCertificate")
    def delete_certificate(p: Payload) -> Payload:
        for key, cert in list(st.certificates.items()):
            if hash_data(cert)["serialNumber"] == p["certificateHashData"].get("serialNumber"):
                del st.certificates[key]
                return {"status": "Accepted"}
        return {"status": "NotFound"}


async def _firmware(st: StationTransactions, when: str, steps: list[str], signed: bool,
                    request_id: int | None = None) -> None:
    start = datetime.fromisoformat(when.replace("Z", "+00:00"))
    await asyncio.sleep(min(max((start - st.now()).total_seconds(), 0), 3600))
    for status in steps:
        if signed:
            await st.call("SignedFirmwareStatusNotification", {"status": status, "requestId": request_id})
        else:
            await st.call("FirmwareStatusNotification", {"status": status})
        await asyncio.sleep(STEP_S)
    st.firmware_version = st.template.firmware_version + "+update"
    st.event("firmware_installed", version=st.firmware_version)
    st.reconnect()


async def _upload(st: StationTransactions, action: str, extra: dict[str, Any]) -> None:
    for status in ("Uploading", "Uploaded"):
        await asyncio.sleep(STEP_S)
        await st.call(action, {"status": status, **extra})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_data(cert: str) -> dict[str, str]:
    digest = _digest(cert)
    return {"hashAlgorithm": "SHA256", "issuerNameHash": digest[:64], "issuerKeyHash": digest[:64],
            "serialNumber": digest[:16]}


async def _trigger_sign(st: StationTransactions, _: int | None) -> None:
    await st.call("SignCertificate", {"csr": f"-----BEGIN CERTIFICATE REQUEST-----\n{st.identity}\n"
                                             "-----END CERTIFICATE REQUEST-----"})


EXTENDED: dict[str, Trigger] = {
    "LogStatusNotification": lambda st, _: st.call("LogStatusNotification", {"status": "Idle"}),
    "SignChargePointCertificate": _trigger_sign,
}
