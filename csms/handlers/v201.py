"""Handlers of every charging-station-initiated OCPP 2.0.1 action.

Where 2.0.1 asks what 1.6 asked, the 1.6 handler does the work on the payload translated to its
shape, so both versions keep one store and one set of rules: BootNotification (the station's
record, Accepted/Pending/Rejected by its registration), Heartbeat, Authorize (the id-tag table:
status, expiry, group = parent), DataTransfer, SecurityEventNotification, SignCertificate (the
central system's CA), FirmwareStatusNotification, LogStatusNotification. StatusNotification
reports a connector of an EVSE: it keeps the station's topology (``evse_connectors``) and feeds
the 1.6 connector status and history by EVSE id, the unit 2.0.1 charges and reports by.

NotifyReport also fills the station's device model (:mod:`csms.store.device_model`). Every other
action is validated, stored (the notifications table, its payload as detail: nothing
is lost) and answered with the spec's answer for a central system that takes no further action
on it yet; the message log keeps the frames as for every action.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, cast

import orjson
from sqlalchemy import Table

from csms.handlers import core, firmware, security, transactions
from csms.handlers import handles as _handles
from csms.handlers.context import ChargePointLink, Handler, Services
from csms.handlers.core import notification
from csms.store.device_model import keep_reported, reported
from csms.store.models import EvseConnector, Notification
from csms.store.reservations import reservation_over
from csms.timeutil import now_utc, parse_ts
from ocppj.basic_auth import redacted

log = logging.getLogger(__name__)
_NOTIFICATIONS = cast(Table, Notification.__table__)
_EVSE_CONNECTORS = cast(Table, EvseConnector.__table__)
VERSION = "2.0.1"
KIND_CHARS = 32  # notifications.kind


def handles(action: str) -> Callable[[Handler], Handler]:
    return _handles(action, VERSION)


@handles("BootNotification")
async def boot_notification(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    station = p["chargingStation"]
    modem = station.get("modem") or {}
    ctx.writer.insert(_NOTIFICATIONS, notification(conn, "boot_reason", p["reason"], None, None, None))
    answer = await core.boot_notification(ctx, conn, {
        "chargePointVendor": station["vendorName"], "chargePointModel": station["model"],
        "chargePointSerialNumber": station.get("serialNumber"),
        "firmwareVersion": station.get("firmwareVersion"),
        "iccid": modem.get("iccid"), "imsi": modem.get("imsi")})  # the answer's shape is 2.0.1's too
    if answer["status"] == "Accepted":
        ctx.provisioning.booted(conn)  # its device model, once this answer is sent
    return answer


@handles("StatusNotification")
async def status_notification(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    now = now_utc()
    ctx.writer.upsert(_EVSE_CONNECTORS, {
        "charge_point_id": conn.charge_point_id, "evse_id": p["evseId"], "connector_id": p["connectorId"],
        "status": p["connectorStatus"], "timestamp": parse_ts(p["timestamp"]), "updated_at": now},
        ("charge_point_id", "evse_id", "connector_id"))
    await core.status_notification(ctx, conn, {
        "connectorId": p["evseId"], "status": p["connectorStatus"], "errorCode": "NoError",
        "timestamp": p["timestamp"]})
    return {}


async def id_token_info(ctx: Services, conn: ChargePointLink, id_token: dict[str, Any]) -> dict[str, Any]:
    """2.0.1's ``idTokenInfo`` for an id token: the id-tag table's verdict on its value (its
    type is not part of the key), the group being the tag's parent."""
    return token_info((await transactions.authorize(ctx, conn, {"idTag": id_token["idToken"]}))["idTagInfo"])


def token_info(info: dict[str, Any]) -> dict[str, Any]:
    """1.6's ``idTagInfo`` as 2.0.1's ``idTokenInfo``."""
    found: dict[str, Any] = {"status": info["status"]}
    if "expiryDate" in info:
        found["cacheExpiryDateTime"] = info["expiryDate"]
    if "parentIdTag" in info:
        found["groupIdToken"] = {"idToken": info["parentIdTag"], "type": "Central"}
    return found


@handles("Authorize")
async def authorize(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    return {"idTokenInfo": await id_token_info(ctx, conn, p["idToken"])}


# Actions whose 2.0.1 payload and answer are 1.6's (as far as these handlers read and write them):
# the 1.6 handler serves both versions
SHARED: dict[str, Handler] = {
    "Heartbeat": core.heartbeat, "DataTransfer": core.data_transfer,
    "SecurityEventNotification": security.security_event,
    "LogStatusNotification": security.log_status, "FirmwareStatusNotification": firmware.firmware_status,
}
for _action, _shared in SHARED.items():
    handles(_action)(_shared)


# action -> the answer of a central system that keeps the message and takes no further action
KEPT: dict[str, dict[str, Any]] = {
    "ClearedChargingLimit": {},
    "Get15118EVCertificate": {"status": "Failed", "exiResponse": ""},  # no ISO 15118 PKI here
    "GetCertificateStatus": {"status": "Failed"},  # no OCSP responder here
    "NotifyChargingLimit": {},
    "NotifyCustomerInformation": {},
    "NotifyDisplayMessages": {},
    "NotifyEVChargingNeeds": {"status": "Rejected"},  # no schedule will follow
    "NotifyEVChargingSchedule": {"status": "Accepted"},
    "NotifyEvent": {},
    "NotifyMonitoringReport": {},
    "PublishFirmwareStatusNotification": {},
    "ReportChargingProfiles": {},
}


def notification_kind(action: str) -> str:
    """The notifications table's ``kind`` of an action: snake case, acronyms whole
    (Get15118EVCertificate: get15118_ev_certificate), a long "…Notification" without that word
    (PublishFirmwareStatusNotification: publish_firmware_status), within the column's 32."""
    kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", action).lower()
    if len(kind) > KIND_CHARS:
        kind = kind.removesuffix("_notification")
    return kind[:KIND_CHARS]


def _kept(action: str, answer: dict[str, Any]) -> Handler:
    kind = notification_kind(action)

    async def keep(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
        status = p.get("status")
        request_id = p.get("requestId")
        ctx.writer.insert(_NOTIFICATIONS, notification(
            conn, kind, status if isinstance(status, str) else None,
            request_id if isinstance(request_id, int) else None, None, orjson.dumps(redacted(action, p)).decode()))
        ctx.events.publish(kind, conn.charge_point_id)
        return dict(answer)

    keep.__name__ = f"keep_{kind}"
    return keep


for _action, _answer in KEPT.items():
    handles(_action)(_kept(_action, _answer))

_keep_report = _kept("NotifyReport", {})
_keep_reservation_update = _kept("ReservationStatusUpdate", {})
_keep_csr = _kept("SignCertificate", {})


@handles("SignCertificate")
async def sign_certificate(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """As 1.6's (the CA signs, or the CSR is kept for an operator), the certificate going back
    with its ``certificateType``; a V2G certificate is refused: no ISO 15118 PKI here."""
    kind = p.get("certificateType", "ChargingStationCertificate")
    if kind != "ChargingStationCertificate":
        log.warning("%s: refused a CSR for a %s (no ISO 15118 PKI here)", conn.charge_point_id, kind)
        await _keep_csr(ctx, conn, p)
        return {"status": "Rejected"}
    if ctx.certificates.has_ca:
        return {"status": ctx.certificates.on_csr(conn.charge_point_id, p["csr"], kind)}
    return await security.sign_certificate(ctx, conn, p)


@handles("ReservationStatusUpdate")
async def reservation_status_update(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """The station let a reservation go (Expired, or Removed): kept, and the reservation is over."""
    ctx.writer.submit(reservation_over(conn.charge_point_id, p["reservationId"], p["reservationUpdateStatus"]))
    return await _keep_reservation_update(ctx, conn, p)


@handles("NotifyReport")
async def notify_report(ctx: Services, conn: ChargePointLink, p: dict[str, Any]) -> dict[str, Any]:
    """A part of a report chain (GetBaseReport, GetReport; seqNo, tbc): kept whole like the
    others, and its variable attributes into the device model."""
    rows = reported(conn.charge_point_id, p.get("reportData") or [], now_utc())
    keep_reported(ctx.writer, rows)
    # told once answered: by then the rows are committed with the answer's log row (durable answers)
    conn.after_answer(lambda: ctx.events.publish("device_model", conn.charge_point_id, request_id=p["requestId"],
                                                 seq_no=p["seqNo"], tbc=bool(p.get("tbc")), variables=len(rows)))
    return await _keep_report(ctx, conn, p)
