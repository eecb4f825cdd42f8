"""What a simulated OCPP 2.0.1 station answers about its upkeep (issue #17): firmware updates,
log uploads, certificates, display messages, monitoring, customer information, cost updates and
network profiles.

Why a module apart from :mod:`charger_sim.handlers201`: these are the maintenance and back-office
actions an operator sends now and then, not the session traffic, and they keep state of their own
(:class:`Upkeep`: the firmware and log status a TriggerMessage reports, the display messages and
variable monitors a Get… reports). Status sequences (firmware, logs) run after the answer, paced
by :data:`charger_sim.management.STEP_S` as the 1.6 station's are; a new UpdateFirmware or GetLog
while one runs cancels it and is answered ``AcceptedCanceled``, as the specification says.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers, Reply
from charger_sim import management

if TYPE_CHECKING:
    from charger_sim.station201 import Station201

Payload = dict[str, Any]
PEM = "-----BEGIN CERTIFICATE-----"
# what a GetInstalledCertificateIds may ask for; the station's own certificate is not among them
INSTALLABLE = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
               "ManufacturerRootCertificate", "V2GCertificateChain")
MONITOR_TYPES = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")


@dataclass
class Upkeep:
    """The upkeep state of one 2.0.1 station (what the actions here set and report)."""

    firmware_status: str = "Idle"
    firmware_request: int | None = None
    log_status: str = "Idle"
    log_request: int | None = None
    displays: dict[int, Payload] = field(default_factory=dict)  # display message id -> messageInfo
    monitors: dict[int, Payload] = field(default_factory=dict)  # monitor id -> setMonitoringData (with id)
    monitoring_level: int = 9
    network_profiles: dict[int, Payload] = field(default_factory=dict)  # slot -> connectionData
    customer_data: list[str] = field(default_factory=list)  # what a CustomerInformation clear removed
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # "firmware" / "log" -> its sequence

    def run(self, st: Station201, kind: str, work: Any) -> bool:
        """Start ``work`` as the ``kind`` sequence; True when it replaced one still running."""
        previous = self.tasks.get(kind)
        replaced = previous is not None and not previous.done()
        if previous is not None and replaced:
            previous.cancel()
        self.tasks[kind] = st.spawn(work)
        return replaced


def _when(text: str | None, st: Station201) -> float:
    """Seconds from now until ``text`` (0 when absent or past; at most an hour)."""
    if not text:
        return 0.0
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return min(max((moment - st.now()).total_seconds(), 0.0), 3600.0)


async def _firmware_status(st: Station201, status: str) -> None:
    st.upkeep.firmware_status = status
    payload: Payload = {"status": status}
    if st.upkeep.firmware_request is not None:  # Idle with none under way: no requestId at all
        payload["requestId"] = st.upkeep.firmware_request
    with contextlib.suppress(*CALL_FAILED):
        await st.call("FirmwareStatusNotification", payload)


async def _firmware(st: Station201, p: Payload) -> None:
    """Download (at retrieveDateTime), verify a signed image, install (at installDateTime), then
    reboot with reason FirmwareUpdate and tell Installed once booted again."""
    firmware = p["firmware"]
    wait = _when(firmware["retrieveDateTime"], st)
    if wait:
        await _firmware_status(st, "DownloadScheduled")
        await asyncio.sleep(wait)
    for status in ("Downloading", "Downloaded") + (("SignatureVerified",) if firmware.get("signature") else ()):
        await _firmware_status(st, status)
        await asyncio.sleep(management.STEP_S)
    wait = _when(firmware.get("installDateTime"), st)
    if wait:
        await _firmware_status(st, "InstallScheduled")
        await asyncio.sleep(wait)
    while any(c.tx is not None for c in st.connectors.values()):  # installs once no session runs
        await asyncio.sleep(management.STEP_S)
    for status in ("Installing", "InstallRebooting"):
        await _firmware_status(st, status)
        await asyncio.sleep(management.STEP_S)
    st.firmware_version = st.template.firmware_version + "+update"
    st.upkeep.firmware_status = "Installed"
    st.event("firmware_installed", version=st.firmware_version)
    st.boot_reason = "FirmwareUpdate"
    st.reconnect()


async def firmware_after_boot(st: Station201) -> None:
    """Told once the station is back after a firmware reboot: Installed."""
    if st.upkeep.firmware_status == "Installed" and st.upkeep.firmware_request is not None:
        await _firmware_status(st, "Installed")
        st.upkeep.firmware_request = None


async def _log(st: Station201, request_id: int) -> None:
    for status in ("Uploading", "Uploaded"):
        await asyncio.sleep(management.STEP_S)
        st.upkeep.log_status = status
        with contextlib.suppress(*CALL_FAILED):
            await st.call("LogStatusNotification", {"status": status, "requestId": request_id})
    st.upkeep.log_status, st.upkeep.log_request = "Idle", None


def register(st: Station201, on: Handlers) -> None:
    """Answer the upkeep actions for ``st`` (see the module)."""
    _firmware_and_logs(st, on)
    _certificates(st, on)
    _displays(st, on)
    _monitoring(st, on)
    _back_office(st, on)


def _firmware_and_logs(st: Station201, on: Handlers) -> None:
    @on.on("UpdateFirmware")
    def update_firmware(p: Payload) -> Payload:
        if p["firmware"].get("signingCertificate") is not None and PEM not in p["firmware"]["signingCertificate"]:
            return {"status": "InvalidCertificate"}
        st.upkeep.firmware_request = p["requestId"]
        replaced = st.upkeep.run(st, "firmware", _firmware(st, p))
        return {"status": "AcceptedCanceled" if replaced else "Accepted"}

    @on.on("GetLog")
    def get_log(p: Payload) -> Payload:
        st.upkeep.log_request = p["requestId"]
        replaced = st.upkeep.run(st, "log", _log(st, p["requestId"]))
        kind = "security" if p["logType"] == "SecurityLog" else "diagnostics"
        return {"status": "AcceptedCanceled" if replaced else "Accepted",
                "filename": f"{kind}-{st.identity}-{p['requestId']}.log"}

    @on.on("PublishFirmware")
    def publish_firmware(p: Payload) -> Payload:
        return {"status": "Rejected"}  # not a local controller: it has nothing to publish to

    @on.on("UnpublishFirmware")
    def unpublish_firmware(p: Payload) -> Payload:
        return {"status": "NoFirmware"}


def _certificates(st: Station201, on: Handlers) -> None:
    @on.on("CertificateSigned")
    def certificate_signed(p: Payload) -> Payload:
        if PEM not in p["certificateChain"]:
            return {"status": "Rejected"}
        kind = p.get("certificateType", "ChargingStationCertificate")
        if kind == "V2GCertificate":  # listed (GetInstalledCertificateIds) as the V2GCertificateChain
            serial = management.hash_data(p["certificateChain"])["serialNumber"]
            st.certificates["V2GCertificateChain:" + serial] = p["certificateChain"]
        else:  # its own: not listed, and never deleted
            st.certificates[kind] = p["certificateChain"]
        st.event("certificate_installed", type=kind)
        return {"status": "Accepted"}

    @on.on("InstallCertificate")
    def install_certificate(p: Payload) -> Payload:
        if PEM not in p["certificate"]:
            return {"status": "Rejected"}
        serial = management.hash_data(p["certificate"])["serialNumber"]
        st.certificates[p["certificateType"] + ":" + serial] = p["certificate"]
        return {"status": "Accepted"}

    @on.on("GetInstalledCertificateIds")
    def installed_ids(p: Payload) -> Payload:
        wanted = p.get("certificateType") or list(INSTALLABLE)
        chain = [{"certificateType": key.split(":")[0], "certificateHashData": management.hash_data(cert)}
                 for key, cert in st.certificates.items() if key.split(":")[0] in wanted]
        return {"status": "Accepted", "certificateHashDataChain": chain} if chain else {"status": "NotFound"}

    @on.on("DeleteCertificate")
    def delete_certificate(p: Payload) -> Payload:
        serial = p["certificateHashData"]["serialNumber"]
        for key, cert in list(st.certificates.items()):
            if management.hash_data(cert)["serialNumber"] == serial:
                if ":" not in key:  # the station's own certificate: deleting it is refused
                    return {"status": "Failed"}
                del st.certificates[key]
                return {"status": "Accepted"}
        return {"status": "NotFound"}


def _displays(st: Station201, on: Handlers) -> None:
    @on.on("SetDisplayMessage")
    def set_display_message(p: Payload) -> Payload:
        message = p["message"]
        if message["message"]["format"] not in ("ASCII", "UTF8"):
            return {"status": "NotSupportedMessageFormat"}
        tx = message.get("transactionId")
        if tx is not None and tx not in st.tx_ids.values():
            return {"status": "UnknownTransaction"}
        st.upkeep.displays[message["id"]] = message
        st.event("display_message", id=message["id"], content=message["message"]["content"])
        return {"status": "Accepted"}

    @on.on("GetDisplayMessages")
    def get_display_messages(p: Payload) -> Payload | Reply:
        found = [m for m in st.upkeep.displays.values()
                 if (not p.get("id") or m["id"] in p["id"]) and p.get("priority") in (None, m["priority"])
                 and p.get("state") in (None, m.get("state"))]
        if not found:
            return {"status": "Unknown"}

        async def notify() -> None:
            with contextlib.suppress(*CALL_FAILED):
                await st.call("NotifyDisplayMessages", {"requestId": p["requestId"], "messageInfo": found,
                                                        "tbc": False})
        return Reply({"status": "Accepted"}, notify)

    @on.on("ClearDisplayMessage")
    def clear_display_message(p: Payload) -> Payload:
        return {"status": "Accepted" if st.upkeep.displays.pop(p["id"], None) is not None else "Unknown"}


def _monitor_result(d: Payload, status: str, monitor_id: int | None) -> Payload:
    result: Payload = {"status": status, "type": d["type"], "severity": d["severity"],
                       "component": d["component"], "variable": d["variable"]}
    if monitor_id is not None:
        result["id"] = monitor_id
    return result


def _monitoring(st: Station201, on: Handlers) -> None:
    @on.on("SetVariableMonitoring")
    def set_variable_monitoring(p: Payload) -> Payload:
        results = []
        for d in p["setMonitoringData"]:
            found = st.model.get(d["component"], d["variable"])
            if found.status in ("UnknownComponent", "UnknownVariable"):
                results.append(_monitor_result(d, found.status, None))
                continue
            if d.get("id") is not None and d["id"] not in st.upkeep.monitors:
                results.append(_monitor_result(d, "Rejected", d["id"]))  # replacing one that is not there
                continue
            if d["type"] not in MONITOR_TYPES:
                results.append(_monitor_result(d, "UnsupportedMonitorType", None))
                continue
            monitor_id = d.get("id") or max(st.upkeep.monitors, default=0) + 1
            st.upkeep.monitors[monitor_id] = {**d, "id": monitor_id}
            results.append(_monitor_result(d, "Accepted", monitor_id))
        return {"setMonitoringResult": results}

    @on.on("ClearVariableMonitoring")
    def clear_variable_monitoring(p: Payload) -> Payload:
        return {"clearMonitoringResult": [
            {"id": i, "status": "Accepted" if st.upkeep.monitors.pop(i, None) is not None else "NotFound"}
            for i in p["id"]]}

    @on.on("SetMonitoringBase")
    def set_monitoring_base(p: Payload) -> Payload:
        if p["monitoringBase"] != "All":  # FactoryDefault, HardWiredOnly: the custom monitors go
            st.upkeep.monitors.clear()
        return {"status": "Accepted"}

    @on.on("SetMonitoringLevel")
    def set_monitoring_level(p: Payload) -> Payload:
        st.upkeep.monitoring_level = p["severity"]
        return {"status": "Accepted"}

    @on.on("GetMonitoringReport")
    def get_monitoring_report(p: Payload) -> Payload | Reply:
        asked = p.get("componentVariable") or []
        monitors = [m for m in st.upkeep.monitors.values() if not asked or any(
            a["component"]["name"] == m["component"]["name"]
            and (a.get("variable") is None or a["variable"]["name"] == m["variable"]["name"]) for a in asked)]
        if not monitors:
            return {"status": "EmptyResultSet"}

        async def report() -> None:
            generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            monitor = [{"component": m["component"], "variable": m["variable"], "variableMonitoring": [
                {"id": m["id"], "transaction": bool(m.get("transaction", False)), "value": m["value"],
                 "type": m["type"], "severity": m["severity"]}]} for m in monitors]
            with contextlib.suppress(*CALL_FAILED):
                await st.call("NotifyMonitoringReport", {"requestId": p["requestId"], "seqNo": 0,
                                                         "generatedAt": generated, "tbc": False, "monitor": monitor})
        return Reply({"status": "Accepted"}, report)


def _back_office(st: Station201, on: Handlers) -> None:
    @on.on("CustomerInformation")
    def customer_information(p: Payload) -> Payload | Reply:
        certificate = p.get("customerCertificate")
        who = (p.get("idToken") or {}).get("idToken") or p.get("customerIdentifier") or (
            f"certificate {certificate['serialNumber']}" if certificate else None)
        if who is None:
            return {"status": "Invalid"}  # neither a token, an identifier nor a certificate
        known = [f"{who}: {k}" for k, held in (("authorization cache", st.auth_cache),
                                                 ("local list", st.local_list)) if who in held]
        if p["clear"] and who in st.auth_cache:
            del st.auth_cache[who]
            st.upkeep.customer_data.append(str(who))

        async def notify() -> None:
            generated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            data = "; ".join(known) if known else f"{who}: no data held"
            with contextlib.suppress(*CALL_FAILED):
                await st.call("NotifyCustomerInformation", {"data": data[:512], "tbc": False, "seqNo": 0,
                                                            "generatedAt": generated, "requestId": p["requestId"]})
        return Reply({"status": "Accepted"}, notify) if p["report"] else {"status": "Accepted"}

    @on.on("CostUpdated")
    def cost_updated(p: Payload) -> Payload:
        st.event("cost_updated", transaction_id=p["transactionId"], total_cost=p["totalCost"])
        return {}

    @on.on("SetNetworkProfile")
    def set_network_profile(p: Payload) -> Payload:
        data = p["connectionData"]
        if not str(data.get("ocppCsmsUrl", "")).startswith(("ws://", "wss://")):
            return {"status": "Rejected"}
        st.upkeep.network_profiles[p["configurationSlot"]] = data
        return {"status": "Accepted"}


async def trigger_firmware(st: Station201, targets: list[Any]) -> None:
    await _firmware_status(st, st.upkeep.firmware_status if st.upkeep.firmware_request is not None else "Idle")
    # (a FirmwareStatusNotification triggered with none under way says Idle, and no requestId)


async def trigger_log(st: Station201, targets: list[Any]) -> None:
    payload: Payload = {"status": st.upkeep.log_status}
    if st.upkeep.log_request is not None:
        payload["requestId"] = st.upkeep.log_request
    await st.call("LogStatusNotification", payload)


def trigger_sign(kind: str) -> Any:
    async def sign(st: Station201, targets: list[Any]) -> None:
        await st.call("SignCertificate", {"certificateType": kind, "csr": (
            f"-----BEGIN CERTIFICATE REQUEST-----\n{st.identity}\n-----END CERTIFICATE REQUEST-----")})
    return sign
