"""Checking charge point Basic-auth passwords (OCPP security profile 1).

Verified passwords are remembered per charge point (as a SHA-256 of what was presented) so a
reconnect storm of thousands does not pay the KDF each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from common.passwords import verify_password


class PasswordChecker:
    """Verifies off the event loop and caches successes until the stored hash changes."""

    def __init__(self) -> None:
        self._ok: dict[str, tuple[str, bytes]] = {}

    async def check(self, charge_point_id: str, password: str, stored: str) -> bool:
        fingerprint = hashlib.sha256(password.encode()).digest()
        cached = self._ok.get(charge_point_id)
        if cached is not None and cached[0] == stored and hmac.compare_digest(cached[1], fingerprint):
            return True
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._ok[charge_point_id] = (stored, fingerprint)
        return ok
