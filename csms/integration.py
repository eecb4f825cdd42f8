"""Start and stop a charge with one call (the integration of seed 002), as the central system does it.

Why a service of its own: a stop or a start is a few reads of the store, a command to the charge
point and, for a start, the StartTransaction that follows; the REST route only validates, calls
this, and spells the outcome the vendor's way. The integration's settings (its switch and source
allow-list) are one row of the central system's table beside the API's tokens
(:class:`csms.store.access.IntegrationSettings`), read here and written through the store writer
like every other write of the central system, so the REST layer never holds a table.

A refusal is an :class:`IntegrationRefused` with the vendor's stable code (``NotInTransaction``,
``ChargeboxOffline``, …); which HTTP status each code is, is the route's business.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.central import CentralSystem
from csms.outcomes import Outcome
from csms.store.access import IntegrationSettings
from csms.store.endings import occupying
from csms.store.models import ChargePoint, Transaction
from csms.timeutil import now_utc

_CP = ChargePoint.__table__
_TX = Transaction.__table__
_SETTINGS = cast(Table, IntegrationSettings.__table__)
MAX_CONNECTOR = 2**31 - 1  # OCPP connector ids are 32-bit integers


class IntegrationRefused(Exception):
    """Why a stop or start was not done: the vendor's ``code``, a message, and extra fields."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class Settings:
    """The switch and the allow-list (addresses or CIDR networks; empty: every address)."""

    enabled: bool = True
    allowed_ips: list[str] = field(default_factory=list)


def _not_ok(outcome: Outcome, chargebox: str) -> IntegrationRefused:
    if outcome.kind == "offline":
        return IntegrationRefused("ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
    if outcome.kind == "timeout":
        return IntegrationRefused("Timeout", f"chargebox {chargebox!r} did not answer in time")
    return IntegrationRefused("CallError", f"chargebox answered {outcome.error_code}: {outcome.description}")


def _refused_tag(id_tag: str, status: str, **extra: Any) -> IntegrationRefused:
    return IntegrationRefused("IdTagRejected", f"the central system answers id tag {id_tag!r} with "
                              f"{status}, not Accepted", id_tag_status=status, **extra)


class IntegrationService:
    def __init__(self, central: CentralSystem) -> None:
        self.central = central

    # -- settings --------------------------------------------------------------------------------
    async def settings(self) -> Settings:
        """The switch and allow-list as saved; never saved: on, every address allowed."""
        async with self.central.engine.connect() as conn:
            row = (await conn.execute(select(_SETTINGS).where(_SETTINGS.c.id == 1))).first()
        if row is None:
            return Settings()
        return Settings(enabled=bool(row.enabled), allowed_ips=list(orjson.loads(row.allowed_ips)))

    async def save_settings(self, settings: Settings) -> None:
        values = {"enabled": settings.enabled, "allowed_ips": orjson.dumps(settings.allowed_ips).decode(),
                  "updated_at": now_utc()}
        stmt = self.central.writer.dialect_insert(_SETTINGS).values(id=1, **values).on_conflict_do_update(
            index_elements=["id"], set_=values)

        async def upsert(conn: AsyncConnection) -> None:
            await conn.execute(stmt)

        await self.central.writer.run(upsert)

    # -- a charge --------------------------------------------------------------------------------
    async def stop(self, chargebox: str, connector: int, id_tag: str, transaction: int | None,
                   wait: float, requested_by: str) -> None:
        """RemoteStopTransaction of the transaction running on that connector, if it is the
        caller's (its id tag, and its id when given); returns once the chargebox accepted."""
        await self._checked_chargebox(chargebox, connector)
        tx = await self._running(chargebox, connector)
        if tx is None:
            raise IntegrationRefused("NotInTransaction", f"connector {connector} of {chargebox!r} "
                                     "is not in a transaction")
        if tx.id_tag != id_tag or (transaction is not None and transaction != tx.id):
            raise IntegrationRefused("WrongTransaction",
                                     "id_tag or transaction does not match the running transaction")
        if not await self.central.router.is_online(chargebox):
            raise IntegrationRefused("ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
        outcome = await self.central.commands.send(chargebox, "RemoteStopTransaction", {"transactionId": tx.id},
                                                   wait, requested_by=requested_by)
        if outcome.kind != "result":
            raise _not_ok(outcome, chargebox)
        if outcome.payload != {"status": "Accepted"}:
            raise IntegrationRefused("StopRejected", f"chargebox {chargebox!r} rejected the stop")

    async def start(self, chargebox: str, connector: int, id_tag: str, wait: float, requested_by: str) -> int:
        """RemoteStartTransaction, then wait for the StartTransaction that follows on the
        connector; its transaction id. A tag the central system would not accept is refused
        before anything reaches the chargebox; a StartTransaction answered with anything but
        Accepted is a refusal, not a charge."""
        cs = self.central
        await self._checked_chargebox(chargebox, connector)
        if not await cs.router.is_online(chargebox):
            raise IntegrationRefused("ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
        if await self._occupied(chargebox, connector):
            raise IntegrationRefused("ConnectorBusy", f"connector {connector} is already in a transaction")
        status = await cs.transactions.start_status(id_tag)
        if status != "Accepted":
            raise _refused_tag(id_tag, status)
        deadline = asyncio.get_running_loop().time() + wait
        async with cs.events.subscribe() as events:
            outcome = await cs.commands.send(chargebox, "RemoteStartTransaction",
                                             {"connectorId": connector, "idTag": id_tag},
                                             wait, requested_by=requested_by)
            if outcome.kind != "result":
                raise _not_ok(outcome, chargebox)
            if outcome.payload != {"status": "Accepted"}:
                raise IntegrationRefused("StartRejected", f"chargebox {chargebox!r} rejected the start")
            try:
                async with asyncio.timeout_at(deadline):
                    while True:
                        event = await events.get()
                        if event is None:
                            raise IntegrationRefused("ShuttingDown", "the central system is shutting down")
                        if (event["type"] == "transaction_started" and event["charge_point_id"] == chargebox
                                and event["connector_id"] == connector):
                            if event["id_tag_status"] != "Accepted":
                                raise _refused_tag(event["id_tag"], event["id_tag_status"],
                                                   transaction=event["transaction_id"])
                            return int(event["transaction_id"])
            except TimeoutError:
                raise IntegrationRefused("Timeout", "the chargebox accepted but no transaction started "
                                         f"within {wait:g} s") from None

    async def _checked_chargebox(self, chargebox: str, connector: int) -> None:
        if connector <= 0:
            raise IntegrationRefused("ConnectorNotValid", "the connector must be greater than zero")
        if connector > MAX_CONNECTOR:
            raise IntegrationRefused("ConnectorNotValid", f"no chargebox has connector {connector}")
        async with self.central.engine.connect() as conn:
            if (await conn.execute(select(_CP.c.id).where(_CP.c.id == chargebox))).first() is None:
                raise IntegrationRefused("ChargeboxNotFound", f"no chargebox {chargebox!r}")

    async def _occupied(self, chargebox: str, connector: int) -> bool:
        """Whether a transaction still holds the connector: one the chargebox forgot (it reports
        the connector free, or nothing was heard of it for the stale age) does not."""
        await self.central.writer.flush()
        async with self.central.engine.connect() as conn:
            return await occupying(conn, chargebox, connector, now_utc(),
                                   self.central.transactions.stale_after) is not None

    async def _running(self, chargebox: str, connector: int) -> Any:
        """The connector's open transaction, newest first, once every queued write is in."""
        await self.central.writer.flush()
        async with self.central.engine.connect() as conn:
            return (await conn.execute(select(_TX).where(
                _TX.c.charge_point_id == chargebox, _TX.c.connector_id == connector,
                _TX.c.stop_timestamp.is_(None)).order_by(_TX.c.id.desc()).limit(1))).first()
