"""Every error body is ``{"code": "<StableCode>", "message": "<text for a person>"}``."""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.outbound import OutboundRefused


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

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # PostgreSQL refuses what SQLite's driver raises OverflowError for (an integer beyond
        # BIGINT, say) as a data exception (SQLSTATE class 22): the caller's input, not our fault
        cause = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ else exc.orig
        if isinstance(cause, asyncpg.exceptions.DataError):
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
