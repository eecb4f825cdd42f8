"""One error mechanism for every vendor API: routes raise :class:`api.errors.ApiError` (status,
stable code, message, extra fields), the back office's services raise
:class:`lockers.errors.Refused` (the same without a status: :func:`refusal` adds it), and a
vendor whose error body differs from ``{code, message}`` says how it spells one in a
:class:`VendorRoute` subclass, the small adapter of its dialect.

Why a route class and not an app-wide exception handler: the same exception must come out in the
vendor's shape on that vendor's paths only, and a request that fails validation (which FastAPI
raises before the route runs) must be answered in that shape too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from api.errors import REFUSAL_STATUS, ApiError, refusal
from api.gate import GuardedRoute
from lockers.errors import Refused

__all__ = ["REFUSAL_STATUS", "VendorRoute", "refusal", "validation_fields"]


def validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    """Each failing field, dotted from where it sits (``body.lockerId``), with why."""
    return [{"field": ".".join(str(p) for p in e["loc"]), "error": e["msg"]} for e in exc.errors()]


class VendorRoute(GuardedRoute):
    """A route that answers its errors in one vendor's dialect.

    The defaults are the API's own: ``{code, message, ...}``, a bad request 422 ``ValidationError``
    with its ``fields``. A subclass overrides :meth:`invalid` (the vendor's status and wording for
    a bad request), :meth:`render` (the vendor's body) and ``out_of_range`` (the status of a value
    the database or calendar cannot hold, None: the app's own answer).
    """

    out_of_range: ClassVar[int | None] = None
    refusal_status: ClassVar[dict[type[Refused], int]] = REFUSAL_STATUS

    def invalid(self, exc: RequestValidationError) -> ApiError:
        return ApiError(422, "ValidationError", "the request is not valid", fields=validation_fields(exc))

    def render(self, exc: ApiError) -> Response:
        return exc.response()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return self.render(exc)
            except Refused as exc:
                return self.render(refusal(exc, self.refusal_status))
            except RequestValidationError as exc:
                return self.render(self.invalid(exc))
            except OverflowError as exc:  # e.g. a date that leaves the calendar once in UTC
                if self.out_of_range is None:
                    raise
                return self.render(ApiError(self.out_of_range, "ValueOutOfRange",
                                            f"a value is out of range: {exc}"))

        return route
