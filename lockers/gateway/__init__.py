"""The locker gateway's (seed 004) reads and writes: lockers with their live state and service
state, rentals (the doc's "transactions"), locker and bank types, device heartbeats.

The REST routes in :mod:`api.vendor.gateway` validate a request, call these and shape the result
into the doc's JSON; every query, write and audit entry is here, scoped to what the caller may see
(:mod:`lockers.scope`), and every refusal is a :class:`lockers.errors.Refused` with the doc's code.
"""
