"""Checking charge point Basic-auth passwords (OCPP security profile 1), and limiting guesses.

Verified passwords are remembered per charge point (as a SHA-256 of what was presented) so a
reconnect storm of thousands does not pay the KDF each time. Every scrypt check of the process
(these, and the back-office logins through :meth:`PasswordChecker.verify`) waits for one of
``password_checks`` slots, so guessers cannot take every core away from the event loop and the
writer threads.

Wrong passwords count per charge point id and per source address within ``auth_window``; past
either limit the handshake is answered 429 before any scrypt runs. A charge point that has logged
in from an address before is judged there by its own count only (id and address together): a
guesser elsewhere, or one sharing its NAT and spraying other ids, does not lock it out, while
guesses at it from its own address still stop at the per-id limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass

from common.passwords import verify_password
from common.ratelimit import FailureLimiter, RefusalLog
from common.settings import Settings
from ocppj.basic_auth import alternatives

log = logging.getLogger(__name__)
KNOWN_ADDRESSES = 100_000  # (charge point, address) pairs remembered, least recently used dropped


def check_slots(configured: int) -> int:
    """How many scrypt checks may run at once: as configured, or one less than the cores."""
    return configured or max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A handshake's password check: ``ok``, or refused with ``retry_after`` seconds (429).
    ``pending``: it got in with the pending password, not the stored one."""

    ok: bool
    retry_after: float | None = None
    pending: bool = False


class PasswordChecker:
    """Verifies off the event loop, a bounded number at once; caches successes until the stored
    hash changes; limits failures (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.per_id = settings.cp_password_failures_per_id
        self.per_ip = settings.cp_password_failures_per_ip
        self.limiter = FailureLimiter(settings.auth_window)
        self._slots = asyncio.Semaphore(check_slots(settings.password_checks))
        self._ok: dict[str, tuple[str, bytes]] = {}
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wrong = RefusalLog(log)
        self._throttled = RefusalLog(log)

    async def verify(self, password: str | bytes, stored: str) -> bool:
        """One scrypt check in a worker thread, once a slot is free."""
        async with self._slots:
            return await asyncio.to_thread(verify_password, password, stored)

    async def check(self, charge_point_id: str, password: bytes, stored: str) -> bool:
        """The password as presented, or (once more) the bytes it stands for when it is a hex
        AuthorizationKey sent undecoded (:func:`ocppj.basic_auth.alternatives`): a charge point
        whose firmware skips the decoding is not locked out by a rotation."""
        fingerprint = hashlib.sha256(password).digest()
        cached = self._ok.get(charge_point_id)
        if cached is not None and cached[0] == stored and hmac.compare_digest(cached[1], fingerprint):
            return True
        for candidate in (password, *alternatives(password)):
            if await self.verify(candidate, stored):
                self._ok[charge_point_id] = (stored, fingerprint)
                return True
        return False

    async def matches(self, charge_point_id: str, password: bytes, stored: str,
                      pending: str | None) -> tuple[bool, bool]:
        """(matched, by the pending password): the stored one first, then a pending one."""
        if await self.check(charge_point_id, password, stored):
            return True, False
        if pending is not None and await self.check(charge_point_id, password, pending):
            return True, True
        return False, False

    def _limits(self, charge_point_id: str, address: str) -> dict[str, int]:
        if (charge_point_id, address) in self._known:
            return {f"pair:{charge_point_id}@{address}": self.per_id}
        return {f"id:{charge_point_id}": self.per_id, f"ip:{address}": self.per_ip}

    async def authenticate(self, charge_point_id: str, address: str, password: bytes,
                           stored: str, pending: str | None = None) -> Verdict:
        """Check a handshake's password from ``address``, within the limits: the stored one,
        or a ``pending`` one (a rotation never answered); one attempt either way."""
        limits = self._limits(charge_point_id, address)
        wait = self.limiter.retry_after(limits)
        if wait is not None:
            self._throttled.refused("handshake of %s from %s refused for %.0f s: too many wrong "
                                    "passwords", charge_point_id, address, wait)
            return Verdict(False, wait)
        pair = f"pair:{charge_point_id}@{address}"
        with self.limiter.checking(limits):
            ok, by_pending = await self.matches(charge_point_id, password, stored, pending)
        if not ok:
            self.limiter.failed([f"id:{charge_point_id}", f"ip:{address}", pair])
            self._wrong.refused("wrong password for %s from %s", charge_point_id, address)
            return Verdict(False)
        self.limiter.forget(pair)
        self._known[(charge_point_id, address)] = None
        self._known.move_to_end((charge_point_id, address))
        while len(self._known) > KNOWN_ADDRESSES:
            self._known.popitem(last=False)
        return Verdict(True, pending=by_pending)
