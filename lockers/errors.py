"""What the back office refuses, in its own words: a stable ``code`` (the vendors' spelling), a
message for a person and extra fields. The kinds are the central system's own
(:mod:`csms.services.errors`): one family of refusals, which the REST layer turns into its one
error answer (each vendor's body by its route class, :mod:`api.vendor.errors`), so a service never
knows about HTTP and a route never re-spells a refusal it did not make."""

from __future__ import annotations

from csms.services.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from csms.services.errors import ServiceError as Refused

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "Refused", "Unavailable"]
