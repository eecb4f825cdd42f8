"""Hashing of charge point Basic-auth passwords (OCPP security profile 1).

scrypt from the standard library; verified passwords are remembered per charge point (as a
SHA-256 of what was presented) so a reconnect storm of thousands does not pay the KDF each time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


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
