"""What the back office refuses, in its own words: a stable ``code`` (the vendors' spelling), a
message for a person and extra fields. The REST layer turns these into its one error answer
(:mod:`api.vendor.errors`), so a service never knows about HTTP and a route never re-spells a
refusal it did not make."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class NotFound(Refused):
    """A record the request names does not exist (or is not the caller's to see)."""


class Conflict(Refused):
    """The records as they stand forbid it (a name taken, nothing to do it to)."""


class Invalid(Refused):
    """The request is well formed but its values cannot be done (a date in the past, say)."""


class Forbidden(Refused):
    """The caller may not do this to this record (not theirs, not their role)."""


class Unavailable(Refused):
    """What it needs is not there now (a board offline, a bridge not connected): try later."""
