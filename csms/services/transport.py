"""What the central system's websocket port offers (TLS, client certificates), and which security
profiles a charge point can therefore connect at: one rule for every way a profile is set (PATCH,
the OCPP upgrade), so none of them can lock a charge point out."""

from __future__ import annotations

from dataclasses import dataclass

from csms.services.errors import Conflict


@dataclass(frozen=True, slots=True)
class Transport:
    """What this central system's websocket port offers."""

    tls: bool  # wss:// here, or TLS ended by a trusted proxy in front
    client_certificates: bool  # client certificates checked (profile 3)


def reachable(profile: int, transport: Transport) -> None:
    """:class:`Conflict` for a profile no charge point could connect at on this server: 2 and 3
    without TLS (``TlsRequired``), 3 without a client CA (``ClientCaRequired``)."""
    if profile >= 2 and not transport.tls:
        raise Conflict("TlsRequired", f"profile {profile} needs TLS: start serve with --tls-cert")
    if profile == 3 and not transport.client_certificates:
        raise Conflict("ClientCaRequired", "profile 3 needs client certificates: start serve with "
                       "--tls-client-ca")
