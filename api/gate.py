"""Credentials before the body: the route class every router of the app uses.

FastAPI reads and parses a request's body before it runs the route's dependencies, so a bearer
check in a dependency comes after a caller without any credential has made the server hold its
whole body. :class:`GuardedRoute` looks at its own dependencies once: when one of them is marked
as needing a credential (:func:`api.auth.gated`: ``require(...)``, the charge integration's key),
the credential is checked first, and a request without a good one is refused with that
dependency's own answer (401 ``Unauthorized``, 403 ``APIKeyNotFound``, 429 ``TooManyAttempts``)
without reading a byte of its body. The dependency then finds the caller already checked. Routes
with no such dependency (the health checks, the logins, the dashboard's login page) are public
and unchanged; their bodies are bounded by :class:`api.middleware.BodyLimit` like every other.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.auth import GATE, Refusal, authenticate
from api.errors import ApiError
from api.middleware import CLOSE, has_body


def refusal_of(dependant: Dependant) -> Refusal | None:
    """The refusal of the first dependency, however deep, that needs a credential."""
    for sub in dependant.dependencies:
        found = getattr(sub.call, GATE, None) or refusal_of(sub)
        if found is not None:
            return found
    return None


# FastAPI's words for a body it could not decode at all (not UTF-8: a JSON syntax error is already
# a validation error), answered as a bare 400 in no route's dialect.
_UNDECODABLE = "There was an error parsing the body"


def parsed(handler: Callable[[Request], Coroutine[Any, Any, Response]]
           ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """``handler``, a body it cannot decode answered as a bad request in the route's own terms
    (422 ``ValidationError`` on ``body``, or the vendor's status and body), as its OpenAPI says."""

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except HTTPException as exc:
            if exc.status_code != 400 or exc.detail != _UNDECODABLE:
                raise
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "input": None,
                                           "msg": "the body is not valid JSON (not UTF-8 text)"}]) from exc

    return route


class GuardedRoute(APIRoute):
    """An APIRoute that checks its credential before FastAPI reads the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = parsed(super().get_route_handler())
        refusal = refusal_of(self.dependant)
        if refusal is None:
            return handler

        async def guarded(request: Request) -> Response:
            try:
                await authenticate(request, refusal)
            except ApiError as exc:
                if has_body(request.scope):  # unread: not worth receiving
                    exc.headers = {**(exc.headers or {}), **CLOSE}
                raise
            return await handler(request)

        return guarded
