"""Start and stop a charge with one call (the integration of seed 002), as the central system does it.

Why a service of its own: a stop or a start is a few reads of the store, a command to the charge
point and, for a start, the transaction that follows (1.6's StartTransaction, or 2.0.1's
TransactionEvent carrying the request's ``remoteStartId``); the REST route only validates, calls
this, and spells the outcome the vendor's way. The integration's settings (its switch and source
allow-list) are one row of the central system's table beside the API's tokens
(:class:`csms.store.access.IntegrationSettings`), read here and written through the store writer
like every other write of the central system, so the REST layer never holds a table.

A refusal is an :class:`IntegrationRefused` with the vendor's stable code (``NotInTransaction``,
``ChargeboxOffline``, …); which HTTP status each code is, is the route's business.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.central import CentralSystem
from csms.outcomes import Outcome
from csms.store.access import IntegrationSettings
from csms.store.endings import occupying
from csms.store.models import ChargePoint, EvseConnector, Transaction
from csms.store.transactions_201 import NO_TOKEN
from csms.timeutil import now_utc
from ocppj.versions import V201, Version

_CP = ChargePoint.__table__
_TX = Transaction.__table__
_EVSE = EvseConnector.__table__
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
        """Stop the transaction running on that connector (1.6 RemoteStopTransaction, 2.0.1
        RequestStopTransaction of the station's transaction id), if it is the caller's (its id
        tag, and its id when given); returns once the chargebox accepted (``wait`` 0: once it is
        checked and recorded as a command, which goes out at once; the chargebox's answer is
        stored with it as it comes)."""
        box = await self._checked_chargebox(chargebox, connector)
        tx = await self._running(chargebox, connector)
        if tx is None:
            raise IntegrationRefused("NotInTransaction", f"connector {connector} of {chargebox!r} "
                                     "is not in a transaction")
        if (tx.id_token or tx.id_tag) != id_tag or (transaction is not None and transaction != tx.id):
            raise IntegrationRefused("WrongTransaction",
                                     "id_tag or transaction does not match the running transaction")
        if not await self.central.router.is_online(chargebox):
            raise IntegrationRefused("ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
        action, payload = (("RequestStopTransaction", {"transactionId": tx.station_transaction_id})
                           if box.version is V201 else ("RemoteStopTransaction", {"transactionId": tx.id}))
        commands = self.central.commands
        if wait == 0:  # the vendor's meaning of 200: on its way to the chargebox (its answer is stored)
            # checked and recorded before the answer, as every REST command; sent in the background
            await commands.run(chargebox, action, payload, wait=0, requested_by=requested_by)
            return
        outcome = await commands.send(chargebox, action, payload, wait, requested_by=requested_by)
        if outcome.kind != "result":
            raise _not_ok(outcome, chargebox)
        if (outcome.payload or {}).get("status") != "Accepted":
            raise IntegrationRefused("StopRejected", f"chargebox {chargebox!r} rejected the stop")

    async def start(self, chargebox: str, connector: int, id_tag: str, wait: float, requested_by: str,
                    id_token_type: str = "Central") -> int:
        """Ask for a start (1.6 RemoteStartTransaction; 2.0.1 RequestStartTransaction on the EVSE
        ``connector`` with a ``remoteStartId`` of its own), then wait for the transaction that
        follows; its id. A tag the central system would not accept is refused before anything
        reaches the chargebox; a start whose token is answered with anything but Accepted is a
        refusal, not a charge."""
        cs = self.central
        box = await self._checked_chargebox(chargebox, connector)
        if not await cs.router.is_online(chargebox):
            raise IntegrationRefused("ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
        if await self._occupied(chargebox, connector):
            raise IntegrationRefused("ConnectorBusy", f"connector {connector} is already in a transaction")
        status = await cs.transactions.start_status(id_tag)
        if status != "Accepted":
            raise _refused_tag(id_tag, status)
        deadline = asyncio.get_running_loop().time() + wait
        ask = (_Request201(connector, id_tag, id_token_type, secrets.randbelow(MAX_CONNECTOR) + 1)
               if box.version is V201 else _Request16(connector, id_tag))
        async with cs.events.subscribe() as events:
            outcome = await cs.commands.send(chargebox, ask.action, ask.payload(), wait, requested_by=requested_by)
            if outcome.kind != "result":
                raise _not_ok(outcome, chargebox)
            answer = outcome.payload or {}
            if answer.get("status") != "Accepted":
                raise IntegrationRefused("StartRejected", f"chargebox {chargebox!r} rejected the start")
            if answer.get("transactionId"):  # 2.0.1: started before the request (plugged in first)
                ask.station_transaction_id = str(answer["transactionId"])
                known = await self._by_station_id(chargebox, ask.station_transaction_id)
                if known is not None:
                    return known
            try:
                async with asyncio.timeout_at(deadline):
                    while True:
                        event = await events.get()
                        if event is None:
                            raise IntegrationRefused("ShuttingDown", "the central system is shutting down")
                        if event["charge_point_id"] == chargebox and ask.follows(event):
                            if event["id_tag_status"] not in ("Accepted", None):  # None: no token yet
                                raise _refused_tag(event["id_tag"], event["id_tag_status"],
                                                   transaction=event["transaction_id"])
                            return int(event["transaction_id"])
            except TimeoutError:
                raise IntegrationRefused("Timeout", "the chargebox accepted but no transaction started "
                                         f"within {wait:g} s") from None

    async def _checked_chargebox(self, chargebox: str, connector: int) -> _Chargebox:
        """The chargebox's version, once it is known to exist and to have the connector (for a
        2.0.1 station that reported its EVSEs: one of them)."""
        if connector <= 0:
            raise IntegrationRefused("ConnectorNotValid", "the connector must be greater than zero")
        if connector > MAX_CONNECTOR:
            raise IntegrationRefused("ConnectorNotValid", f"no chargebox has connector {connector}")
        async with self.central.engine.connect() as conn:
            if (await conn.execute(select(_CP.c.id).where(_CP.c.id == chargebox))).first() is None:
                raise IntegrationRefused("ChargeboxNotFound", f"no chargebox {chargebox!r}")
            version = await self.central.commands.version(chargebox)
            if version is V201:
                evses = set((await conn.execute(select(_EVSE.c.evse_id).where(
                    _EVSE.c.charge_point_id == chargebox))).scalars())
                if evses and connector not in evses:
                    raise IntegrationRefused("ConnectorNotValid", f"chargebox {chargebox!r} has no EVSE "
                                             f"{connector} (it reported {sorted(evses)})")
        return _Chargebox(version)

    async def _occupied(self, chargebox: str, connector: int) -> bool:
        """Whether a transaction still holds the connector: one the chargebox forgot (it reports
        the connector free, or nothing was heard of it for the stale age) does not, nor does a
        2.0.1 transaction that started at plug-in and waits for a token (the start gives it one)."""
        await self.central.writer.flush()
        async with self.central.engine.connect() as conn:
            row = await occupying(conn, chargebox, connector, now_utc(), self.central.transactions.stale_after)
        return row is not None and row.id_tag_status != NO_TOKEN

    async def _running(self, chargebox: str, connector: int) -> Any:
        """The connector's open transaction, newest first, once every queued write is in."""
        await self.central.writer.flush()
        async with self.central.engine.connect() as conn:
            return (await conn.execute(select(_TX).where(
                _TX.c.charge_point_id == chargebox, _TX.c.connector_id == connector,
                _TX.c.stop_timestamp.is_(None)).order_by(_TX.c.id.desc()).limit(1))).first()

    async def _by_station_id(self, chargebox: str, station_transaction_id: str) -> int | None:
        """Our id of a 2.0.1 transaction the station named, once every queued write is in."""
        await self.central.writer.flush()
        async with self.central.engine.connect() as conn:
            return (await conn.execute(select(_TX.c.id).where(
                _TX.c.charge_point_id == chargebox,
                _TX.c.station_transaction_id == station_transaction_id))).scalar()


@dataclass(frozen=True, slots=True)
class _Chargebox:
    version: Version


@dataclass(slots=True)
class _Request16:
    """A 1.6 remote start, and the StartTransaction that answers it: the next on its connector."""

    connector: int
    id_tag: str
    action: str = "RemoteStartTransaction"
    station_transaction_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"connectorId": self.connector, "idTag": self.id_tag}

    def follows(self, event: dict[str, Any]) -> bool:
        return bool(event["type"] == "transaction_started" and event["connector_id"] == self.connector)


@dataclass(slots=True)
class _Request201:
    """A 2.0.1 RequestStartTransaction, and the transaction that answers it: the one whose events
    carry its ``remoteStartId`` (a Started, or the Updated that brings the token to a transaction
    the station started at plug-in), or the one the station named in its answer. A station that
    leaves the id out is matched as 1.6's are: the next start on the EVSE with the token."""

    evse: int
    id_tag: str
    token_type: str
    remote_start_id: int
    action: str = "RequestStartTransaction"
    station_transaction_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"idToken": {"idToken": self.id_tag, "type": self.token_type},
                "remoteStartId": self.remote_start_id, "evseId": self.evse}

    def follows(self, event: dict[str, Any]) -> bool:
        if event["type"] not in ("transaction_started", "transaction_authorized"):
            return False
        if event.get("remote_start_id") == self.remote_start_id:
            return True
        if self.station_transaction_id is not None and event.get("station_transaction_id") == \
                self.station_transaction_id:
            return True
        return bool(event.get("remote_start_id") is None and event["connector_id"] == self.evse
                and event["id_tag"] == self.id_tag)
