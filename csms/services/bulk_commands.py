"""One command to many charge points at once: a fleet's RemoteStart, Reset or TriggerMessage.

One REST request per charge point costs each of them the whole HTTP and store round (a request,
two committed writes of its own, an answer): RemoteStart to 1,000 charge points that way took
4.5 s of a core (issue #18). Here the payload is checked once per OCPP version, the 1,000
commands are recorded in one statement, and the calls go out side by side; each charge point still
gets its own command (own id, own row, its outcome stored, settled and published as its answer
comes), exactly as if it had been sent alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from csms.outcomes import Outcome
from csms.services.commands import CommandService, Sent
from csms.services.errors import Conflict, Invalid, NotFound, ServiceError
from ocppj.versions import SERVED, Version

log = logging.getLogger(__name__)
MAX_TARGETS = 10_000  # a fleet; more is a mistake more often than a need


@dataclass(frozen=True, slots=True)
class Target:
    """What became of the command to one charge point: refused before sending (``refused``: why),
    sent and not waited for (``outcome`` None), sent and ended (``outcome``), or failed inside the
    central system (``failed``: logged)."""

    charge_point_id: str
    command_id: str | None = None
    outcome: Outcome | None = None
    refused: ServiceError | None = None
    failed: str | None = None


class BulkCommands:
    """Sends one action with one payload to many charge points, through :class:`CommandService`."""

    def __init__(self, commands: CommandService) -> None:
        self._commands = commands

    async def run(self, charge_point_ids: Sequence[str], action: str, payload: dict[str, Any], *,
                  wait: float, requested_by: str) -> list[Target]:
        """Check, record and send ``action`` to every charge point named (each once, in the order
        given); wait up to ``wait`` s for all answers (0: answer at once, the commands go on in the
        background). A charge point that is unknown, or whose version refuses the payload or the
        action, is refused on its own; the others are sent. Raises :class:`NotFound` ``UnknownAction`` (no
        version has the action) and :class:`Invalid` ``TooManyChargePoints``."""
        if not any(action in v.csms_actions for v in SERVED):
            raise NotFound("UnknownAction", f"{action!r} is not a CSMS-initiated OCPP 1.6 or 2.0.1 action")
        ids = list(dict.fromkeys(charge_point_ids))
        if len(ids) > MAX_TARGETS:
            raise Invalid("TooManyChargePoints", f"at most {MAX_TARGETS} charge points per command, "
                          f"not {len(ids)}")
        targets: dict[str, Target] = {}
        sent: list[Sent] = []
        checked: dict[str, ServiceError | None] = {}  # version -> why it refuses the payload
        for charge_point_id in ids:
            version = await self._version(charge_point_id)
            refusal = (NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
                       if version is None else self._check(checked, action, payload, version))
            if refusal is None and version is not None:
                try:
                    prepared = await self._commands.prepare(charge_point_id, action, payload, requested_by,
                                                            version)
                except ServiceError as exc:
                    refusal = exc
                else:
                    sent.append(Sent(self._commands.new_id(), charge_point_id, action, prepared, version))
            targets[charge_point_id] = Target(charge_point_id, refused=refusal)
        if sent:
            await self._commands.record_many(sent, requested_by)
        if wait == 0:
            self._commands.in_background(self._deliver(sent, self._commands.default_timeout))
            ended = [Target(s.charge_point_id, s.command_id) for s in sent]
        else:
            ended = await self._deliver(sent, wait)
        for target in ended:
            targets[target.charge_point_id] = target
        return list(targets.values())

    async def _version(self, charge_point_id: str) -> Version | None:
        """The version a command goes out in, or None for a charge point the store does not know."""
        if await self._commands.known(charge_point_id) is None:
            return None
        return await self._commands.version(charge_point_id)

    def _check(self, checked: dict[str, ServiceError | None], action: str, payload: dict[str, Any],
               version: Version) -> ServiceError | None:
        """Why ``version`` refuses the command (None: it takes it), worked out once per version."""
        if version.name not in checked:
            refusal: ServiceError | None = None
            try:
                self._commands.check_request(action, payload, version)
            except (Conflict, Invalid) as exc:
                refusal = exc
            checked[version.name] = refusal
        return checked[version.name]

    async def _deliver(self, sent: list[Sent], timeout: float) -> list[Target]:
        """Send every command side by side; each is stored, settled and published as its own answer
        comes (a charge point that answers at once is not held up by one that never does). One
        that fails inside the central system is logged and reported; the others go on."""
        async def one(s: Sent) -> Target:
            try:
                outcome = await self._commands.deliver(s.command_id, s.charge_point_id, s.action, s.payload,
                                                       timeout, s.version)
            except Exception:
                log.exception("fleet %s to %s (command %s) failed", s.action, s.charge_point_id, s.command_id)
                return Target(s.charge_point_id, s.command_id, failed="the central system failed storing or "
                              "sending this command (see its log); it may stay pending")
            return Target(s.charge_point_id, s.command_id, outcome)

        return list(await asyncio.gather(*(one(s) for s in sent)))
