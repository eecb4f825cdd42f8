"""Every error body is ``{"code": "<StableCode>", "message": "<text for a person>"}``.

A service of the central system refuses with a :class:`csms.services.errors.ServiceError`; its
kind is answered here as one status for every route (missing 404, conflict 409, invalid 422), so
routes do not catch them. :func:`declare` writes the errors a route really answers into OpenAPI.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.outbound import OutboundRefused
from csms.services.errors import (
    Conflict,
    DatabaseError,
    Forbidden,
    Invalid,
    NotFound,
    ServiceError,
    Unavailable,
    out_of_range,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise from a route to answer ``status`` with a stable ``code``."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "message": self.message, **self.extra},
                            status_code=self.status, headers=self.headers)


# The status of each kind of refusal a service makes (the central system's and the back office's
# are one family); a vendor that spells one with another status says so in its route class
# (``api.vendor.errors.VendorRoute.refusal_status``).
REFUSAL_STATUS: dict[type[ServiceError], int] = {NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403,
                                                 Unavailable: 503}


def refusal(exc: ServiceError, statuses: dict[type[ServiceError], int] | None = None) -> ApiError:
    """A service's refusal as the REST API answers it (by ``statuses`` first, if given)."""
    for table in (statuses or {}, REFUSAL_STATUS):
        status = next((code for kind, code in table.items() if isinstance(exc, kind)), None)
        if status is not None:
            return ApiError(status, exc.code, exc.message, **exc.extra)
    return ApiError(409, exc.code, exc.message, **exc.extra)



class ErrorBody(BaseModel):
    """An error: a stable ``code`` to act on, a ``message`` for a person; some codes add fields."""

    code: str
    message: str

    model_config = ConfigDict(extra="allow")


class ValidationErrorBody(ErrorBody):
    """422 `ValidationError`: the request does not match its schema; ``fields`` says where
    (``field``, ``error``)."""

    fields: list[dict[str, str]] | None = None


VALIDATION = "`ValidationError`: the request does not match its schema (`fields` says where)"
# Every route that needs a token answers these (api.auth, api.gate).
AUTH_ERRORS = {401: "`Unauthorized`: no token, or an unknown, expired or revoked one",
               403: "`Forbidden`: the token's role may not do this; `CsrfCheckFailed`",
               429: "`TooManyAttempts`: too many unknown tokens from this address"}


@functools.cache
def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """An answer's JSON schema, written into each route's ``responses`` as it is: a ``model``
    there would make FastAPI build a validator per route and status (hundreds at import, for
    answers it never validates: errors are raised, not returned). Nested models are written in
    place: pydantic puts them under a local ``$defs`` whose ``#/$defs/…`` references do not
    resolve inside an OpenAPI document (ReDoc refused the whole spec over one)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return {"application/json": {"schema": _inlined(schema, defs)}}


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


def declare(errors: dict[int, str], *, auth: bool = True) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for the errors it answers (status -> the codes, in words):
    these, the token errors unless ``auth`` is false, and 422 `ValidationError` (a request that
    does not match the route's schema), in the body format of this module."""
    found = {**(AUTH_ERRORS if auth else {}), **errors}
    found[422] = "; ".join(filter(None, (errors.get(422), VALIDATION)))
    return {status: {"description": text,
                     "content": body_schema(ValidationErrorBody if status == 422 else ErrorBody)}
            for status, text in sorted(found.items())}


def refused(exc: OutboundRefused) -> ApiError:
    """A URL the server will not connect to (a callback, a simulated charger's csms_url):
    422 ``InvalidUrl`` or ``AddressNotAllowed``, naming the field; one mapping for every route."""
    return ApiError(422, exc.code, str(exc), field=exc.field)


def too_many_attempts(wait: float, what: str) -> ApiError:
    """429 ``TooManyAttempts``: ``what`` failed too often; ``Retry-After`` (and ``retryAfter`` in
    the body) say when the oldest failure that counts leaves the window."""
    seconds = max(1, math.ceil(wait))
    return ApiError(429, "TooManyAttempts", f"too many {what}; try again in {seconds} s",
                    headers={"Retry-After": str(seconds)}, retryAfter=seconds)


_HTTP_CODES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
               413: "PayloadTooLarge"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return await _api_error(request, refusal(exc))

    @app.exception_handler(OutboundRefused)
    async def _refused(request: Request, exc: OutboundRefused) -> JSONResponse:
        return await _api_error(request, refused(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]}
                  for e in exc.errors()]
        return JSONResponse({"code": "ValidationError", "message": "the request is not valid",
                             "fields": fields}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # A number or date the database (or the calendar, once in UTC) cannot hold.
        return JSONResponse({"code": "ValueOutOfRange", "message": f"a value is out of range: {exc}"},
                            status_code=422)

    @app.exception_handler(DatabaseError)
    async def _database(request: Request, exc: DatabaseError) -> JSONResponse:
        cause = out_of_range(exc)  # the caller's input (PostgreSQL's data exceptions), not our fault
        if cause is not None:
            return JSONResponse({"code": "ValueOutOfRange", "message": f"a value is out of range: {cause}"},
                                status_code=422)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"code": "InternalServerError",
                             "message": "something unexpected went wrong; it has been logged"},
                            status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"code": _HTTP_CODES.get(exc.status_code, "HttpError"),
                             "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
