"""The vendor-compatible REST APIs, apart from ``/api/v1``: each answers with the paths, fields,
status codes and error bodies of the product it stands in for (docs/migrating-from-*.md), so integrations
written for that product work against chargebay unchanged.

- :mod:`api.vendor.web`: the smart-locker back office and its logins (seed 000 "Web");
- :mod:`api.vendor.cabins`: the locker boards' hex pass-through and per-cabin operations (seed 000);
- :mod:`api.vendor.chargers`: the charger simulator's runtime API (seed 001);
- :mod:`api.vendor.integration`: start and stop a charge with one call (seed 002);
- :mod:`api.vendor.smart_locks`: the smart-lock API (seed 003);
- :mod:`api.vendor.gateway`: the locker gateway (seed 004).

Every route raises :class:`api.errors.ApiError`; a vendor whose error body differs renders it
through its own route class (:mod:`api.vendor.errors`).
"""
