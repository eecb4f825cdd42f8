"""Start and stop a charge with one call, with the paths and error codes of the vendor doc
(seed 002: ``POST /integration/charges/stop``, also under ``/latest``), and the admin settings of
that integration (switch and source-IP allow-list)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import Bearer, Caller, Refusal, authenticate, client_ip, gated, require
from api.deps import central
from api.errors import AUTH_ERRORS, ApiError, declare
from api.gate import GuardedRoute
from common.proxies import parse_address
from csms.central import CentralSystem
from csms.integration import IntegrationRefused, IntegrationService, Settings

router = APIRouter(tags=["integration"], route_class=GuardedRoute)
INTEGRATION_ROLES = {"integrator", "operator", "admin"}


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
    transaction: int | None = Field(None, description=(
        "The transaction id (optional; 0, the vendor schema's default, counts as left out)."))

    @field_validator("transaction")
    @classmethod
    def _zero_is_absent(cls, value: int | None) -> int | None:
        return None if value == 0 else value

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"chargebox": "CP-0001", "connector": 1, "id_tag": "TAG-1", "transaction": 42}]})


class StartedCharge(BaseModel):
    transaction: int = Field(description="The id of the transaction the chargebox started.")


class StartCharge(BaseModel):
    chargebox: str
    connector: int = Field(description="The connector (of an OCPP 2.0.1 station: the EVSE id).")
    id_tag: str
    id_token_type: Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress",
                           "NoAuthorization"] = Field("Central", description=(
        "OCPP 2.0.1 stations only: the id token's type in RequestStartTransaction."))

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"chargebox": "CP-0001", "connector": 1, "id_tag": "TAG-1"}]})


async def integration(cs: Annotated[CentralSystem, Depends(central)]) -> IntegrationService:
    return IntegrationService(cs)


Service = Annotated[IntegrationService, Depends(integration)]

# The HTTP status of each refusal the service names (the vendor doc's, seed 002).
STATUS = {"ConnectorNotValid": 400, "NotInTransaction": 400, "WrongTransaction": 400,
          "ChargeboxNotFound": 404, "ChargeboxOffline": 409, "ConnectorBusy": 409,
          "IdTagRejected": 409, "StartRejected": 409, "StopRejected": 409, "CallError": 502,
          "ShuttingDown": 503, "Timeout": 504}


def refused(exc: IntegrationRefused) -> ApiError:
    """The vendor's table puts the error's name under "Message": ``message`` holds the name (as
    ``code`` does, so a client reading either finds it) and ``description`` the sentence."""
    return vendor_error(STATUS[exc.code], exc.code, exc.message, **exc.extra)


def vendor_error(status: int, code: str, sentence: str, **extra: Any) -> ApiError:
    return ApiError(status, code, code, description=sentence, **extra)


async def load_config(service: IntegrationService) -> IntegrationConfig:
    settings = await service.settings()
    return IntegrationConfig(enabled=settings.enabled, allowed_ips=settings.allowed_ips)


_NO_KEY = "an integration API key is required (Authorization: Bearer <key> or X-API-Key: <key>)"
API_KEY_NOT_FOUND = Refusal(403, "APIKeyNotFound", _NO_KEY, _NO_KEY, named=True)


# The key as the vendor's clients send it: declared so that OpenAPI (and "Try it" in /docs) knows
# the integration calls need it, either header (issue #20)
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An integration key (role integrator, operator or admin).")


@gated(API_KEY_NOT_FOUND)
async def integration_caller(request: Request, service: Service, _bearer: Bearer,
                             _key: Annotated[str | None, Depends(API_KEY_HEADER)]) -> Caller:
    """The vendor's checks, in its order: key, switch, source address (the client's, as
    trusted proxies forward it: api.middleware)."""
    caller = await authenticate(request, API_KEY_NOT_FOUND)
    if caller.role not in INTEGRATION_ROLES:  # a valid key, of a role that may not call it
        raise vendor_error(403, "APIKeyNotFound", f"this key's role is {caller.role!r}: the integration "
                           f"takes a key with role {', '.join(sorted(INTEGRATION_ROLES))}", role=caller.role)
    config = await load_config(service)
    if not config.enabled:
        raise vendor_error(403, "RestAPINotEnabled", "the REST API integration is switched off")
    if config.allowed_ips:
        source = parse_address(client_ip(request))
        if source is None or not any(source in ipaddress.ip_network(net) for net in config.allowed_ips):
            raise vendor_error(403, "InvalidSourceIPAddr", f"requests from {client_ip(request)} are not allowed")
    return caller


# The errors each call answers, in the vendor's codes (the key checks first, then the service's).
_KEY_ERRORS = {403: "`APIKeyNotFound`: no key, an unknown one, or one whose role may not call the "
               "integration; `RestAPINotEnabled`: switched off; `InvalidSourceIPAddr`: the source "
               "address is not allowed", 429: AUTH_ERRORS[429]}
_CHARGE_ERRORS = {400: "`ConnectorNotValid`", 404: "`ChargeboxNotFound`",
                  502: "`CallError`: the chargebox answered an error", 504: "`Timeout`"}
STOP_ERRORS = declare({**_KEY_ERRORS, **_CHARGE_ERRORS,
                       400: "`ConnectorNotValid`, `NotInTransaction`, `WrongTransaction`",
                       409: "`ChargeboxOffline`, `StopRejected`"}, auth=False)
START_ERRORS = declare({**_KEY_ERRORS, **_CHARGE_ERRORS,
                        409: "`IdTagRejected` (with the tag's `id_tag_status`; checked before anything "
                        "is sent, and again in the StartTransaction), `ChargeboxOffline`, "
                        "`ConnectorBusy`, `StartRejected`",
                        503: "`ShuttingDown`: the central system stopped while waiting",
                        504: "`Timeout`: no answer, or no StartTransaction in time"}, auth=False)

Wait = Annotated[float, Query(gt=0, le=300, description="Seconds to wait for the chargebox.")]
StopWait = Annotated[float, Query(ge=0, le=300, description=(
    "Seconds to wait for the chargebox's answer (then 200 means it accepted; 409/502/504 say how "
    "it did not). 0: the vendor's meaning, 200 once checked and recorded as a command, which goes "
    "out to the chargebox at once (its answer is stored with it: `GET /api/v1/commands?charge_point_id=`)."))]


@router.post("/integration/charges/stop",
             summary="Stop a charge (RemoteStopTransaction; 2.0.1: RequestStopTransaction)",
             response_class=Response,
             responses={200: {"description": "Accepted by the chargebox (`wait=0`: recorded and on its way); "
                                              "empty body"}, **STOP_ERRORS})
@router.post("/latest/integration/charges/stop", include_in_schema=False, response_class=Response)
async def stop_charge(*, body: StopCharge, wait: StopWait = 30, caller: Annotated[Caller, Depends(integration_caller)],
                      service: Service) -> Response:
    try:
        await service.stop(body.chargebox, body.connector, body.id_tag, body.transaction, wait, caller.name)
    except IntegrationRefused as exc:
        raise refused(exc) from None
    return Response(status_code=200)


@router.post("/integration/charges/start", summary="Start a charge and get its transaction id",
             responses={200: {"content": {"application/json": {"example": {"transaction": 42}}}},
                        **START_ERRORS})
@router.post("/latest/integration/charges/start", include_in_schema=False)
async def start_charge(*, body: StartCharge, wait: Wait = 30, caller: Annotated[Caller, Depends(integration_caller)],
                       service: Service) -> StartedCharge:
    """Sends RemoteStartTransaction and waits for the StartTransaction that follows on the
    connector (an OCPP 2.0.1 station: RequestStartTransaction, and the TransactionEvent that
    carries its remoteStartId). A tag the central system would not accept is refused before anything reaches the
    chargebox; a StartTransaction answered with anything but Accepted is a 409, not a charge."""
    try:
        return StartedCharge(transaction=await service.start(body.chargebox, body.connector, body.id_tag,
                                                             wait, caller.name, body.id_token_type))
    except IntegrationRefused as exc:
        raise refused(exc) from None


@router.get("/api/v1/integration", summary="Integration settings",
            dependencies=[Depends(require("admin"))], responses=declare({}))
async def get_integration(service: Service) -> IntegrationConfig:
    return await load_config(service)


@router.put("/api/v1/integration", summary="Change integration settings",
            dependencies=[Depends(require("admin"))], responses=declare({}))
async def put_integration(body: IntegrationConfig, service: Service) -> IntegrationConfig:
    await service.save_settings(Settings(enabled=body.enabled, allowed_ips=body.allowed_ips))
    return body
