"""Charge point certificates from the central system's CA (TC_074, TC_077): a CSR in, a chain out.

A ``SignCertificate`` is answered at once: Rejected for a CSR the whitepaper does not allow
(:func:`csms.ca.check_csr`; also a security event), Accepted otherwise, and then, on its own, the
CA signs it, the certificate is recorded, and ``CertificateSigned`` carries the chain back; the
charge point's answer (Accepted, Rejected, or none) is the record's status. A renewal is the
central system asking for a new CSR (``ExtendedTriggerMessage SignChargePointCertificate``).
Without a CA the CSR is kept for an operator to answer, as before there was one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from cryptography import x509

from csms.ca import CertificateAuthority, CsrRefused, check_csr
from csms.services.commands import CommandRun, CommandService
from csms.services.security_events import SecurityEvents
from csms.store.models import table
from csms.store.security_models import IssuedCertificate
from csms.store.writer import Writer
from csms.timeutil import now_utc
from ocppj.versions import V16

log = logging.getLogger(__name__)
_CERTS = table(IssuedCertificate)


class CertificateService:
    """Answers CSRs with the CA the central system has at the moment (see the module)."""

    def __init__(self, writer: Writer, commands: CommandService, security: SecurityEvents,
                 ca: Callable[[], CertificateAuthority | None]) -> None:
        self._writer = writer
        self._commands = commands
        self._security = security
        self._ca = ca
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def has_ca(self) -> bool:
        return self._ca() is not None

    def on_csr(self, charge_point_id: str, csr_pem: str, certificate_type: str | None = None) -> str:
        """The answer to a SignCertificate: Accepted (the CA signs it next) or Rejected. A 2.0.1
        station's ``certificate_type`` goes back with the certificate (CertificateSigned)."""
        ca = self._ca()
        assert ca is not None, "without a CA the handler keeps the CSR for an operator"
        try:
            csr, _ = check_csr(csr_pem, charge_point_id)
        except CsrRefused as exc:
            self._security.seen(charge_point_id, "InvalidCsr", f"CSR refused: {exc}")
            log.warning("%s: CSR refused: %s", charge_point_id, exc)
            return "Rejected"
        task = asyncio.create_task(self._issue(ca, charge_point_id, csr, certificate_type))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return "Accepted"

    async def _issue(self, ca: CertificateAuthority, charge_point_id: str,
                     csr: x509.CertificateSigningRequest, certificate_type: str | None = None) -> None:
        try:
            issued = await asyncio.to_thread(ca.sign, csr, charge_point_id)
        except Exception as exc:  # an external CA may fail in any way: recorded, not raised
            self._security.seen(charge_point_id, "InvalidCsr", f"the CA did not sign: {exc}")
            log.exception("%s: the CA did not sign its CSR", charge_point_id)
            return
        command_id = self._commands.new_id()
        payload = {"certificateChain": issued.chain}
        if certificate_type is not None:
            payload["certificateType"] = certificate_type
        await self._writer.save(_CERTS, [{
            "charge_point_id": charge_point_id, "serial": issued.serial, "subject": issued.subject,
            "key_type": issued.key_type, "not_before": issued.not_before,
            "not_after": issued.not_after, "certificate": issued.certificate, "status": "Sent",
            "command_id": command_id, "created_at": now_utc()}])
        await self._commands.record(command_id, charge_point_id, "CertificateSigned", payload,
                                    requested_by="central system CA")
        outcome = await self._commands.send(charge_point_id, "CertificateSigned", payload,
                                            command_id=command_id)
        answered = outcome.payload.get("status") if outcome.kind == "result" and outcome.payload else None
        status = answered if answered in ("Accepted", "Rejected") else "Failed"
        await self._writer.changed(_CERTS.update().where(_CERTS.c.serial == issued.serial)
                                   .values(status=status))
        if status != "Accepted":
            log.warning("%s: CertificateSigned for serial %s ended %s", charge_point_id,
                        issued.serial, outcome.kind if answered is None else answered)

    async def renew(self, charge_point_id: str, requested_by: str, wait: float) -> CommandRun:
        """Ask the charge point for a new CSR (1.6: ExtendedTriggerMessage
        SignChargePointCertificate; 2.0.1: TriggerMessage SignChargingStationCertificate): its
        answer to that goes through :meth:`on_csr`."""
        if await self._commands.version(charge_point_id) is V16:
            action, payload = "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        else:
            action, payload = "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}
        return await self._commands.run(charge_point_id, action, payload, wait=wait, requested_by=requested_by)
