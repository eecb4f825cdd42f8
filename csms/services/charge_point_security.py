"""A charge point's credentials and security profile, changed over OCPP (TC_073, TC_083).

Both are ``ChangeConfiguration`` commands whose acceptance the central system follows
(:class:`~csms.services.command_effects.CommandEffects`): a new ``AuthorizationKey`` is the
password from then on; a higher ``SecurityProfile`` is the one it must connect at from its
first connect at it. This module picks the values and refuses what could only lock a charge
point out: a profile lower than its own (the whitepaper forbids going down), Basic auth without
a password, TLS profiles on a central system without TLS.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms.services.command_effects import ACCEPTED
from csms.services.commands import CommandRun, CommandService
from csms.services.errors import Conflict, Invalid, NotFound
from csms.services.shapes_201 import PASSWORD_CHARS, set_password
from csms.services.transport import Transport, reachable
from csms.store.models import ChargePoint, table
from ocppj.basic_auth import MAX_BYTES, MIN_BYTES, is_password
from ocppj.versions import V16

_CP = table(ChargePoint)
SentAs = Literal["AuthorizationKey", "BasicAuthPassword"]  # 1.6's ChangeConfiguration key, 2.0.1's variable
GENERATED_BYTES = MAX_BYTES  # a generated password: 20 random bytes, the whitepaper's most


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A profile upgrade's two commands (no Reset when the first was not accepted)."""

    profile: int
    change: CommandRun
    reset: CommandRun | None


def password_taken(run: CommandRun) -> bool:
    """Whether the charge point took the password a :meth:`ChargePointSecurity.rotate_password`
    sent (now or at its reboot): 1.6's ChangeConfiguration status, 2.0.1's attribute status."""
    answer = run.outcome.payload if run.outcome is not None and run.outcome.kind == "result" else None
    if not answer:
        return False
    if "status" in answer:
        return answer["status"] in ACCEPTED
    return any(is_password(r) and r["attributeStatus"] in ACCEPTED for r in answer.get("setVariableResult", ()))


class ChargePointSecurity:
    """Rotates passwords and raises security profiles (see the module)."""

    def __init__(self, engine: AsyncEngine, commands: CommandService,
                 transport: Callable[[], Transport]) -> None:
        self._engine = engine
        self._commands = commands
        self._transport = transport

    async def rotate_password(self, charge_point_id: str, password: str | None, requested_by: str,
                              wait: float) -> tuple[str, SentAs, CommandRun]:
        """Send ``ChangeConfiguration AuthorizationKey``: the hex form of ``password`` (16-20
        bytes as UTF-8) or of 20 random bytes; to a 2.0.1 station ``SetVariables
        SecurityCtrlr.BasicAuthPassword``, the password as it is (16-40 characters) or 40 random
        hex digits. Returns what was sent (the only time it is shown), as what (AuthorizationKey or
        BasicAuthPassword) and the command; the
        stored password changes only if the charge point accepts it."""
        if await self._commands.version(charge_point_id) is not V16:
            low, high = PASSWORD_CHARS
            if password is not None and not low <= len(password) <= high:
                raise Invalid("InvalidPassword", f"an OCPP 2.0.1 password is {low}-{high} characters "
                              f"(this one has {len(password)}); leave it out to have one generated")
            sent = password if password is not None else secrets.token_hex(high // 2)
            return sent, "BasicAuthPassword", await self._commands.run(
                charge_point_id, "SetVariables", set_password(sent), wait=wait, requested_by=requested_by)
        if password is None:
            key = secrets.token_hex(GENERATED_BYTES)
        else:
            raw = password.encode()
            if not MIN_BYTES <= len(raw) <= MAX_BYTES:
                raise Invalid("InvalidPassword", f"an OCPP 1.6 password is {MIN_BYTES}-{MAX_BYTES} "
                              f"bytes (this one has {len(raw)}); leave it out to have one generated")
            key = raw.hex()
        run = await self._commands.run(charge_point_id, "ChangeConfiguration",
                                       {"key": "AuthorizationKey", "value": key}, wait=wait,
                                       requested_by=requested_by)
        return key, "AuthorizationKey", run

    async def upgrade_profile(self, charge_point_id: str, profile: int, reset: str,
                              requested_by: str, wait: float) -> Upgrade:
        """``ChangeConfiguration SecurityProfile`` then, once accepted, a ``Reset`` so the charge
        point reconnects at it. :class:`Conflict` for a profile it could not connect at."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(_CP.c.security_profile, _CP.c.password_hash.isnot(None))
                                      .where(_CP.c.id == charge_point_id))).first()
        if row is None:
            raise NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
        current, has_password = row
        if await self._commands.version(charge_point_id) is not V16:
            raise Conflict("NotInVersion", "OCPP 2.0.1 raises a profile with a new network profile "
                           "(SetNetworkProfile, SetVariables OCPPCommCtrlr.NetworkConfigurationPriority, "
                           "Reset through the commands route); PATCH the charge point's security_profile "
                           "once it connects at the new one")
        transport = self._transport()
        if profile <= current:
            raise Conflict("SecurityProfileDowngrade", f"it is at security profile {current}: a "
                           "profile can only be raised over OCPP (PATCH the charge point to set it)")
        if profile in (1, 2) and not has_password:
            raise Conflict("PasswordRequired", f"profile {profile} is Basic auth: set a password first "
                           "(POST .../password)")
        reachable(profile, transport)
        change = await self._commands.run(charge_point_id, "ChangeConfiguration",
                                          {"key": "SecurityProfile", "value": str(profile)},
                                          wait=wait, requested_by=requested_by)
        outcome = change.outcome
        accepted = (outcome is not None and outcome.kind == "result" and outcome.payload is not None
                    and outcome.payload.get("status") in ("Accepted", "RebootRequired"))
        if not accepted:
            return Upgrade(profile, change, None)
        restart = await self._commands.run(charge_point_id, "Reset", {"type": reset}, wait=wait,
                                           requested_by=requested_by)
        return Upgrade(profile, change, restart)
