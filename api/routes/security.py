"""A charge point's security over REST: its profile, its password, its certificates, the security
events, and the websocket port's TLS (security whitepaper; TC_073, 074, 077, 083)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Caller, require
from api.deps import Central, Certificates, Credentials, Paging, Queries
from api.errors import ApiError, declare
from api.gate import GuardedRoute
from api.routes.commands import Wait, answered
from api.schemas import Paged
from api.schemas.security import (
    CertificateDetail,
    CertificateOut,
    PasswordChange,
    PasswordChanged,
    ProfileUpgrade,
    ProfileUpgraded,
    SecurityEventOut,
    TlsLoaded,
    summary,
)
from csms.services.charge_point_security import password_taken
from csms.timeutil import iso

router = APIRouter(tags=["security"], route_class=GuardedRoute)
Operator = Annotated[Caller, Depends(require("operator"))]
read = Depends(require("operator", "integrator", "viewer"))
admin = Depends(require("admin"))
SENT = {404: "`ChargePointNotFound`", 409: "`ChargePointOffline`", 502: "`CallError`",
        504: "`Timeout`: no answer in time"}
CP = "/api/v1/charge-points/{charge_point_id}"


@router.post(CP + "/password", summary="Rotate the charge point's password (AuthorizationKey; 2.0.1: "
             "BasicAuthPassword)", response_model=PasswordChanged,
             responses=declare({**SENT, 422: "`InvalidPassword`: not 16-20 bytes (2.0.1: 16-40 characters)"}))
async def rotate_password(charge_point_id: str, body: PasswordChange, caller: Operator,
                          credentials: Credentials, wait: Wait = 30) -> PasswordChanged:
    """Sends ``ChangeConfiguration AuthorizationKey`` (hex, as the security whitepaper defines
    it) with the given password or 20 random bytes (an OCPP 2.0.1 station: ``SetVariables
    SecurityCtrlr.BasicAuthPassword``, the password as it is). Accepted (or RebootRequired): that is its
    password from now on. Rejected: the old one stays. No answer (504): the old one stays and
    the new one gets in too until it connects with one of them (``password_unsettled``)."""
    key, sent_as, run = await credentials.rotate_password(charge_point_id, body.password, caller.who,
                                                          max(wait, 1))
    answered(run)
    return PasswordChanged(authorization_key=key, sent_as=sent_as, command=summary(run),
                           stored=password_taken(run))


@router.post(CP + "/security-profile", summary="Raise the security profile (then Reset)",
             response_model=ProfileUpgraded,
             responses=declare({**SENT, 409: "`ChargePointOffline`, `SecurityProfileDowngrade`, "
                                             "`PasswordRequired`, `TlsRequired`, `ClientCaRequired`, or "
                                             "`NotInVersion` (an OCPP 2.0.1 station: see the message)"}))
async def upgrade_profile(charge_point_id: str, body: ProfileUpgrade, caller: Operator,
                          credentials: Credentials, wait: Wait = 30) -> ProfileUpgraded:
    """Sends ``ChangeConfiguration SecurityProfile`` and, once accepted, a ``Reset``. The new
    profile takes effect when the charge point connects at it; from then on a connect below it
    is refused (TC_083). Until then it may still connect as before (the whitepaper lets a
    charge point fall back when the new profile fails)."""
    upgrade = await credentials.upgrade_profile(charge_point_id, body.profile, body.reset,
                                                caller.who, max(wait, 1))
    answered(upgrade.change)
    return ProfileUpgraded(profile=upgrade.profile, pending=upgrade.reset is not None,
                           change_configuration=summary(upgrade.change),
                           reset=summary(upgrade.reset) if upgrade.reset else None)


@router.get("/api/v1/security-events", summary="Security events, newest first", dependencies=[read],
            response_model=Paged[SecurityEventOut], responses=declare({}))
async def security_events(page: Paging, reads: Queries, charge_point_id: str | None = None,
                          type: str | None = None,  # the field's own name
                          source: Annotated[str | None, Query(description="charge_point or central_system")] = None,
                          since: datetime | None = None) -> dict[str, Any]:
    """Reported by charge points (SecurityEventNotification) and seen by the central system
    (refused handshakes, refused CSRs); each is also pushed on ``/api/v1/events``."""
    return await reads.security.events(page, charge_point_id=charge_point_id, event_type=type,
                                       source=source, since=since)


@router.get(CP + "/security-events", summary="One charge point's security events", dependencies=[read],
            response_model=Paged[SecurityEventOut], responses=declare({}))
async def charge_point_security_events(charge_point_id: str, page: Paging, reads: Queries) -> dict[str, Any]:
    return await reads.security.events(page, charge_point_id=charge_point_id)


@router.get("/api/v1/certificates", summary="Certificates the central system's CA issued",
            dependencies=[read], response_model=Paged[CertificateOut], responses=declare({}))
async def certificates(page: Paging, reads: Queries, charge_point_id: str | None = None) -> dict[str, Any]:
    return await reads.security.certificates(page, charge_point_id=charge_point_id)


@router.get("/api/v1/certificates/{serial}", summary="One issued certificate, with its PEM",
            dependencies=[read], response_model=CertificateDetail,
            responses=declare({404: "`CertificateNotFound`"}))
async def certificate(serial: str, reads: Queries) -> dict[str, Any]:
    return await reads.security.certificate(serial)


@router.post(CP + "/certificates/renew", summary="Renew its certificate (ask for a new CSR)",
             responses=declare({**SENT, 409: "`ChargePointOffline` or `NoCertificateAuthority`"}))
async def renew_certificate(charge_point_id: str, caller: Operator, service: Certificates,
                            wait: Wait = 30) -> dict[str, Any]:
    """Sends ``ExtendedTriggerMessage SignChargePointCertificate``: the charge point makes a new
    key and CSR, the CA signs it and ``CertificateSigned`` carries it back (see
    ``GET /api/v1/certificates``)."""
    if not service.has_ca:
        raise ApiError(409, "NoCertificateAuthority", "no CA: run `chargebay ca init` (or set "
                       "CHARGEBAY_CA_CERT and CHARGEBAY_CA_KEY), then send the server SIGHUP "
                       "(kill -HUP) or restart it")
    run = answered(await service.renew(charge_point_id, caller.who, max(wait, 1)))
    return summary(run).model_dump()


@router.get("/api/v1/system/tls", summary="The websocket port's TLS certificate", dependencies=[admin],
            response_model=TlsLoaded, responses=declare({404: "`NoTls`: serving ws://"}))
async def tls(cs: Central) -> TlsLoaded:
    if cs.tls is None:
        raise ApiError(404, "NoTls", "this node serves ws:// (no --tls-cert)")
    loaded = cs.tls.loaded
    return TlsLoaded.model_validate({"certificate": loaded.certificate, "client_ca": loaded.client_ca,
                                     "not_after": iso(loaded.not_after), "loaded_at": iso(loaded.loaded_at),
                                     "rsa_certificate": loaded.rsa_certificate})


@router.post("/api/v1/system/tls/reload", summary="Reload the TLS certificate, key and CAs",
             dependencies=[admin], response_model=TlsLoaded,
             responses=declare({404: "`NoTls`: serving ws://", 422: "`TlsNotLoaded`: the old stay in force"}))
async def reload_tls(cs: Central) -> TlsLoaded:
    """The files named at start are read again (as on SIGHUP): the next handshake uses them, no
    open connection is dropped. This node only: signal or call each node of a cluster."""
    if cs.tls is None:
        raise ApiError(404, "NoTls", "this node serves ws:// (no --tls-cert)")
    try:
        cs.reload_tls()
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ApiError(422, "TlsNotLoaded", f"not reloaded, the previous ones stay in force: {exc}") from None
    return await tls(cs)
