"""How a service refuses a request, without knowing it came over HTTP.

A refusal carries a stable ``code`` (the REST API's error code), a message for a person and any
extra fields its answer carries; its class says which kind of refusal it is. The REST layer maps
the kinds to statuses in one place (:func:`api.errors.install`), so every route answers a missing
record 404 and a taken name 409 without a try/except of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError as DatabaseError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from csms.store.writer import Writer

T = TypeVar("T")

__all__ = ["Conflict", "DatabaseError", "Forbidden", "Invalid", "NotFound", "ServiceError", "Unavailable",
           "in_writer_order", "out_of_range"]


class ServiceError(Exception):
    """A request the central system refuses; subclasses say why."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class NotFound(ServiceError):
    """The record named does not exist."""


class Conflict(ServiceError):
    """The record exists already, or is in a state that does not allow the change."""


class Invalid(ServiceError):
    """The request names something the central system cannot accept (a bad id, a payload that
    breaks the OCPP schema)."""


class Forbidden(ServiceError):
    """The caller may not do this to this record (not theirs, not their role)."""


class Unavailable(ServiceError):
    """What it needs is not there now (a board offline, a bridge not connected): try later."""


def out_of_range(exc: DatabaseError) -> BaseException | None:
    """The cause when the database refused a value as out of range: PostgreSQL refuses what
    SQLite's driver raises OverflowError for (an integer beyond BIGINT, say) as a data exception
    (SQLSTATE class 22), the caller's input and not our fault. None for any other failure."""
    cause = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ else exc.orig
    return cause if isinstance(cause, asyncpg.exceptions.DataError) else None


async def in_writer_order(writer: Writer, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``op`` (checks, then writes) in the writer's order. A refusal comes back as a value and
    is raised here: raised through the writer it would fail the batch it is in and be logged as a
    dropped write, though nothing was wrong but the request."""
    async def guarded(conn: AsyncConnection) -> T | ServiceError:
        try:
            return await op(conn)
        except ServiceError as exc:
            return exc

    found = await writer.run(guarded)
    if isinstance(found, ServiceError):
        raise found
    return found
