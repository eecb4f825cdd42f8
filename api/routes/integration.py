"""Start and stop a charge with one call, with the paths and error codes of the vendor doc
(seed 002: ``POST /integration/charges/stop``, also under ``/latest``), and the admin settings of
that integration (switch and source-IP allow-list)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from api.auth import Caller, Refusal, authenticate, client_ip, gated, require
from api.deps import central
from api.errors import ApiError
from api.gate import GuardedRoute
from csms.store.access import IntegrationSettings
from common.proxies import parse_address
from csms.central import CentralSystem
from csms.outcomes import Outcome
from csms.store.models import ChargePoint, Transaction
from csms.timeutil import now_utc

router = APIRouter(tags=["integration"], route_class=GuardedRoute)
_SETTINGS = IntegrationSettings.__table__
_CP = ChargePoint.__table__
_TX = Transaction.__table__
INTEGRATION_ROLES = {"integrator", "operator", "admin"}
MAX_CONNECTOR = 2**31 - 1  # OCPP connector ids are 32-bit integers


class IntegrationConfig(BaseModel):
    enabled: bool = True
    allowed_ips: list[str] = Field(default_factory=list, description=(
        "Source addresses or CIDR networks allowed to call the integration; empty allows all."))

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(v, strict=False)) for v in value]

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"enabled": True, "allowed_ips": ["127.0.0.1", "10.0.0.0/8"]}]})


class StopCharge(BaseModel):
    chargebox: str = Field(description="The unique chargebox identifier.")
    connector: int = Field(description="The connector where the charge runs.")
    id_tag: str = Field(description="The identifier that the chargebox used to start the transaction.")
    transaction: int | None = Field(None, description="The transaction id (optional).")

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"chargebox": "CP-0001", "connector": 1, "id_tag": "TAG-1", "transaction": 42}]})


class StartCharge(BaseModel):
    chargebox: str
    connector: int
    id_tag: str

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"chargebox": "CP-0001", "connector": 1, "id_tag": "TAG-1"}]})


async def load_config(cs: CentralSystem) -> IntegrationConfig:
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(_SETTINGS).where(_SETTINGS.c.id == 1))).first()
    if row is None:
        return IntegrationConfig()
    return IntegrationConfig(enabled=row.enabled, allowed_ips=orjson.loads(row.allowed_ips))


_NO_KEY = "an integration API key is required (Authorization: Bearer <key> or X-API-Key: <key>)"
API_KEY_NOT_FOUND = Refusal(403, "APIKeyNotFound", _NO_KEY, _NO_KEY)


@gated(API_KEY_NOT_FOUND)
async def integration_caller(request: Request, cs: CentralSystem = Depends(central)) -> Caller:
    """The vendor's checks, in its order: key, switch, source address (the client's, as
    trusted proxies forward it: api.middleware)."""
    caller = await authenticate(request, API_KEY_NOT_FOUND)
    if caller.role not in INTEGRATION_ROLES:
        raise ApiError(403, "APIKeyNotFound", _NO_KEY)
    config = await load_config(cs)
    if not config.enabled:
        raise ApiError(403, "RestAPINotEnabled", "the REST API integration is switched off")
    if config.allowed_ips:
        source = parse_address(client_ip(request))
        if source is None or not any(source in ipaddress.ip_network(net) for net in config.allowed_ips):
            raise ApiError(403, "InvalidSourceIPAddr", f"requests from {client_ip(request)} are not allowed")
    return caller


async def _checked_chargebox(cs: CentralSystem, chargebox: str, connector: int) -> None:
    if connector <= 0:
        raise ApiError(400, "ConnectorNotValid", "the connector must be greater than zero")
    if connector > MAX_CONNECTOR:
        raise ApiError(400, "ConnectorNotValid", f"no chargebox has connector {connector}")
    async with cs.engine.connect() as conn:
        if (await conn.execute(select(_CP.c.id).where(_CP.c.id == chargebox))).first() is None:
            raise ApiError(404, "ChargeboxNotFound", f"no chargebox {chargebox!r}")


async def _running(cs: CentralSystem, chargebox: str, connector: int) -> Any:
    await cs.writer.flush()
    async with cs.engine.connect() as conn:
        return (await conn.execute(select(_TX).where(
            _TX.c.charge_point_id == chargebox, _TX.c.connector_id == connector,
            _TX.c.stop_timestamp.is_(None)).order_by(_TX.c.id.desc()).limit(1))).first()


def _not_ok(outcome: Outcome, chargebox: str) -> ApiError:
    if outcome.kind == "offline":
        return ApiError(409, "ChargeboxOffline", f"chargebox {chargebox!r} is not connected")
    if outcome.kind == "timeout":
        return ApiError(504, "Timeout", f"chargebox {chargebox!r} did not answer in time")
    return ApiError(502, "CallError", f"chargebox answered {outcome.error_code}: {outcome.description}")


WAIT = Query(30, gt=0, le=300, description="Seconds to wait for the chargebox.")


@router.post("/integration/charges/stop", summary="Stop a charge (RemoteStopTransaction)",
             response_class=Response, responses={200: {"description": "Sent and accepted; empty body"}})
@router.post("/latest/integration/charges/stop", include_in_schema=False, response_class=Response)
async def stop_charge(body: StopCharge, wait: float = WAIT, caller: Caller = Depends(integration_caller),
                      cs: CentralSystem = Depends(central)) -> Response:
    await _checked_chargebox(cs, body.chargebox, body.connector)
    tx = await _running(cs, body.chargebox, body.connector)
    if tx is None:
        raise ApiError(400, "NotInTransaction", f"connector {body.connector} of {body.chargebox!r} "
                       "is not in a transaction")
    if tx.id_tag != body.id_tag or (body.transaction is not None and body.transaction != tx.id):
        raise ApiError(400, "WrongTransaction", "id_tag or transaction does not match the running transaction")
    if not await cs.router.is_online(body.chargebox):
        raise ApiError(409, "ChargeboxOffline", f"chargebox {body.chargebox!r} is not connected")
    outcome = await cs.commands.send(body.chargebox, "RemoteStopTransaction", {"transactionId": tx.id},
                                     wait, requested_by=caller.name)
    if outcome.kind != "result":
        raise _not_ok(outcome, body.chargebox)
    if outcome.payload != {"status": "Accepted"}:
        raise ApiError(409, "StopRejected", f"chargebox {body.chargebox!r} rejected the stop")
    return Response(status_code=200)


def _refused_tag(id_tag: str, status: str, **extra: Any) -> ApiError:
    return ApiError(409, "IdTagRejected", f"the central system answers id tag {id_tag!r} with "
                    f"{status}, not Accepted", id_tag_status=status, **extra)


@router.post("/integration/charges/start", summary="Start a charge and get its transaction id",
             responses={200: {"content": {"application/json": {"example": {"transaction": 42}}}},
                        409: {"description": "`IdTagRejected` (with the tag's `id_tag_status`; checked "
                              "before anything is sent, and again in the StartTransaction), "
                              "`ChargeboxOffline`, `ConnectorBusy`, `StartRejected`"}})
@router.post("/latest/integration/charges/start", include_in_schema=False)
async def start_charge(body: StartCharge, wait: float = WAIT, caller: Caller = Depends(integration_caller),
                       cs: CentralSystem = Depends(central)) -> dict[str, int]:
    """Sends RemoteStartTransaction and waits for the StartTransaction that follows on the
    connector. A tag the central system would not accept is refused before anything reaches the
    chargebox; a StartTransaction answered with anything but Accepted is a 409, not a charge."""
    await _checked_chargebox(cs, body.chargebox, body.connector)
    if not await cs.router.is_online(body.chargebox):
        raise ApiError(409, "ChargeboxOffline", f"chargebox {body.chargebox!r} is not connected")
    if await _running(cs, body.chargebox, body.connector) is not None:
        raise ApiError(409, "ConnectorBusy", f"connector {body.connector} is already in a transaction")
    status = await cs.transactions.start_status(body.id_tag)
    if status != "Accepted":
        raise _refused_tag(body.id_tag, status)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with cs.events.subscribe() as events:
        outcome = await cs.commands.send(body.chargebox, "RemoteStartTransaction",
                                         {"connectorId": body.connector, "idTag": body.id_tag},
                                         wait, requested_by=caller.name)
        if outcome.kind != "result":
            raise _not_ok(outcome, body.chargebox)
        if outcome.payload != {"status": "Accepted"}:
            raise ApiError(409, "StartRejected", f"chargebox {body.chargebox!r} rejected the start")
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    event = await events.get()
                    if event is None:
                        raise ApiError(503, "ShuttingDown", "the central system is shutting down")
                    if (event["type"] == "transaction_started"
                            and event["charge_point_id"] == body.chargebox
                            and event["connector_id"] == body.connector):
                        if event["id_tag_status"] != "Accepted":
                            raise _refused_tag(event["id_tag"], event["id_tag_status"],
                                               transaction=event["transaction_id"])
                        return {"transaction": event["transaction_id"]}
        except TimeoutError:
            raise ApiError(504, "Timeout", "the chargebox accepted but no transaction started "
                           f"within {wait:g} s") from None


@router.get("/api/v1/integration", summary="Integration settings",
            dependencies=[Depends(require("admin"))])
async def get_integration(cs: CentralSystem = Depends(central)) -> IntegrationConfig:
    return await load_config(cs)


@router.put("/api/v1/integration", summary="Change integration settings",
            dependencies=[Depends(require("admin"))])
async def put_integration(body: IntegrationConfig, cs: CentralSystem = Depends(central)) -> IntegrationConfig:
    values = {"enabled": body.enabled, "allowed_ips": orjson.dumps(body.allowed_ips).decode(),
              "updated_at": now_utc()}
    stmt = cs.writer.dialect_insert(_SETTINGS).values(id=1, **values).on_conflict_do_update(
        index_elements=["id"], set_=values)
    async with cs.engine.begin() as conn:
        await conn.execute(stmt)
    return body


